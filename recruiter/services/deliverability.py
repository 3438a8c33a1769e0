"""What the deliverability page shows: DKIM, the DNS records to publish, replies and bounces.

Nothing here looks anything up in DNS: recruiter may run with no network, and a lookup from
the server says little about what receivers see. The page says what to publish and checks
what recruiter itself can check (its settings and the key file), never whether a record is
live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..errors import RecruiterError
from ..models import Application, Delivery, Letter, Organization, Position
from . import dkim_sign
from .test_letter import TESTABLE

BOUNCES_SHOWN = 20
LETTERS_LOOKED_AT = 50  # the newest testable letters looked at for one that goes by email


def ascii_domain(address_or_domain: str) -> str:
    """The domain of an address (or a domain), lower-case, an IDN in its xn-- form."""
    domain = (address_or_domain or "").rpartition("@")[2].strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def alignment(signing: str, from_domain: str) -> str:
    """How DMARC sees ``signing`` against ``from_domain``: "strict", "relaxed" or "none".

    "relaxed" when one is a subdomain of the other. Two sibling subdomains may align too (they
    share an organizational domain), but telling needs the public suffix list: said as "none".
    """
    signing, from_domain = ascii_domain(signing), ascii_domain(from_domain)
    if not signing or not from_domain:
        return "none"
    if signing == from_domain:
        return "strict"
    if signing.endswith("." + from_domain) or from_domain.endswith("." + signing):
        return "relaxed"
    return "none"


@dataclass(frozen=True)
class Dkim:
    """The DKIM settings as recruiter sees them; never the key itself."""

    state: str  # "off" (none set), "on" (loaded and signs) or "broken" (see problem)
    selector: str
    domain: str
    key_file: str
    key_readable: bool
    problem: str
    alignment: str  # with the From domain: "strict", "relaxed" or "none"

    @property
    def txt_name(self) -> str:
        """Where the public key is published: ``selector._domainkey.domain``."""
        if not (self.selector and self.domain):
            return ""
        return f"{self.selector}._domainkey.{self.domain.rstrip('.')}"


def dkim_status(config: Mapping[str, Any], from_domain: str) -> Dkim:
    """Load the DKIM settings as freezing does and say what came of it."""
    selector, domain, key_file = (str(config.get(name) or "").strip()
                                  for name in dkim_sign.SETTINGS)
    readable = bool(key_file) and Path(key_file).is_file()
    if readable:
        try:
            with Path(key_file).open("rb"):
                pass
        except OSError:
            readable = False
    problem, state = "", "off"
    try:
        if dkim_sign.load(selector, domain, key_file) is not None:
            state = "on"
    except RecruiterError as exc:
        problem, state = str(exc), "broken"
    return Dkim(state, selector, domain, key_file, readable, problem,
                alignment(domain, from_domain) if domain else "none")


def relay_host(mail_url: str) -> str:
    """The SMTP relay's host name from the mail URL (never its credentials); "" if not SMTP."""
    parts = urlsplit(mail_url or "")
    if not parts.scheme.startswith("smtp"):
        return ""
    return parts.hostname or ""


@dataclass(frozen=True)
class Records:
    """The DNS records to publish for the From domain (and the bounce domain), as text."""

    from_domain: str
    envelope_domain: str  # SPF is checked on it: the bounce domain, else the From domain
    spf: str
    dmarc_first: str
    dmarc_later: str
    spf_alignment: str


def records(org: Organization, mail_url: str) -> Records:
    """Example SPF and DMARC records for the organization's sender and bounce domain."""
    from_domain = ascii_domain(org.sender_email)
    envelope = ascii_domain(org.bounce_domain) or from_domain
    relay = relay_host(mail_url)
    include = f"include:<your relay's SPF domain, ask the operator of {relay}>" if relay \
        else "include:<your mail relay's SPF domain>"
    report = f"mailto:dmarc-reports@{from_domain}"
    return Records(
        from_domain=from_domain, envelope_domain=envelope,
        spf=f'{envelope}. IN TXT "v=spf1 {include} -all"',
        dmarc_first=f'_dmarc.{from_domain}. IN TXT "v=DMARC1; p=none; rua={report}"',
        dmarc_later=f'_dmarc.{from_domain}. IN TXT "v=DMARC1; p=quarantine; pct=100; '
                    f'rua={report}"',
        spf_alignment=alignment(envelope, from_domain))


def last_bounces(session: Session, org_id: int, limit: int = BOUNCES_SHOWN) -> list[Delivery]:
    """The organization's newest bounced deliveries, with their letters and candidates."""
    return list(session.scalars(
        select(Delivery).where(Delivery.organization_id == org_id,
                               Delivery.state == "bounced")
        .order_by(Delivery.bounced_at.desc().nulls_last(), Delivery.id.desc()).limit(limit)
        .options(selectinload(Delivery.letter).selectinload(Letter.application)
                 .selectinload(Application.candidate),
                 selectinload(Delivery.letter).selectinload(Letter.application)
                 .selectinload(Application.position))))


def positions_replying_elsewhere(session: Session, org_id: int) -> list[Position]:
    """The organization's positions whose letters have a Reply-To of their own."""
    return list(session.scalars(
        select(Position).where(Position.organization_id == org_id, Position.reply_to != "")
        .order_by(Position.title, Position.id)))


def newest_testable_letter(session: Session, org_id: int) -> Letter | None:
    """The organization's newest draft or approved email letter that renders, if any."""
    letters = session.scalars(
        select(Letter).where(Letter.organization_id == org_id, Letter.status.in_(TESTABLE),
                             Letter.render_error.is_(None))
        .order_by(Letter.id.desc()).limit(LETTERS_LOOKED_AT)
        .options(selectinload(Letter.application).selectinload(Application.candidate)))
    return next((x for x in letters if x.application.letter_channel == "email"), None)
