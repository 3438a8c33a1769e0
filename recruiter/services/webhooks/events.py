"""Emitting webhook events into the outbox, in the caller's transaction.

An event and its deliveries (one per active endpoint that takes its type) are inserted with
the change they report: a rolled-back change sends nothing, a committed one is never lost.
An organization without endpoints pays one indexed query per transaction (the answer is kept
in ``session.info`` until the transaction ends) and writes nothing. After the commit the
queue is nudged (``recruiter/queue.py`` listens for the flag set here); the worker delivers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, literal, select, true
from sqlalchemy.orm import Session

from ...models import WEBHOOK_EVENTS, WebhookDelivery, WebhookEndpoint, WebhookEvent
from ...models._base import UTCDateTime

EVENTS = WEBHOOK_EVENTS
NUDGE = "recruiter.webhooks.nudge"  # session.info: events were written in this transaction
_CACHE = "recruiter.webhooks.endpoints"  # session.info: {organization id: [(id, events)]}


def new_event_id() -> str:
    """A public event id, ``evt_`` and 22 random URL-safe characters: the webhook-id."""
    return "evt_" + secrets.token_urlsafe(16)


def iso(moment: datetime | None) -> str | None:
    """A timestamp as receivers get it: UTC, ISO 8601, with a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _endpoints(session: Session, organization_id: int) -> list[tuple[int, list[str]]]:
    cache = session.info.setdefault(_CACHE, {})
    if organization_id not in cache:
        cache[organization_id] = [
            (row.id, list(row.events or ())) for row in session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.events)
                .where(WebhookEndpoint.organization_id == organization_id,
                       WebhookEndpoint.active.is_(True)))]
    return cache[organization_id]


def forget_endpoints(session: Session) -> None:
    """Drop the cached endpoints (an endpoint was added, changed or removed)."""
    session.info.pop(_CACHE, None)


def subscribers(session: Session, organization_id: int, type_: str) -> list[int]:
    """The ids of the organization's active endpoints that take ``type_``."""
    return [endpoint_id for endpoint_id, types in _endpoints(session, organization_id)
            if type_ in types]


def wanted(session: Session, organization_id: int, type_: str) -> bool:
    """Whether anyone listens: callers skip building payloads when no one does."""
    return bool(subscribers(session, organization_id, type_))


def emit(session: Session, organization_id: int, type_: str, data: dict[str, Any], *,
         dedup_key: str | None = None) -> str | None:
    """Write one event and its deliveries; its public id, or None when no endpoint takes it.

    ``dedup_key``: an event that must exist once only; when one with this key was already
    written for the organization, nothing is written again.
    """
    written = emit_many(session, organization_id, type_, [data],
                        dedup_keys=[dedup_key] if dedup_key else None)
    return written[0] if written else None


def emit_many(session: Session, organization_id: int, type_: str,
              items: Sequence[dict[str, Any]], *,
              dedup_keys: Sequence[str] | None = None) -> list[str]:
    """Write one event per item, in bulk (two INSERTs); their public ids.

    Nothing is written, and no query made past the cached endpoint list, when no active
    endpoint of the organization takes ``type_``.
    """
    if type_ not in EVENTS:
        raise ValueError(f"unknown webhook event type {type_!r}")
    endpoint_ids = subscribers(session, organization_id, type_)
    if not endpoint_ids or not items:
        return []
    if dedup_keys is not None:
        seen = set(session.scalars(select(WebhookEvent.dedup_key).where(
            WebhookEvent.organization_id == organization_id,
            WebhookEvent.dedup_key.in_(list(dedup_keys)))))
        kept = [(item, key) for item, key in zip(items, dedup_keys, strict=True)
                if key not in seen]
    else:
        kept = [(item, None) for item in items]
    if not kept:
        return []
    now = datetime.now(UTC)
    rows = [{"public_id": new_event_id(), "organization_id": organization_id, "type": type_,
             "payload": item, "dedup_key": key, "created_at": now} for item, key in kept]
    # Two statements whatever the count, with every chunk of letters sent: the events in one
    # executemany (no RETURNING, which SQLite runs row by row when the order must be kept),
    # then their deliveries selected from them by public id (bench/bench_webhooks.py).
    session.execute(insert(WebhookEvent.__table__), rows)
    event = WebhookEvent.__table__.c
    session.execute(insert(WebhookDelivery.__table__).from_select(
        ["organization_id", "event_id", "endpoint_id", "state", "attempts", "created_at"],
        select(event.organization_id, event.id, WebhookEndpoint.id,
               literal("pending"), literal(0), literal(now, UTCDateTime))
        .select_from(WebhookEvent.__table__.join(WebhookEndpoint.__table__, true()))
        .where(event.public_id.in_([row["public_id"] for row in rows]),
               WebhookEndpoint.id.in_(endpoint_ids))))
    session.info[NUDGE] = True
    return [row["public_id"] for row in rows]


def body_of(public_id: str, type_: str, created_at: datetime, data: dict[str, Any]
            ) -> dict[str, Any]:
    """The JSON a receiver gets for one event."""
    return {"id": public_id, "type": type_, "created_at": iso(created_at), "data": data}


def ids_as_strings(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``data`` with the named ids as strings (None stays None), as the API gives ids."""
    return {**data, **{k: (None if data.get(k) is None else str(data[k])) for k in keys}}


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    # Nothing emitted in a rolled-back transaction exists: no nudge, no stale cache.
    session.info.pop(NUDGE, None)
    session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    # Another transaction may add an endpoint; the nudge flag is read by the queue's listener.
    session.info.pop(_CACHE, None)
