"""The organization's settings: one place that checks and saves them, for the page and the CLI.

Each field has one rule here; the settings forms call the same checks, so a value the page
refuses is refused on the command line too, and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Member, Organization, Position
from . import audit
from .accounts import organization_name
from .addresses import check_address
from .languages import display_name, org_language, primary
from .text import check_single_line, single_line_problem
from .translations import LANGUAGE_TAG, language_key

RATE_MIN, RATE_MAX = 1, 10_000
RETENTION_MIN, RETENTION_MAX = 1, 120

# In the order of the settings pages (retention is on the audit settings page).
FIELDS = ("name", "address", "sender_name", "sender_title", "sender_email", "reply_to",
          "bounce_domain", "timezone", "locale", "send_rate_per_minute", "retention_months",
          "webhooks_allow_private")

# Not a column of its own: {"fr": "..."}, changed a language at a time (see below).
TITLES_IN = "sender_title_in"

LABELS = {
    "name": "organization name", "address": "postal address", "sender_name": "sender name",
    "sender_title": "sender title", "sender_email": "sender email address",
    "reply_to": "reply-to address", "bounce_domain": "bounce domain",
    "timezone": "time zone", "locale": "locale", "send_rate_per_minute": "send rate",
    "retention_months": "retention period",
    "webhooks_allow_private": "private webhook targets setting",
}


class SettingError(RecruiterError):
    """A setting was refused; ``field`` names it, so a form can show the message beside it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_timezone(value: str) -> str:
    """The IANA time zone name, stripped, or a RecruiterError."""
    value = (value or "").strip()
    if value not in available_timezones():
        raise RecruiterError(f"The time zone {value!r} is unknown: use an IANA name such as "
                             "America/Vancouver or Europe/Berlin.")
    return value


def check_locale(value: str) -> str:
    """The locale code, stripped, or a RecruiterError."""
    value = (value or "").strip()
    try:
        Locale.parse(value)
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise RecruiterError(f"The locale {value!r} is unknown: use a code such as en_CA, "
                             "en_GB or fr_CA.") from exc
    return value


def _locale(value: Any) -> str:
    if len(str(value or "").strip()) > 16:
        raise RecruiterError("The locale is longer than 16 characters.")
    return check_locale(str(value or ""))


def _whole(value: Any, field: str, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RecruiterError(f"The {field} must be a whole number.")
    try:
        number = int(value)
    except ValueError as exc:
        raise RecruiterError(f"The {field} must be a whole number, not {value!r}.") from exc
    if not low <= number <= high:
        raise RecruiterError(f"The {field} must be between {low} and {high} {unit}; "
                             f"{number} is not.")
    return number


def check_send_rate(value: Any) -> int:
    """Emails per minute within the bounds the page allows, or a RecruiterError."""
    return _whole(value, "send rate", RATE_MIN, RATE_MAX, "emails per minute")


def check_retention(value: Any) -> int:
    """Retention months within the bounds the page allows, or a RecruiterError."""
    return _whole(value, "retention period", RETENTION_MIN, RETENTION_MAX, "months")


def _text(field: str, limit: int, *, required: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        value = check_single_line(str(value or "").strip(), f"{LABELS[field]}")
        if required and not value:
            raise RecruiterError(f"The {LABELS[field]} is required.")
        if len(value) > limit:
            raise RecruiterError(f"The {LABELS[field]} is longer than {limit} characters.")
        return value
    return check


def check_flag(value: Any) -> bool:
    """A yes/no setting: a bool, or true/false, yes/no, on/off, 1/0 as typed on a command line."""
    if isinstance(value, bool):
        return value
    word = str(value or "").strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise RecruiterError(f"The value {value!r} is not true or false.")


def _address(value: Any) -> str:
    lines = [line.rstrip() for line in str(value or "").strip().splitlines()]
    for line in lines:
        problem = single_line_problem(line)
        if problem:  # line breaks are split above; this is a control or direction character
            raise RecruiterError(f"A line of the postal address {problem}.")
    address = "\n".join(lines)
    if len(address) > 1000:
        raise RecruiterError("The postal address is longer than 1000 characters.")
    return address


def _email(field: str, *, required: bool) -> Callable[[Any], str]:
    """The check of one email address setting, named by its label in every message."""
    return lambda value: check_address(value, LABELS[field], required=required)


def reply_address(org: Organization, position: Position | None = None) -> str:
    """Where replies to a letter go: the position's reply-to, the organization's, the sender's."""
    own = (position.reply_to or "").strip() if position is not None else ""
    return own or (org.reply_to or "").strip() or org.sender_email


def _domain_reason(message: str) -> str:
    """email_validator's reason about an address's domain, said of a domain alone."""
    if "should have a period" in message:
        return "it needs a dot, as in bounces.example.com"
    if "so many characters" in message:
        return "a part between dots is longer than 63 characters"
    for said, meant in (("The part", "it"), ("An email address", "a domain name"),
                        ("immediately after the @-sign", "at its start"),
                        (" after the @-sign", ""), ("with email", "for mail")):
        message = message.replace(said, meant)
    return message[:1].lower() + message[1:].rstrip(".")


def check_bounce_domain(value: Any) -> str:
    """A domain for VERP envelope senders, lower-case, IDNs as xn--; "" turns VERP off."""
    value = str(value or "").strip().rstrip(".").lower()
    if not value:
        return value
    if "://" in value or "@" in value or "/" in value or ":" in value:
        raise RecruiterError(f"The bounce domain {value!r} is not a domain name: give the name "
                             "alone, such as bounces.example.com, without https://, an @ "
                             "or a path.")
    if len(value) > 253:
        raise RecruiterError("The bounce domain is longer than 253 characters.")
    try:  # the domain rules of an email address's right-hand side, IDNA 2008 included
        checked = validate_email(f"bounces@{value}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise RecruiterError(f"The bounce domain {value!r} is not a domain name: "
                             f"{_domain_reason(str(exc))}.") from exc
    # Stored in its ASCII (A-label) form: the form DNS, MAIL FROM and a bounce's To use.
    return checked.ascii_domain


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "address": _address,
    "sender_name": _text("sender_name", 200),
    "sender_title": _text("sender_title", 200),
    "sender_email": _email("sender_email", required=True),
    "reply_to": _email("reply_to", required=False),
    "bounce_domain": check_bounce_domain,
    "timezone": check_timezone,
    "locale": _locale,
    "send_rate_per_minute": check_send_rate,
    "retention_months": check_retention,
    "webhooks_allow_private": check_flag,
}


def check_titles_in(org: Organization, value: Any, locale: str | None = None) -> dict[str, str]:
    """The sender's title per other language, as changes: {"fr": "..."}; "" removes one.

    Keys are language tags, stored by their primary subtag; the organization's own language
    (of ``locale`` when that changes too) is refused, its title is ``sender_title``.
    """
    if not isinstance(value, Mapping):
        raise SettingError(TITLES_IN, "The sender's titles per language must be given as "
                                      "language and title pairs.")
    own = primary(locale) or org_language(org)
    clean: dict[str, str] = {}
    for raw, title in value.items():
        try:
            code = language_key(str(raw))
            if code == own:
                raise RecruiterError(f"{display_name(code)} is the organization's own language: "
                                     "its title is the sender title.")
            where = f"sender title in {display_name(code)}"
            text = check_single_line(str(title or "").strip(), where)
            if len(text) > 200:
                raise RecruiterError(f"The {where} is longer than 200 characters.")
        except RecruiterError as exc:
            tagged = LANGUAGE_TAG.fullmatch(str(raw))
            field = f"{TITLES_IN}.{primary(str(raw))}" if tagged else TITLES_IN
            raise SettingError(field, str(exc)) from exc
        clean[code] = text
    return clean


def titles_in(org: Organization) -> dict[str, str]:
    """The sender's title per other language than the organization's, by language."""
    own = org_language(org)
    return {code: text for code, text in sorted((org.sender_title_in or {}).items())
            if text and code != own}


def checked_values(session: Session, org: Organization,
                   values: Mapping[str, Any]) -> dict[str, Any]:
    """Every given value checked and normalized; a SettingError names the first bad field."""
    unknown = sorted(set(values) - set(FIELDS) - {TITLES_IN})
    if unknown:
        raise ValueError(f"not organization settings: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for field in FIELDS:
        if field not in values:
            continue
        try:
            if field == "name":
                name = _text("name", 200, required=True)(values[field])
                clean[field] = organization_name(session, name, renaming=org.id)
            else:
                clean[field] = _CHECKS[field](values[field])
        except SettingError:
            raise
        except RecruiterError as exc:
            raise SettingError(field, str(exc)) from exc
    if TITLES_IN in values:
        clean[TITLES_IN] = check_titles_in(org, values[TITLES_IN], clean.get("locale"))
    return clean


def update_organization(session: Session, org: Organization, values: Mapping[str, Any],
                        actor: Member | None) -> list[str]:
    """Check every given setting, apply the changed ones, audit them; the changed field names.

    ``sender_title_in`` takes {language: title} changes; an empty title removes a language, and
    each changed language is named ``sender_title_in.fr``. All or nothing: when one value is
    refused, nothing is set. Flushes, never commits.
    """
    clean = checked_values(session, org, values)
    titles = clean.pop(TITLES_IN, {})
    changed = sorted(k for k, v in clean.items() if getattr(org, k) != v)
    before = org.retention_months
    for field in changed:
        setattr(org, field, clean[field])
    current = dict(org.sender_title_in or {})
    languages = sorted(code for code, text in titles.items() if current.get(code, "") != text)
    for code in languages:
        if titles[code]:
            current[code] = titles[code]
        else:
            current.pop(code, None)
    if languages:
        org.sender_title_in = current  # a new dict: the JSON column sees the change
        changed = sorted([*changed, *(f"{TITLES_IN}.{code}" for code in languages)])
    others = [field for field in changed if field != "retention_months"]
    if others:  # the field names only: the values are in the row itself
        audit.record(session, org.id, "organization.changed", actor=actor, subject=org,
                     payload={"fields": others})
    if "retention_months" in changed:  # as the audit settings page records it
        audit.record(session, org.id, "org.retention", actor=actor, subject=org,
                     payload={"from_months": before, "to_months": org.retention_months})
    session.flush()
    return changed
