"""A position's batch: held until the hire accepts, scheduled, released, or cancelled.

Every function here flushes and never commits; the caller (a view, the CLI, the worker)
owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from ...errors import RecruiterError
from ...models import Application, Batch, Delivery, FrozenLetter, Letter, Position
from .. import audit
from ..versions import bump_review
from ..webhooks import letters as hooks

CLAIMABLE = ("queued", "retry_wait")
PROBLEMS = ("failed", "in_doubt", "bounced")
# How long a claim or a freeze may take before it is thought dead (RECRUITER_SENDING_TIMEOUT
# in the app's config, which the worker and the pages pass in).
SENDING_TIMEOUT = timedelta(minutes=10)


def now_utc() -> datetime:
    """The current time, aware and in UTC, as every timestamp of sending is."""
    return datetime.now(UTC)


def batch_of(session: Session, position: Position) -> Batch | None:
    """The position's batch, if its letters were approved for sending."""
    return session.scalar(select(Batch).where(Batch.position_id == position.id))


def released_state(position: Position, batch: Batch, now: datetime) -> str:
    """Where ``batch`` stands at ``now``: held for the hire, scheduled, or released."""
    if batch.hold_until_accepted and position.hire_accepted_at is None:
        return "held"
    if batch.send_at is not None and batch.send_at > now:
        return "scheduled"
    return "released"


def deliveries_of(session: Session, batch: Batch) -> list[Delivery]:
    """Every delivery of the batch's letters."""
    return list(session.scalars(select(Delivery).join(Letter).where(Letter.batch_id == batch.id)))


def queued_email_ids(session: Session, batch: Batch) -> list[int]:
    """The ids of the batch's email deliveries waiting in ``queued``, to hand to the queue."""
    return list(session.scalars(
        select(Delivery.id).join(Letter)
        .where(Letter.batch_id == batch.id, Delivery.channel == "email",
               Delivery.state == "queued").order_by(Delivery.id)))


def release(session: Session, position: Position, *, accepted: bool = True,
            now: datetime | None = None) -> list[int]:
    """Record that the hire accepted and release a held batch; returns deliveries to enqueue."""
    now = now or now_utc()
    if accepted and position.hire_accepted_at is None:
        position.hire_accepted_at = now
    batch = batch_of(session, position)
    if batch is None or batch.state in ("released", "cancelled"):
        session.flush()
        return []
    batch.state = released_state(position, batch, now)
    if batch.state != "released":
        session.flush()
        return []
    for delivery in deliveries_of(session, batch):
        if delivery.state == "held":
            delivery.state = "queued"
    session.flush()
    ids = queued_email_ids(session, batch)
    audit.record(session, position.organization_id, "batch.queued", subject=position,
                 payload={"batch": batch.id, "emails": len(ids)})
    return ids


def cancel_batch(session: Session, position: Position) -> int:
    """Cancel a held or scheduled batch: its letters become drafts again, nothing was sent.

    The frozen copies go with the batch; what was frozen stays in the audit chain.
    """
    batch = batch_of(session, position)
    if batch is None:
        raise RecruiterError("This position has no batch to cancel.")
    if batch.state not in ("held", "scheduled"):
        raise RecruiterError("Only a held or scheduled batch can be cancelled; this one is "
                             "already sending. Cancel single letters instead.")
    deliveries = deliveries_of(session, batch)
    hooks.deliveries_changed(session, position.organization_id, "letter.cancelled",
                             [d.id for d in deliveries], now_utc(), state="draft",
                             reason="batch_cancelled")
    for delivery in deliveries:
        letter = delivery.letter
        letter.status, letter.batch_id = "draft", None
        letter.approved_at = letter.approved_by_id = None
        session.delete(delivery)
    session.execute(delete(FrozenLetter).where(FrozenLetter.batch_id == batch.id)
                    .execution_options(synchronize_session="fetch"))
    session.delete(batch)
    bump_review(session, position.id)  # drafts again: the refresh follows them once more
    session.flush()
    audit.record(session, position.organization_id, "batch.cancelled", subject=position,
                 payload={"letters": len(deliveries)})
    return len(deliveries)


def release_due(session: Session, now: datetime | None = None) -> list[int]:
    """Release scheduled batches whose time has come; returns deliveries to enqueue."""
    now = now or now_utc()
    ids: list[int] = []
    for batch in session.scalars(select(Batch).where(Batch.state == "scheduled",
                                                     Batch.send_at <= now)):
        ids += release(session, batch.position, accepted=False, now=now)
    return ids


def state_counts(session: Session, position: Position) -> dict[str, int]:
    """How many of the position's deliveries are in each state."""
    rows = session.execute(
        select(Delivery.state, func.count()).join(Letter).join(Application)
        .where(Application.position_id == position.id).group_by(Delivery.state)).all()
    return {state: count for state, count in rows}


def problems(session: Session, position: Position) -> list[Delivery]:
    """Failed, in-doubt and bounced deliveries, with letters, candidates and decisions loaded."""
    return list(session.scalars(
        select(Delivery).join(Letter).join(Application)
        .where(Application.position_id == position.id, Delivery.state.in_(PROBLEMS))
        .options(selectinload(Delivery.letter).selectinload(Letter.application)
                 .selectinload(Application.candidate),
                 selectinload(Delivery.letter).selectinload(Letter.frozen),  # not its bytes
                 selectinload(Delivery.resolutions))
        .order_by(Delivery.id)))
