"""Who a batch went to: one row per letter for the sending page, a page at a time.

Read-only. A page costs two queries whatever the batch's size: its rows, and the decisions
people took about them (with who took them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, joinedload

from ...models import Application, Batch, Candidate, Delivery, Letter, Resolution
from ...models.hiring import full_name


@dataclass(frozen=True)
class Recipient:
    """One letter of the batch as the sending page lists it."""

    delivery_id: int
    letter_id: int
    name: str
    address: str | None  # the email address it went to; None for a letter by post
    channel: str
    state: str
    at: datetime | None  # bounced, else sent, else last tried, else due to retry
    reply: str | None  # the bounce's status and words, the server's last word, or what went wrong
    decisions: list[Resolution] = field(default_factory=list)


def recipients(session: Session, batch: Batch, *, page: int, per_page: int) -> list[Recipient]:
    """The batch's letters on ``page`` (from 1), by last name, first name, then letter."""
    rows = session.execute(
        select(Delivery.id, Delivery.letter_id, Candidate.first_name, Candidate.last_name,
               Delivery.recipient, Candidate.email, Delivery.channel, Delivery.state,
               Delivery.sent_at, Delivery.claimed_at, Delivery.next_attempt_at,
               Delivery.server_reply, Delivery.last_error, Delivery.bounced_at,
               Delivery.bounce_status, Delivery.bounce_diagnostic)
        .join(Letter, Letter.id == Delivery.letter_id)
        .join(Application, Application.id == Letter.application_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .where(Letter.batch_id == batch.id)
        .order_by(func.lower(Candidate.last_name), func.lower(Candidate.first_name),
                  Letter.id, Delivery.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    decided: dict[int, list[Resolution]] = {}
    if rows:
        for decision in session.scalars(
                select(Resolution).where(Resolution.delivery_id.in_([r.id for r in rows]))
                .options(joinedload(Resolution.member)).order_by(Resolution.id)):
            decided.setdefault(decision.delivery_id, []).append(decision)
    return [Recipient(
        delivery_id=r.id, letter_id=r.letter_id, name=full_name(r.first_name, r.last_name),
        address=(r.recipient or r.email) if r.channel == "email" else None,
        channel=r.channel, state=r.state,
        at=r.bounced_at if r.state == "bounced" else (
            r.sent_at or r.claimed_at or (r.next_attempt_at if r.state == "retry_wait" else None)),
        reply=_reply(r), decisions=decided.get(r.id, [])) for r in rows]


def _reply(row: Row) -> str | None:
    """The last word about a letter: the bounce's, else the server's, else what went wrong."""
    if row.state == "bounced":
        return " ".join(x for x in (row.bounce_status, row.bounce_diagnostic) if x) or None
    return row.server_reply if row.state == "sent" else (row.last_error or row.server_reply)


def last_sent_at(session: Session, batch: Batch) -> datetime | None:
    """When the batch's last letter left (or was confirmed sent or mailed)."""
    return session.scalar(select(func.max(Delivery.sent_at)).join(Letter)
                          .where(Letter.batch_id == batch.id, Delivery.state == "sent"))
