"""Delivering webhook events: claim due deliveries, POST them signed, record, retry or give up.

At least once: a delivery is claimed (``delivering``, made durable) before the request, and
one whose worker died is offered again once ``stuck_after`` has passed, so a receiver may see
an event twice and de-duplicates on ``webhook-id``. 2xx is delivered; anything else (a 3xx,
which is never followed, a 4xx or 5xx, a timeout, a refused address) waits and tries again
after 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h, and is ``dead`` after ``MAX_ATTEMPTS``.
No transaction is held while talking to a receiver. The worker (``recruiter/queue.py``)
calls ``deliver_due``; this module commits, as ``sending/worker.py`` does for letters.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ...errors import RecruiterError
from ...models import Member, Organization, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .. import audit
from . import guard, signing
from .events import NUDGE, body_of
from .letters import expand_staged

BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 30, 120, 360, 720, 1440))
MAX_ATTEMPTS = 8
TIMEOUT = 10.0  # seconds; the app's WEBHOOK_TIMEOUT
STUCK_AFTER = timedelta(minutes=5)  # a claim older than this belonged to a worker that died
CLAIM = 20
USER_AGENT = "recruiter-webhooks/1"


@dataclass(frozen=True)
class Result:
    """What one attempt came to."""

    delivery_id: int
    state: str  # delivered, pending (to retry), dead, or skipped (not ours any more)
    status: int | None = None
    error: str | None = None


def now_utc() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _due(now: datetime, stuck_after: timedelta) -> Any:
    active = select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))
    return and_(
        or_(and_(WebhookDelivery.state == "pending",
                 or_(WebhookDelivery.next_attempt_at.is_(None),
                     WebhookDelivery.next_attempt_at <= now)),
            and_(WebhookDelivery.state == "delivering",
                 WebhookDelivery.last_attempt_at < now - stuck_after)),
        WebhookDelivery.endpoint_id.in_(active))  # a disabled endpoint's rows wait for it


def claim(session: Session, now: datetime, *, limit: int = CLAIM,
          stuck_after: timedelta = STUCK_AFTER) -> list[int]:
    """Take up to ``limit`` due deliveries (``delivering``, attempts + 1); flushed, not committed.

    On PostgreSQL the rows are picked FOR UPDATE SKIP LOCKED, so two workers never wait for,
    nor take, each other's rows; the UPDATE checks again that each is still due (SQLite).
    """
    picked = list(session.scalars(
        select(WebhookDelivery.id).where(_due(now, stuck_after)).order_by(WebhookDelivery.id)
        .limit(limit).with_for_update(skip_locked=True)))
    if not picked:
        return []
    return sorted(session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked), _due(now, stuck_after))
        .values(state="delivering", attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now)
        .returning(WebhookDelivery.id).execution_options(synchronize_session=False)))


def _work(session: Session, ids: list[int]) -> list[Any]:
    """What each claimed delivery needs to be sent, in one query."""
    return list(session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEvent.public_id,
               WebhookEvent.type, WebhookEvent.payload, WebhookEvent.created_at,
               WebhookEndpoint.url, WebhookEndpoint.secret,
               Organization.webhooks_allow_private)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Organization, Organization.id == WebhookDelivery.organization_id)
        .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)))


def post(url: str, allow_private: bool, body: bytes, headers: dict[str, str],
         timeout: float) -> tuple[int | None, str | None]:
    """POST once; (HTTP status or None, a short error or None when it was a 2xx)."""
    try:
        target = guard.check(url, allow_private=allow_private)
    except guard.TargetRefused as exc:
        return None, f"refused: {exc}"[:300]
    conn = guard.connection(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers={
            **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
        response = conn.getresponse()
        response.read(65536)  # the receiver's reply is not kept: it may hold anything
        status = response.status
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return None, "connection refused: nothing listens at that address and port"
    except ssl.SSLError as exc:
        return None, f"TLS failed: {exc.reason or exc}"[:300]
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    finally:
        conn.close()
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, f"HTTP {status}"


def attempt(row: Any, timeout: float, now: float | None = None) -> tuple[int | None, str | None]:
    """Sign and POST one claimed delivery."""
    body = json.dumps(body_of(row.public_id, row.type, row.created_at, row.payload),
                      separators=(",", ":")).encode()
    headers = signing.headers(row.secret, row.public_id, body, now)
    return post(row.url, bool(row.webhooks_allow_private), body, headers, timeout)


def record(session: Session, delivery_id: int, attempts: int, status: int | None,
           error: str | None, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> Result:
    """Write one attempt's outcome, if the claim is still ours; flushed, not committed."""
    if error is None:
        values: dict[str, Any] = dict(state="delivered", delivered_at=now, last_error=None,
                                      next_attempt_at=None)
    elif attempts >= max_attempts:
        values = dict(state="dead", next_attempt_at=None,
                      last_error=f"gave up after {attempts} attempts: {error}"[:500])
    else:
        values = dict(state="pending", next_attempt_at=now + backoff(attempts),
                      last_error=error[:500])
    moved = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                      WebhookDelivery.state == "delivering",
                                      WebhookDelivery.attempts == attempts)
        .values(last_status=status, **values)
        .execution_options(synchronize_session=False)).rowcount
    return Result(delivery_id, values["state"] if moved else "skipped", status, error)


def deliver_due(session: Session, *, now: datetime | None = None, timeout: float = TIMEOUT,
                max_attempts: int = MAX_ATTEMPTS, stuck_after: timedelta = STUCK_AFTER,
                limit: int = CLAIM, rounds: int = 50) -> list[Result]:
    """Deliver what is due, ``limit`` at a time, until nothing is; commits. The results.

    ``now`` fixes the clock (tests); otherwise each round reads it.
    """
    results: list[Result] = []
    for _ in range(rounds):
        while expand_staged(session):  # the letters' events the send left to make
            session.commit()
        moment = now or now_utc()
        ids = claim(session, moment, limit=limit, stuck_after=stuck_after)
        work = _work(session, ids) if ids else []
        session.commit()  # the claims are durable before anything leaves
        if not work:
            break
        for row in work:
            status, error = attempt(row, timeout)  # signed with the real time, always
            results.append(record(session, row.id, row.attempts, status, error,
                                  now or now_utc(), max_attempts))
            session.commit()
    return results


def resend(session: Session, delivery: WebhookDelivery, *, by: Member | None = None) -> None:
    """Put a delivered or dead delivery back to pending, with the same event id; flushes."""
    if delivery.state not in ("delivered", "dead"):
        raise RecruiterError(f"Only a delivered or dead webhook delivery can be resent; this "
                             f"one is {delivery.state}.")
    moved = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery.id,
                                      WebhookDelivery.state == delivery.state)
        .values(state="pending", attempts=0, next_attempt_at=None)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise RecruiterError("This webhook delivery changed meanwhile; look again.")
    session.expire(delivery)
    audit.record(session, delivery.organization_id, "webhook.resent", actor=by,
                 subject=delivery, payload={"endpoint": delivery.endpoint_id})
    session.info[NUDGE] = True
    session.flush()
