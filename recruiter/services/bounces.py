"""Bounces: the one place an email delivery becomes ``bounced``, from a DSN or a relay's event.

A bounce names its delivery by the VERP token of the envelope sender it came back to
(``bounces+<token>@<bounce domain>``, services/verp.py), else by the Message-ID of the letter
it returns, else (a relay's event, within one organization) by its recipient when exactly one
letter went there. A permanent failure (``5.x.x``) moves a ``sent`` (or ``in_doubt``) delivery
to ``bounced``, with the status and the server's diagnostic; a temporary one (``4.x.x``) keeps
it ``sent`` and notes what the server said. Applying the same bounce twice changes nothing the
second time. Flushes only: the caller (the CLI, the relay endpoint) commits once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..models import Delivery, FrozenLetter
from . import audit, dsn
from .sending.batches import now_utc
from .sending.delivery import position_ids
from .states import BOUNCES_FROM
from .versions import bump_review
from .webhooks import letters as hooks

OUTCOMES = ("bounced", "kept", "ignored", "unknown", "already")
DIAGNOSTIC_MAX = 1000  # characters of the server's words kept on the delivery
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_BASIC = re.compile(r"^([245])\d\d$")


@dataclass(frozen=True)
class BounceResult:
    """What applying one bounce did: an outcome of OUTCOMES, and the delivery it concerned."""

    outcome: str
    delivery_id: int | None = None
    organization_id: int | None = None
    kind: str = "event"  # what the message was (dsn.Returned.kind), or a relay's "event"


def normal_status(status: str) -> str | None:
    """An RFC 3463 status ("5.1.1"), or an SMTP code's class ("550" -> "5.0.0"); None if neither."""
    status = (status or "").strip()
    if _ENHANCED.match(status):
        return status
    if _BASIC.match(status):
        return f"{status[0]}.0.0"
    return None


def normal_message_id(message_id: str | None) -> str | None:
    """A Message-ID as frozen letters store it, "<local@domain>"; None when there is none."""
    value = (message_id or "").strip().strip("<>").strip()
    return f"<{value}>" if value and " " not in value else None


def clean_diagnostic(diagnostic: str) -> str:
    """The server's words on one line, without control characters, cut to DIAGNOSTIC_MAX."""
    text = " ".join("".join(c if c.isprintable() else " " for c in diagnostic or "").split())
    return text if len(text) <= DIAGNOSTIC_MAX else text[:DIAGNOSTIC_MAX - 1] + "…"


def find_delivery(session: Session, organization_id: int | None, *, token: str | None = None,
                  message_id: str | None = None, recipient: str | None = None
                  ) -> Delivery | None:
    """The email delivery a bounce names: by token, else Message-ID, else a sole recipient."""
    scope = [Delivery.channel == "email"]
    if organization_id is not None:
        scope.append(Delivery.organization_id == organization_id)
    if token:
        # Receiving servers may change the case of a local part; tokens are lower-case.
        found = session.scalar(select(Delivery).where(
            Delivery.bounce_token == token.strip().lower(), *scope))
        if found is not None:
            return found
    if (mid := normal_message_id(message_id)) is not None:
        found = session.scalar(select(Delivery).join(
            FrozenLetter, FrozenLetter.letter_id == Delivery.letter_id)
            .where(FrozenLetter.message_id == mid, *scope))
        if found is not None:
            return found
    if recipient and organization_id is not None:
        # Only a relay's event within one organization, and only when the address had one
        # letter that left: anything less certain is not ours to call bounced.
        matches = list(session.scalars(select(Delivery).where(
            func.lower(Delivery.recipient) == recipient.strip().lower(),
            Delivery.state.in_((*BOUNCES_FROM, "bounced")), *scope).limit(2)))
        if len(matches) == 1:
            return matches[0]
    return None


def apply_bounce(session: Session, organization_id: int | None, *, token: str | None = None,
                 message_id: str | None = None, recipient: str | None = None, status: str,
                 diagnostic: str, source: str, now: datetime | None = None,
                 permanent: bool | None = None) -> BounceResult:
    """Apply one bounce (a DSN's recipient, or a relay's event) to the delivery it names.

    ``status``: RFC 3463 ("5.1.1") or an SMTP code ("550"); a 5 bounces, a 4 is kept as sent,
    a 2 (delivered) or anything unreadable is ignored. ``permanent``, when the report says
    (a DSN's Action ``failed``, a relay's "permanent"), overrides the status's class: a server
    that gave up after days of ``4.4.7`` has bounced. ``source``: where the bounce came from
    ("maildir", "mbox", "imap", "webhook:<relay>"), for the audit. ``recipient`` is used only
    with an organization and only when no token or Message-ID matched. Flushes; the caller
    commits.
    """
    now = now or now_utc()
    delivery = find_delivery(session, organization_id, token=token, message_id=message_id,
                             recipient=recipient)
    if delivery is None:
        return BounceResult("unknown")
    found = BounceResult("ignored", delivery.id, delivery.organization_id)
    code = normal_status(status)
    if code is None and permanent is not None:  # a report that says what but not which
        code = "5.0.0" if permanent else "4.0.0"
    if code is None or code[0] == "2":
        return found
    text = clean_diagnostic(diagnostic)
    if delivery.state == "bounced":
        return BounceResult("already", delivery.id, delivery.organization_id)
    if delivery.state not in BOUNCES_FROM:  # failed, cancelled, still queued: not a bounce
        return found
    if (code[0] == "4") if permanent is None else not permanent:
        return _kept(session, delivery, code, text, source)
    return _bounced(session, delivery, code, text, source, now)


def _kept(session: Session, delivery: Delivery, code: str, text: str,
          source: str) -> BounceResult:
    """A temporary failure: the server still tries; noted on the delivery, which stays sent."""
    result = BounceResult("kept", delivery.id, delivery.organization_id)
    if (delivery.bounce_status, delivery.bounce_diagnostic) == (code, text):
        return result  # the same delay reported again
    delivery.bounce_status, delivery.bounce_diagnostic = code, text
    session.flush()
    audit.record(session, delivery.organization_id, "delivery.delayed",
                 subject=("delivery", delivery.id), payload={
                     "status": code, "source": source, "state": delivery.state})
    return result


def _bounced(session: Session, delivery: Delivery, code: str, text: str, source: str,
             now: datetime) -> BounceResult:
    """A permanent failure: sent (or in doubt) becomes bounced, once, whoever comes first."""
    org_id, before = delivery.organization_id, delivery.state
    changed = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.state.in_(BOUNCES_FROM))
        .values(state="bounced", bounced_at=now, bounce_status=code, bounce_diagnostic=text)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:  # another process applied a bounce in between
        return BounceResult("already", delivery.id, org_id)
    # A letter in doubt keeps its status (frozen): its life reads the delivery's bounced.
    session.expire(delivery)
    audit.record(session, org_id, "delivery.bounced", subject=("delivery", delivery.id),
                 payload={"status": code, "source": source, "state_before": before})
    hooks.deliveries_changed(session, org_id, "letter.bounced", [delivery.id], now)
    bump_review(session, position_ids(session, [delivery.id]))
    session.flush()
    return BounceResult("bounced", delivery.id, org_id)


def apply_returned(session: Session, raw: bytes, organization_id: int | None, *, source: str,
                   now: datetime | None = None) -> BounceResult:
    """Read one returned message (services/dsn.py) and apply it; flushes, the caller commits."""
    returned = dsn.read_returned(raw)
    worst = returned.worst
    if returned.kind in ("auto_reply", "other") or worst is None:
        return BounceResult("ignored" if returned.kind == "auto_reply" else "unknown",
                            kind=returned.kind)
    result = apply_bounce(session, organization_id, token=returned.token,
                          message_id=returned.message_id, status=worst.status,
                          diagnostic=worst.diagnostic, source=source, now=now,
                          permanent=worst.permanent)
    return replace(result, kind=returned.kind)
