"""The texts a person writes once per language: the differentiator beside the organization's own.

A language tag is checked here once (the pages, the API and the command line ask
``check_language_tag``); texts in other languages are keyed by the primary subtag ("fr"), the
way letters look them up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Application, Candidate, Member, Organization, Position
from . import audit
from .languages import display_name, org_language, primary
from .text import check_single_line
from .versions import bump_review

DIFFERENTIATOR_MAX = 300
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")  # fr, fr-CA, pt_BR


def check_language_tag(value: str | None) -> str:
    """The tag as typed but stripped ("fr", "fr-CA", "pt_BR"), or a RecruiterError."""
    tag = (value or "").strip()
    if not tag:
        raise RecruiterError("Give a language, such as fr or fr-CA.")
    if len(tag) > 16 or not LANGUAGE_TAG.fullmatch(tag):
        raise RecruiterError(f"{tag[:40]!r} is not a language tag: use a code such as "
                             "en, fr, fr-CA or pt_BR.")
    try:
        Locale.parse(primary(tag))
    except (UnknownLocaleError, ValueError) as exc:
        raise RecruiterError(f"The language {tag!r} is unknown: use a code such as "
                             "en, fr, fr-CA or pt_BR.") from exc
    return tag


def language_key(value: str | None) -> str:
    """The primary subtag texts per language are stored under, of a checked tag."""
    return primary(check_language_tag(value))


def clean_differentiator(text: str | None, language: str | None = None) -> str:
    """The differentiator's rules: one line, spaces folded, 300 characters at most."""
    where = f" in {display_name(language)}" if language else ""
    # Line breaks fold into spaces, as the main differentiator's do; what else is unsafe stays.
    text = check_single_line(" ".join((text or "").split()), f"differentiator{where}")
    if len(text) > DIFFERENTIATOR_MAX:
        raise RecruiterError(f"Keep the differentiator{where} to one sentence "
                             f"({DIFFERENTIATOR_MAX} characters at most).")
    return text


def candidate_languages(session: Session, position: Position) -> list[str]:
    """The languages of the position's candidates but the organization's own, sorted."""
    org = session.get(Organization, position.organization_id)
    own = org_language(org) if org else "en"
    codes = session.scalars(select(Candidate.language).distinct()
                            .join(Application, Application.candidate_id == Candidate.id)
                            .where(Application.position_id == position.id))
    return sorted({primary(code) for code in codes if primary(code)} - {own})


def differentiator_languages(session: Session, position: Position) -> list[str]:
    """The languages the differentiator page offers: the candidates' and those already written."""
    org = session.get(Organization, position.organization_id)
    own = org_language(org) if org else "en"
    written = {primary(code) for code in (position.differentiator_in or {})}
    return sorted((set(candidate_languages(session, position)) | written) - {own, ""})


def missing_differentiators(session: Session, position: Position) -> list[str]:
    """The candidates' languages that have no differentiator yet."""
    written = position.differentiator_in or {}
    return [code for code in candidate_languages(session, position) if not written.get(code)]


def set_differentiators_in(session: Session, position: Position, values: Mapping[str, str],
                           by: Member | None = None) -> list[str]:
    """Save the differentiator in other languages; an empty text removes that language.

    All or nothing: one refused language or text saves none. Each changed language is audited
    as the main differentiator is, and letters rendered from the old text drop back to draft.
    Returns the changed languages. Flushes, never commits.
    """
    org = session.get(Organization, position.organization_id)
    own = org_language(org) if org else "en"
    clean: dict[str, str] = {}
    for raw, text in values.items():
        code = language_key(raw)
        if code == own:
            raise RecruiterError(f"{display_name(code)} is the organization's own language: "
                                 "its differentiator is the main one.")
        clean[code] = clean_differentiator(text, code)
    current = dict(position.differentiator_in or {})
    changed = sorted(code for code, text in clean.items() if current.get(code, "") != text)
    if changed:
        for code in changed:
            if clean[code]:
                current[code] = clean[code]
            else:
                current.pop(code, None)
        position.differentiator_in = current  # a new dict: the JSON column sees the change
        position.differentiator_revision += 1
        bump_review(session, position.id)
        audit.record_many(session, position.organization_id, "differentiator.saved", [
            (position, {"language": code, "revision": position.differentiator_revision,
                        "sha256": audit.sha256_hex(clean[code])} | (
                            {} if clean[code] else {"removed": True}))
            for code in changed], actor=by)
    session.flush()
    return changed
