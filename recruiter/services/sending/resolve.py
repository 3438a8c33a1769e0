"""People deciding about letters the worker could not settle, and confirming posted letters.

Each decision is a ``Resolution`` row (who, when, which action from which state, and why),
never prose in ``Delivery.last_error``. Flushes only; the view or CLI commits.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from ...errors import RecruiterError
from ...models import Delivery, Member, Position, Resolution
from .. import audit
from ..versions import bump_review
from ..webhooks import letters as hooks
from .batches import batch_of, deliveries_of, now_utc
from .delivery import MAX_ATTEMPTS, record_sent

RESOLUTIONS = {
    "mark_sent": ("in_doubt", "failed", "queued"),
    "resend": ("in_doubt", "failed", "retry_wait"),
    "cancel": ("in_doubt", "failed", "retry_wait", "held", "queued"),
}
# Where each decision takes the row at once; "sent" is written by ``record_sent`` alone.
_TARGET = {"resend": "queued", "cancel": "cancelled"}


def resolve(session: Session, delivery: Delivery, member: Member, action: str, *,
            reason: str | None = None, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """A person decides about a doubtful or failed letter; returns whether to enqueue it."""
    allowed = RESOLUTIONS.get(action)
    if allowed is None:
        raise RecruiterError(f"Unknown action {action!r}.")
    before = delivery.state
    if before not in allowed:
        raise RecruiterError(f"A letter that is {before.replace('_', ' ')} cannot be "
                             f"{action.replace('_', ' ')}.")
    # Take the row from the state the person saw, as a worker claims it: a worker that took
    # it meanwhile (a retry firing) keeps it, and it is never queued twice.
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.state == before)
        .values(state=_TARGET.get(action, before))  # the row is ours until the commit
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        session.refresh(delivery)
        raise RecruiterError(f"This letter changed meanwhile (it is now "
                             f"{delivery.state.replace('_', ' ')}); look again.")
    stamp = now_utc()
    session.add(Resolution(organization_id=delivery.organization_id, delivery=delivery,
                           member_id=member.id, action=action, state_before=before,
                           reason=(reason or "").strip() or None, at=stamp))
    if action == "mark_sent":
        record_sent(session, [(delivery.id, delivery.server_reply)], stamp, by_server=False,
                    organization_id=delivery.organization_id)
        session.expire(delivery.letter)  # record_sent changed the rows, not these objects
        session.expire(delivery)
    elif action == "resend":
        delivery.state, delivery.next_attempt_at, delivery.claimed_at = "queued", None, None
        # A letter that gave up after the maximum still gets the one try the person asked for.
        delivery.attempts = min(delivery.attempts, max_attempts - 1)
    else:
        delivery.state = "cancelled"
        session.flush()
        hooks.letters_cancelled(session, delivery.organization_id, [delivery.letter],
                                reason="resolved", at=stamp)
    bump_review(session, delivery.letter.application.position_id)
    session.flush()
    audit.record(session, delivery.organization_id, "delivery.resolved", actor=member,
                 subject=delivery, payload={"action": action, "state": delivery.state})
    return action == "resend" and delivery.channel == "email"


def confirm_posted(session: Session, position: Position, member: Member) -> int:
    """A member confirms the print bundle was mailed: its released post letters are sent."""
    batch = batch_of(session, position)
    if batch is None or batch.state != "released":
        raise RecruiterError("Release the batch before confirming that letters were posted.")
    stamp = now_utc()
    posted = [d for d in deliveries_of(session, batch)
              if d.channel == "post" and d.state == "queued"]
    for delivery in posted:
        session.add(Resolution(organization_id=delivery.organization_id, delivery=delivery,
                               member_id=member.id, action="posted", state_before="queued",
                               at=stamp))
    record_sent(session, [(d.id, f"posted, confirmed by {member.name or member.email}")
                          for d in posted], stamp, by_server=False,
                organization_id=position.organization_id)
    for delivery in posted:  # record_sent changed the rows, not these objects
        session.expire(delivery.letter)
        session.expire(delivery)
    bump_review(session, position.id)
    session.flush()
    audit.record(session, position.organization_id, "batch.posted", actor=member,
                 subject=position, payload={"letters": len(posted)})
    hooks.batches_completed(session, position.organization_id, [d.id for d in posted], stamp)
    return len(posted)
