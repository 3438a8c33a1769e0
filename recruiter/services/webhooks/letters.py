"""The product's events as webhook payloads: letters, batches and positions.

Payloads carry ids (as strings), channels, states and UTC times only; no candidate name,
email, note or letter text ever goes to a receiver (nor into the outbox table). Each function
asks ``events.wanted`` first, so an organization without endpoints costs no extra query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ...models import Application, Batch, Delivery, Letter, Position, WebhookFanout
from .events import NUDGE, emit, emit_many, ids_as_strings, iso, wanted

UNFINISHED = ("held", "queued", "sending", "retry_wait")  # a batch with one is not complete
STATE_OF = {"letter.sent": "sent", "letter.failed": "failed", "letter.in_doubt": "in_doubt",
            "letter.bounced": "bounced", "letter.cancelled": "cancelled"}
_IDS = ("letter_id", "application_id", "position_id", "batch_id", "delivery_id")


def _external_id_column() -> Any:
    # The ATS's id arrives with migration 0011; before it, payloads carry None.
    return getattr(Application, "external_id", None)


def _rows(session: Session, organization_id: int, delivery_ids: Sequence[int]) -> list[Any]:
    """What the payloads of these deliveries need, in one query; the organization's only."""
    external = _external_id_column()
    columns = [Delivery.id.label("delivery_id"), Delivery.channel, Letter.id.label("letter_id"),
               Letter.batch_id, Application.id.label("application_id"),
               Application.position_id]
    if external is not None:
        columns.append(external.label("external_id"))
    return list(session.execute(
        select(*columns).join(Letter, Letter.id == Delivery.letter_id)
        .join(Application, Application.id == Letter.application_id)
        .where(Delivery.id.in_(list(delivery_ids)),
               Delivery.organization_id == organization_id).order_by(Delivery.id)))


def letter_payload(*, letter_id: int, application_id: int, position_id: int,
                   batch_id: int | None, delivery_id: int | None, channel: str | None,
                   state: str, at: datetime, external_id: str | None = None,
                   reason: str | None = None) -> dict[str, Any]:
    """One letter event's data."""
    data = {"letter_id": letter_id, "application_id": application_id,
            "position_id": position_id, "batch_id": batch_id, "delivery_id": delivery_id,
            "external_id": external_id, "channel": channel, "state": state, "at": iso(at)}
    if reason is not None:
        data["reason"] = reason
    return ids_as_strings(data, _IDS)


def _stage(session: Session, organization_id: int, type_: str, delivery_ids: Sequence[int],
           at: datetime, state: str | None = None, reason: str | None = None) -> None:
    session.execute(insert(WebhookFanout.__table__), [{
        "organization_id": organization_id, "type": type_, "delivery_ids": list(delivery_ids),
        "state": state, "reason": reason, "at": at}])
    session.info[NUDGE] = True


def deliveries_changed(session: Session, organization_id: int, type_: str,
                       delivery_ids: Sequence[int], at: datetime, *, state: str | None = None,
                       reason: str | None = None) -> None:
    """One ``type_`` event per delivery (sent, failed, in doubt, cancelled), soon.

    The send's transaction gets one small row (``WebhookFanout``); the webhook worker makes the
    events from it (``expand_staged``). With an endpoint per event, making them in the send
    slowed 5,000 letters by 15 to 21 per cent (bench/bench_webhooks.py).
    """
    if not delivery_ids or not wanted(session, organization_id, type_):
        return
    if type_ == "letter.cancelled":  # now: a cancelled batch takes its deliveries with it
        _changed(session, organization_id, type_, delivery_ids, at, state, reason)
    else:
        _stage(session, organization_id, type_, delivery_ids, at, state, reason)


def _changed(session: Session, organization_id: int, type_: str, delivery_ids: Sequence[int],
             at: datetime, state: str | None, reason: str | None) -> None:
    emit_many(session, organization_id, type_, [
        letter_payload(letter_id=row.letter_id, application_id=row.application_id,
                       position_id=row.position_id, batch_id=row.batch_id,
                       delivery_id=row.delivery_id, channel=row.channel,
                       state=state or STATE_OF[type_], at=at, reason=reason,
                       external_id=getattr(row, "external_id", None))
        for row in _rows(session, organization_id, delivery_ids)])


def letters_cancelled(session: Session, organization_id: int, letters: Iterable[Letter], *,
                      reason: str | None, state: str = "cancelled",
                      at: datetime | None = None) -> None:
    """``letter.cancelled`` for letters at hand (their application and deliveries loaded)."""
    if not wanted(session, organization_id, "letter.cancelled"):
        return
    at = at or datetime.now(UTC)
    items = []
    for letter in letters:
        application = letter.application
        delivery = next(iter(letter.deliveries), None)
        items.append(letter_payload(
            letter_id=letter.id, application_id=application.id,
            position_id=application.position_id, batch_id=letter.batch_id,
            delivery_id=delivery.id if delivery is not None else None,
            channel=delivery.channel if delivery is not None else None, state=state, at=at,
            external_id=getattr(application, "external_id", None), reason=reason))
    emit_many(session, organization_id, "letter.cancelled", items)


def letter_ids_cancelled(session: Session, organization_id: int,
                         stopped: Sequence[tuple[int, str]], at: datetime) -> None:
    """``letter.cancelled`` for letters known by id (letter id, reason code), in bulk."""
    if not stopped or not wanted(session, organization_id, "letter.cancelled"):
        return
    reasons = dict(stopped)
    ids = list(session.scalars(select(Delivery.id).where(Delivery.letter_id.in_(reasons))))
    emit_many(session, organization_id, "letter.cancelled", [
        letter_payload(letter_id=row.letter_id, application_id=row.application_id,
                       position_id=row.position_id, batch_id=row.batch_id,
                       delivery_id=row.delivery_id, channel=row.channel, state="cancelled",
                       at=at, external_id=getattr(row, "external_id", None),
                       reason=reasons.get(row.letter_id))
        for row in _rows(session, organization_id, ids)])


def batches_completed(session: Session, organization_id: int, delivery_ids: Sequence[int],
                      at: datetime | None = None) -> None:
    """``batch.completed``, soon, for each batch of these deliveries once nothing is left.

    Staged like the letters' events; the worker checks the batches when it expands the row,
    and writes each batch's event once (its dedup key), however many chunks saw it done.
    """
    if delivery_ids and wanted(session, organization_id, "batch.completed"):
        _stage(session, organization_id, "batch.completed", delivery_ids,
               at or datetime.now(UTC))


def expand_staged(session: Session, limit: int = 100) -> int:
    """Turn staged rows into events and their deliveries, oldest first; how many rows.

    Claimed with SKIP LOCKED on PostgreSQL, so two workers never expand one row; the caller
    commits.
    """
    rows = list(session.scalars(select(WebhookFanout).order_by(WebhookFanout.id).limit(limit)
                                .with_for_update(skip_locked=True)))
    for row in rows:
        if row.type == "batch.completed":
            _completed(session, row.organization_id, row.delivery_ids, row.at)
        else:
            _changed(session, row.organization_id, row.type, row.delivery_ids, row.at,
                     row.state, row.reason)
        session.delete(row)
    session.flush()
    return len(rows)


def _completed(session: Session, organization_id: int, delivery_ids: Sequence[int],
               at: datetime) -> None:
    batch_ids = session.scalars(
        select(Letter.batch_id).join(Delivery, Delivery.letter_id == Letter.id)
        .where(Delivery.id.in_(list(delivery_ids)), Letter.batch_id.is_not(None),
               Delivery.organization_id == organization_id).distinct())
    # Newest letter first: letters leave in id order, so an unfinished one is found at once;
    # an EXISTS walked the sent ones first, each chunk, and the send slowed as it went.
    finished = [batch_id for batch_id in batch_ids if session.scalar(
        select(Letter.id).join(Delivery, Delivery.letter_id == Letter.id)
        .where(Letter.batch_id == batch_id, Delivery.state.in_(UNFINISHED))
        .order_by(Letter.id.desc()).limit(1)) is None]
    if not finished:
        return
    done = session.execute(select(Batch.id, Batch.position_id)
                           .where(Batch.id.in_(finished))).all()
    counts: dict[int, dict[str, int]] = {}
    for batch_id, state, count in session.execute(
            select(Letter.batch_id, Delivery.state, func.count())
            .join(Letter, Letter.id == Delivery.letter_id)
            .where(Letter.batch_id.in_([row.id for row in done]))
            .group_by(Letter.batch_id, Delivery.state)):
        counts.setdefault(batch_id, {})[state] = count
    stamp = iso(at)
    emit_many(session, organization_id, "batch.completed", [
        {"batch_id": str(row.id), "position_id": str(row.position_id), "state": "completed",
         "deliveries": counts.get(row.id, {}), "at": stamp} for row in done],
        dedup_keys=[f"batch.completed:{row.id}" for row in done])


def letters_ready(session: Session, position: Position) -> str | None:
    """``position.letters_ready``: the position is filled and its letters wait for review.

    Once per position and review version: a second call for the same version (the browser's
    outcome change, then the API's "filled" call) writes nothing. The event's id, or None.
    """
    if not wanted(session, position.organization_id, "position.letters_ready"):
        return None
    session.flush()
    version = session.scalar(select(Position.review_version)
                             .where(Position.id == position.id)) or 0
    data = {"position_id": str(position.id), "status": position.status,
            "review_version": version, "filled_at": iso(position.filled_at),
            "at": iso(datetime.now(UTC))}
    return emit(session, position.organization_id, "position.letters_ready", data,
                dedup_key=f"position.letters_ready:{position.id}:{version}")
