"""Approving a position's batch for sending: freeze it now, or ask a worker to.

The one decision the browser's send page and the API share. A small batch is frozen in the
caller's transaction; a big one (more than ``inline_max`` letters, no batch yet) is marked as
being frozen and left to a worker, since freezing takes about a minute per 1,500 letters.
Nothing is committed or enqueued here: the caller commits, then enqueues ``due`` (the emails
that may leave now) or, when ``background``, the worker's freeze.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...errors import RecruiterError
from ...models import Application, Batch, Letter, Member, Position
from .batches import SENDING_TIMEOUT, batch_of, now_utc, queued_email_ids
from .freeze import freeze_batch, request_freeze

FREEZE_INLINE_MAX = 200  # RECRUITER_FREEZE_INLINE_MAX's default


@dataclass
class Started:
    """What approving the batch did, for the caller to commit, enqueue and report."""

    batch: Batch | None
    created: bool = False  # frozen by this request (False: it was frozen once already)
    due: list[int] = field(default_factory=list)  # email deliveries to enqueue after commit
    background: bool = False  # a worker is to freeze it: enqueue the freeze after commit
    already_freezing: bool = False  # a worker is freezing it already; nothing was asked
    letters: int = 0  # the position's letters that are not cancelled


def letter_count(session: Session, position: Position) -> int:
    """The position's letters that are not cancelled."""
    return session.scalar(
        select(func.count()).select_from(Letter).join(Application)
        .where(Application.position_id == position.id, Letter.status != "cancelled")) or 0


def start_sending(session: Session, position: Position, member: Member, *,
                  send_at: datetime | None, hold: bool, page_size: str = "A4",
                  inline_max: int = FREEZE_INLINE_MAX, timeout: timedelta = SENDING_TIMEOUT,
                  now: datetime | None = None) -> Started:
    """Freeze every approved letter and say what to queue; RecruiterError when it may not.

    ``send_at`` (aware) must be in the future; ``hold`` keeps the letters until the hire
    accepts.
    """
    if send_at is not None and send_at <= (now or now_utc()):
        raise RecruiterError("That send time has already passed. Choose a later one, or "
                             "clear it to send as soon as the batch is released.")
    count = letter_count(session, position)
    if count > inline_max and batch_of(session, position) is None:
        if not request_freeze(session, position, timeout=timeout):
            return Started(None, already_freezing=True, letters=count)
        return Started(None, background=True, letters=count)
    batch, created = freeze_batch(session, position, member, send_at=send_at,
                                  hold_until_accepted=hold, page_size=page_size)
    due = queued_email_ids(session, batch) if created else []
    return Started(batch, created=created, due=due, letters=count)
