"""Where each candidate of a position stands: their outcome and their letter's life, per page.

The position page shows a page of candidates; this reads their letters, each letter's
delivery and the position's batch in two queries whatever the page size, and names each
letter's life with ``outcomes.letter_life`` (the one state model), so the page, the sending
page and the worker never disagree about a letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ..models import Application, Batch, Delivery, Letter, Organization, Position
from . import outcomes
from .orgtime import org_zone

# The outcome buttons of the position page, by the outcome they set.
OUTCOME_ACTIONS = {"hired": "Mark hired", "declined": "Decline", "withdrawn": "Withdrawn",
                   "pending": "Reinstate"}


@dataclass(frozen=True)
class Standing:
    """One candidate's letter as the position page shows it, and the outcomes still allowed."""

    life: str | None  # a word of outcomes.LETTER_LIFE; None: the candidate has no letter
    label: str  # "sent 2 Dec 2026, 09:14 PST", "cancelled", "no letter"...
    letter_id: int | None = None
    cancel_reason: str | None = None
    render_error: str | None = None
    allowed: tuple[str, ...] = ()


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A stored UTC time in the organization's zone, as the position page shows it."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M %Z}"


def _label(application: Application, life: str | None, sent_at: datetime | None,
           zone: ZoneInfo) -> str:
    if life is None:
        return "no letter yet" if outcomes.gets_letter(application.outcome) else "no letter"
    label = outcomes.LIFE_LABELS.get(life, life)
    if life == "sent" and sent_at is not None:
        return f"{label} {local_time(sent_at, zone)}"
    return label


def standings(session: Session, position: Position, applications: Sequence[Application]
              ) -> dict[int, Standing]:
    """Each application's standing by id: at most two queries for the page, none per candidate.

    The page's letters come as a few columns, not ORM objects (half the cost).
    """
    ids = [a.id for a in applications]
    if not ids:
        return {}
    found: dict[int, Row] = {}
    for row in session.execute(
            select(Letter.id, Letter.application_id, Letter.status, Letter.batch_id,
                   Letter.cancel_reason, Letter.render_error, Delivery.state.label("delivery"),
                   Delivery.sent_at)
            .outerjoin(Delivery, Delivery.letter_id == Letter.id)
            .where(Letter.application_id.in_(ids))
            .order_by(Letter.id, Delivery.id.desc())):  # the newest, as Letter.deliveries
        found.setdefault(row.application_id, row)
    batch = session.scalar(select(Batch).where(Batch.position_id == position.id)) \
        if any(row.batch_id for row in found.values()) else None
    zone = org_zone(session.get(Organization, position.organization_id))
    result = {}
    for application in applications:
        row = found.get(application.id)
        # The state model reads Letter.status and Delivery.state: the row's columns stand in.
        life = outcomes.letter_life(
            SimpleNamespace(status=row.status) if row else None,  # type: ignore[arg-type]
            SimpleNamespace(state=row.delivery)  # type: ignore[arg-type]
            if row and row.delivery else None, batch)
        result[application.id] = Standing(
            life=life, label=_label(application, life, row.sent_at if row else None, zone),
            letter_id=row.id if row else None,
            cancel_reason=row.cancel_reason if row and life == "cancelled" else None,
            render_error=row.render_error if row else None,
            allowed=tuple(outcomes.allowed_outcomes(application, life)))
    return result
