"""The worker's side of sending: the one place in sending that commits.

A queue message carries one or more delivery ids. The worker claims them, topped up to
``batch`` other due deliveries of the same organization, in ONE conditional UPDATE and
commits, then sends them one by one over its reused connection and records every outcome in
one more commit. Two commits per batch instead of two per letter is what makes sending as
fast as mailmerge (bench/README.md). The price: a worker that dies mid-batch leaves every
row it claimed ``sending``, those it had not sent yet included, and the sweeper turns them
all ``in_doubt``: up to ``batch`` letters for a person to check instead of one. None is ever
resent automatically. The queue messages of the other claimed ids find their rows taken and
are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import RecruiterError
from ...models import Delivery, Member, Organization, Position
from .. import rechecks
from . import delivery as steps
from .batches import CLAIMABLE, SENDING_TIMEOUT, now_utc, queued_email_ids
from .delivery import MAX_ATTEMPTS, Attempt
from .freeze import freeze_batch

CLAIM_BATCH = 10  # RECRUITER_SEND_CLAIM_BATCH's default


def deliver_ids(session: Session, delivery_ids: Sequence[int], mail_url: str, *,
                now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS,
                batch: int = CLAIM_BATCH,
                sending_timeout: timedelta = SENDING_TIMEOUT) -> list[Attempt]:
    """Handle one queue message naming one or more deliveries; one Attempt per id handled.

    Usually the first claim takes them all; an id it left (another organization's, one past
    the rate limit, one another worker holds) gets a claim of its own, or is skipped.
    """
    attempts: dict[int, Attempt] = {}
    for delivery_id in delivery_ids:
        if delivery_id not in attempts:
            for attempt in deliver_batch(session, delivery_id, mail_url, now=now,
                                         max_attempts=max_attempts, batch=batch,
                                         sending_timeout=sending_timeout,
                                         prefer=[i for i in delivery_ids if i not in attempts]):
                attempts.setdefault(attempt.delivery_id, attempt)
    return list(attempts.values())


def deliver_batch(session: Session, delivery_id: int, mail_url: str, *,
                  now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS,
                  batch: int = CLAIM_BATCH, sending_timeout: timedelta = SENDING_TIMEOUT,
                  prefer: Sequence[int] = ()) -> list[Attempt]:
    """Claim, send each claimed letter once, record what happened.

    Claims ``delivery_id`` and up to ``batch - 1`` other due deliveries of its organization
    (those in ``prefer`` first), never more than the organization's per-minute allowance.
    Returns one Attempt per claimed delivery, the one for ``delivery_id`` first (``skipped``
    when it was not ours to send).
    """
    now = now or now_utc()
    row = session.execute(
        select(Delivery.state, Delivery.channel, Delivery.next_attempt_at,
               Delivery.organization_id, Organization.sender_email,
               Organization.send_rate_per_minute, Organization.bounce_domain)
        .join(Organization, Organization.id == Delivery.organization_id)
        .where(Delivery.id == delivery_id)).first()
    if row is None or row.state not in CLAIMABLE or row.channel != "email":
        session.rollback()
        return [Attempt(delivery_id, "skipped")]
    org_id, limit = row.organization_id, max(batch, 1)
    if row.send_rate_per_minute:
        limit = min(limit, steps.allowance(session, org_id, row.send_rate_per_minute, now))
        if limit <= 0:
            wait = now + timedelta(seconds=60 / row.send_rate_per_minute)
            # Conditional, like a claim: a worker that claimed the row since we read it keeps it.
            deferred = steps.defer(session, delivery_id, wait)
            session.commit()
            return [Attempt(delivery_id, "queued", wait) if deferred else
                    Attempt(delivery_id, "skipped")]
    if row.next_attempt_at is not None and row.next_attempt_at > now:  # early, or a duplicate
        session.rollback()
        return [Attempt(delivery_id, "skipped")]
    claimed = steps.claim_batch(session, delivery_id, org_id, now, limit, prefer,
                                bounce_domain=row.bounce_domain)
    if not claimed:
        session.commit()
        return [Attempt(delivery_id, "skipped")]
    # The last look before anything leaves: is each candidate still declined, and is this
    # the only letter of the position to this address? In the claim's transaction, which
    # sees every claim committed before it, as it would after our commit.
    blocked = rechecks.blocked_letters(session, [c.letter_id for c in claimed])
    # The claims are durable before the first byte goes out, and no transaction is held
    # while talking to the server.
    session.commit()
    results = steps.send_claimed(claimed, row.sender_email, mail_url, sending_timeout, blocked,
                                 bounce_domain=row.bounce_domain)
    attempts = steps.record(session, org_id, claimed, results, now, max_attempts)
    session.commit()
    if attempts[0].delivery_id != delivery_id:
        attempts.insert(0, Attempt(delivery_id, "skipped"))
    return attempts


def sweep(session: Session, *, now: datetime | None = None,
          sending_timeout: timedelta = SENDING_TIMEOUT) -> list[int]:
    """The periodic safety net (``delivery.sweep``), committed; the deliveries to enqueue."""
    due = steps.sweep(session, now=now, sending_timeout=sending_timeout)
    session.commit()
    return due


def freeze_for_worker(session: Session, position_id: int, member_id: int, *,
                      send_at: datetime | None, hold_until_accepted: bool,
                      page_size: str = "A4") -> list[int]:
    """The worker's side of a big approval: freeze, commit, and return the emails due now.

    A refusal is kept on the position (``freeze_problem``) for the page to show; nothing of
    the batch is written, exactly as when the page freezes a small batch itself.
    """
    position = session.get(Position, position_id)
    member = session.get(Member, member_id)
    if position is None or member is None:
        return []
    try:
        batch, created = freeze_batch(session, position, member, send_at=send_at,
                                      hold_until_accepted=hold_until_accepted,
                                      page_size=page_size)
    except RecruiterError as exc:
        session.rollback()
        position.freeze_problem = str(exc)[:4000]
        position.freezing_since = None
        session.commit()
        return []
    position.freezing_since = position.freeze_problem = None
    due = queued_email_ids(session, batch) if created else []
    session.commit()
    return due
