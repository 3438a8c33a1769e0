"""The batch and its deliveries: freeze and queue, release, cancel, watch, resolve doubts.

The same services as the browser's sending page. Queueing happens after the commit (the
worker reads the committed rows), so the endpoints that queue commit first, as the page does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from flask import current_app
from pydantic import AfterValidator, AwareDatetime, Field

from ..extensions import db
from ..models import Delivery, Position
from ..queue import queue
from ..services import deliveries, sending
from .core import (
    ID,
    Line,
    Model,
    Page,
    PageQuery,
    Reply,
    Timestamp,
    actor,
    cursor_after,
    endpoint,
)
from .positions import POSITION, position_of

DELIVERY = "/deliveries/" + ID.format("delivery_id")
DeliveryState = Literal["held", "queued", "sending", "retry_wait", "sent", "failed",
                        "in_doubt", "bounced", "cancelled"]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is not a time recruiter can keep") from None


SendAt = Annotated[AwareDatetime, AfterValidator(_utc)]


class BatchIn(Model):
    """Freeze every approved letter of the position and queue what may leave."""

    hold: bool = Field(True, description="Keep every letter until the hire's acceptance is "
                                         "recorded (`POST …/batch/release`).")
    send_at: SendAt | None = Field(None, description="Not before this time (with its offset; "
                                                     "it must be in the future).")


class BatchOut(Model):
    """A position's batch: where it stands and its deliveries by state."""

    state: Literal["none", "freezing", "held", "scheduled", "released", "cancelled"] = Field(
        description="`none` before anything is frozen; `freezing` while a worker freezes a "
                    "big batch.")
    freeze_problem: str | None = Field(description="Why a worker could not freeze it.")
    hold_until_accepted: bool | None
    hire_accepted_at: Timestamp | None
    send_at: Timestamp | None
    approved_at: Timestamp | None
    counts: dict[DeliveryState, int] = Field(description="Deliveries by state.")


class ResolutionOut(Model):
    """A person's decision about a delivery."""

    action: str
    state_before: str
    reason: str | None
    by: str | None = Field(description="Who decided: a member's or a token's name.")
    at: Timestamp


class DeliveryOut(Model):
    """Sending one letter over one channel."""

    id: str
    letter_id: str
    application_id: str
    channel: Literal["email", "post"]
    state: DeliveryState
    attempts: int
    next_attempt_at: Timestamp | None
    sent_at: Timestamp | None
    recipient: str | None
    message_id: str | None = Field(description="The email's Message-ID, fixed when frozen.")
    server_reply: str | None
    last_error: str | None
    bounced_at: Timestamp | None = Field(description="When a bounce said it never arrived.")
    bounce_status: str | None = Field(
        description="The status of the latest bounce (RFC 3463, e.g. `5.1.1`); a `4.x.x` "
                    "on a `sent` delivery means the receiving server is still trying.")
    bounce_diagnostic: str | None = Field(description="What the receiving server said.")
    resolutions: list[ResolutionOut]


class DeliveryList(Page):
    """A page of a position's deliveries, by id."""

    data: list[DeliveryOut]


class DeliveryQuery(PageQuery):
    """Filter by state."""

    state: DeliveryState | None = None


class ResolveIn(Model):
    """A person's decision about a failed or doubtful letter."""

    action: Literal["mark_sent", "resend", "cancel"] = Field(
        description="`mark_sent`: it arrived after all; `resend`: try once more; `cancel`: "
                    "never send it.")
    reason: Line = Field("", max_length=500, description="Why, for the audit.")


def _timeout() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("SENDING_TIMEOUT", 600)))


def batch_out(position: Position) -> BatchOut:
    """The position's batch as the API shows it."""
    batch = sending.batch_of(db.session, position)
    if batch is None:
        state = "freezing" if sending.freezing(position, timeout=_timeout()) else "none"
        return BatchOut(state=state, freeze_problem=position.freeze_problem,
                        hold_until_accepted=None, hire_accepted_at=position.hire_accepted_at,
                        send_at=None, approved_at=None, counts={})
    return BatchOut(state=batch.state, freeze_problem=None,
                    hold_until_accepted=batch.hold_until_accepted,
                    hire_accepted_at=position.hire_accepted_at, send_at=batch.send_at,
                    approved_at=batch.approved_at,
                    counts=sending.state_counts(db.session, position))


def delivery_out(delivery: Delivery) -> DeliveryOut:
    """A delivery as the API shows it."""
    return DeliveryOut(
        id=str(delivery.id), letter_id=str(delivery.letter_id),
        application_id=str(delivery.letter.application_id), channel=delivery.channel,
        state=delivery.state, attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at, sent_at=delivery.sent_at,
        recipient=delivery.recipient, message_id=deliveries.message_id(delivery),
        server_reply=delivery.server_reply, last_error=delivery.last_error,
        bounced_at=delivery.bounced_at, bounce_status=delivery.bounce_status,
        bounce_diagnostic=delivery.bounce_diagnostic,
        resolutions=[ResolutionOut(action=r.action, state_before=r.state_before,
                                   reason=r.reason, at=r.at,
                                   by=(r.member.name or r.member.email) if r.member else None)
                     for r in delivery.resolutions])


def _committed_then_queued(due: list[int]) -> None:
    """Commit, then hand the deliveries to the queue: a worker reads committed rows only."""
    db.session.commit()
    queue().enqueue(due)


@endpoint("GET", POSITION + "/batch", tag="sending", response=BatchOut)
def read_batch(position_id: int) -> BatchOut:
    """Read the position's batch and its deliveries by state."""
    return batch_out(position_of(position_id))


@endpoint("POST", POSITION + "/batch", tag="sending", body=BatchIn, response=BatchOut,
          status=202, errors=(404,))
def send_batch(position_id: int, body: BatchIn) -> Reply:
    """Freeze every approved letter and queue what may leave.

    Every letter must be approved. The letters are frozen to their exact bytes; with `hold`
    they wait for the hire's acceptance, with `send_at` for that time, else the emails leave
    now. A big batch is frozen by a worker (`state` is `freezing` until it is done).
    Sending twice freezes nothing twice.
    """
    position = position_of(position_id)
    started = sending.start_sending(
        db.session, position, actor(), send_at=body.send_at, hold=body.hold,
        page_size=str(current_app.config.get("PAGE_SIZE") or "A4"), timeout=_timeout(),
        inline_max=int(current_app.config.get("FREEZE_INLINE_MAX", 200)))
    if started.background:
        db.session.commit()
        queue().freeze(position.id, actor().id,
                       body.send_at.isoformat() if body.send_at else None, body.hold)
        db.session.expire_all()
    else:
        _committed_then_queued(started.due)
    return Reply(batch_out(position), 202)


@endpoint("POST", POSITION + "/batch/release", tag="sending", response=BatchOut)
def release_batch(position_id: int) -> BatchOut:
    """Record that the hire accepted, and let a held batch go.

    A batch with a later `send_at` becomes `scheduled`; otherwise its emails are queued.
    """
    position = position_of(position_id)
    _committed_then_queued(sending.release(db.session, position))
    return batch_out(position)


@endpoint("POST", POSITION + "/batch/posted", tag="sending", response=BatchOut)
def confirm_posted(position_id: int) -> BatchOut:
    """Record that the released letters for post were printed and mailed.

    Each queued postal letter becomes sent, with the token as the one who confirmed it. Fetch
    them first as PDFs (`GET /letters/{letter_id}/pdf`); the browser offers them as one file.
    """
    position = position_of(position_id)
    sending.confirm_posted(db.session, position, actor())
    return batch_out(position)


@endpoint("POST", POSITION + "/batch/cancel", tag="sending", response=BatchOut)
def cancel_batch(position_id: int) -> BatchOut:
    """Cancel a held or scheduled batch: nothing was sent, its letters are drafts again."""
    position = position_of(position_id)
    sending.cancel_batch(db.session, position)
    return batch_out(position)


@endpoint("GET", POSITION + "/deliveries", tag="sending", query=DeliveryQuery,
          response=DeliveryList)
def list_deliveries(position_id: int, query: DeliveryQuery) -> DeliveryList:
    """List a position's deliveries, by id; filter by `state`."""
    rows = deliveries.deliveries_page(db.session, position_of(position_id),
                                      after=query.after(), limit=query.limit + 1,
                                      state=query.state)
    return DeliveryList(data=[delivery_out(d) for d in rows[:query.limit]],
                        next_cursor=cursor_after(rows, query.limit, lambda d: d.id))


@endpoint("GET", DELIVERY, tag="sending", response=DeliveryOut)
def read_delivery(delivery_id: int) -> DeliveryOut:
    """Read one delivery: state, attempts, the server's reply and people's decisions."""
    return delivery_out(db.session.get(Delivery, delivery_id))


@endpoint("POST", DELIVERY + "/resolve", tag="sending", body=ResolveIn, response=DeliveryOut)
def resolve_delivery(delivery_id: int, body: ResolveIn) -> DeliveryOut:
    """Decide about a failed or in-doubt letter.

    `mark_sent` (it arrived), `resend` (once more; never automatic for a letter in doubt) or
    `cancel`. The decision, with its reason, is recorded.
    """
    delivery = db.session.get(Delivery, delivery_id)
    enqueue = sending.resolve(db.session, delivery, actor(), body.action,
                              reason=body.reason.strip() or None)
    _committed_then_queued([delivery.id] if enqueue else [])
    db.session.expire_all()
    return delivery_out(db.session.get(Delivery, delivery_id))
