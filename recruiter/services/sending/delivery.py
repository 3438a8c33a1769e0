"""Delivering frozen letters: claim, send, record, sweep. The worker (``worker.py``) commits.

SMTP cannot promise exactly-once delivery, so the rule is: never send a second time
automatically, never lose a letter, and surface every doubt. The delivery row is the truth,
not the queue. A claim is a conditional UPDATE from ``queued``/``retry_wait`` to ``sending``,
made durable before anything leaves. Failures before the content was sent are safe to retry
(``retry_wait``) or final (``failed``, on a 5xx). Once the content has gone out, a lost
connection leaves the delivery ``in_doubt``; so does a worker that died mid-send (``sweep``
finds ``sending`` rows older than the timeout). Nothing in doubt is resent without a person
deciding (``resolve.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from ...errors import AddressError
from ...models import Application, Delivery, FrozenLetter, Letter
from .. import audit, rechecks, verp
from ..mail import valid_address
from ..versions import bump_review
from ..webhooks import letters as hooks
from .batches import CLAIMABLE, SENDING_TIMEOUT, now_utc, release_due
from .transport import Outcome, transport_for

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 8
LOST_WORKER = "The worker stopped while sending this letter; it may or may not have arrived."


@dataclass(frozen=True)
class Attempt:
    """The result of handling one queue message for a delivery."""

    delivery_id: int
    state: str  # the delivery's state afterwards, or "skipped" when it was not ours to send
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker claimed: what sending and recording it need, nothing more."""

    id: int
    letter_id: int
    recipient: str | None
    attempts: int
    bounce_token: str | None = None  # its VERP token, when the organization has a bounce domain
    eml: bytes | None = None  # the frozen message, its Message-ID, and the letter's position
    message_id: str | None = None
    position_id: int | None = None


def due(now: datetime) -> tuple:
    """The conditions of an email delivery that a worker may take at ``now``."""
    return (Delivery.channel == "email", Delivery.state.in_(CLAIMABLE),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))


def claim_batch(session: Session, delivery_id: int, organization_id: int, now: datetime,
                limit: int, prefer: Sequence[int] = (), bounce_domain: str = ""
                ) -> list[Claimed]:
    """Claim ``delivery_id`` and up to ``limit - 1`` other due deliveries of its organization.

    Those in ``prefer`` (the other ids of the same queue message) come first, then the oldest.
    One conditional UPDATE; the caller commits before sending. On PostgreSQL the rows are
    picked FOR UPDATE SKIP LOCKED, so two workers never wait for, nor take, each other's rows.
    With a ``bounce_domain``, a claim without a VERP token gets one, committed with the claim.
    """
    picked = select(Delivery.id).where(Delivery.organization_id == organization_id, *due(now))
    if limit <= 1:
        picked = picked.where(Delivery.id == delivery_id)
    order = [(Delivery.id == delivery_id, 0)] + ([(Delivery.id.in_(prefer), 1)] if prefer else [])
    # A materialized CTE, not ``id IN (subquery)``: PostgreSQL may run such a subquery again
    # for each row, and with SKIP LOCKED each run can return other rows, past the LIMIT.
    picked = (picked.order_by(case(*order, else_=2), Delivery.id)
              .limit(max(limit, 1)).with_for_update(skip_locked=True)
              .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))
    returning = [Delivery.id, Delivery.letter_id, Delivery.recipient, Delivery.attempts,
                 Delivery.bounce_token]
    if session.get_bind(mapper=Delivery.__mapper__).dialect.name == "postgresql":
        # What sending needs comes back with the claim: no second round trip. Not on SQLite,
        # which names RETURNING columns without their table (ambiguous beside the CTE).
        copy = FrozenLetter.letter_id == Delivery.letter_id
        returning += [
            select(FrozenLetter.eml).where(copy).scalar_subquery(),
            select(FrozenLetter.message_id).where(copy).scalar_subquery(),
            select(Application.position_id).join(Letter)
            .where(Letter.id == Delivery.letter_id).scalar_subquery()]
    rows = session.execute(
        update(Delivery).where(Delivery.id == picked.c.id, *due(now))
        .values(state="sending", claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(*returning).execution_options(synchronize_session=False)).all()
    claimed = [Claimed(*row) for row in rows]
    if claimed and len(returning) == 5:
        claimed = _with_messages(session, claimed)
    if bounce_domain:
        tokens = verp.give_tokens(session, [c.id for c in claimed if not c.bounce_token])
        claimed = [replace(c, bounce_token=tokens[c.id]) if c.id in tokens else c
                   for c in claimed]
    return sorted(claimed, key=lambda c: (c.id != delivery_id, c.id))


def allowance(session: Session, organization_id: int, per_minute: int, now: datetime) -> int:
    """How many more letters the organization may send this minute; claims in flight count."""
    audit.lock_organization(session, organization_id)  # the rate limit holds across workers
    used = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.organization_id == organization_id,
        or_(Delivery.sent_at > now - timedelta(minutes=1), Delivery.state == "sending"))) or 0
    return per_minute - used


def defer(session: Session, delivery_id: int, until: datetime) -> bool:
    """Put a due delivery back until ``until`` (the rate limit); False when a worker took it."""
    return session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.state.in_(CLAIMABLE))
        .values(state="queued", next_attempt_at=until)
        .execution_options(synchronize_session=False)).rowcount == 1


def _with_messages(session: Session, claimed: list[Claimed]) -> list[Claimed]:
    """The claims with their frozen message and position, read in one more query."""
    found = {row.letter_id: row for row in session.execute(
        select(FrozenLetter.letter_id, FrozenLetter.eml, FrozenLetter.message_id,
               Application.position_id)
        .join(Letter, Letter.id == FrozenLetter.letter_id)
        .join(Application, Application.id == Letter.application_id)
        .where(FrozenLetter.letter_id.in_([c.letter_id for c in claimed])))}
    return [replace(c, eml=found[c.letter_id].eml, message_id=found[c.letter_id].message_id,
                    position_id=found[c.letter_id].position_id) if c.letter_id in found else c
            for c in claimed]


def send_claimed(claimed: Sequence[Claimed], sender_email: str | None, mail_url: str,
                 sending_timeout: timedelta, blocked: dict[int, str] | None = None,
                 bounce_domain: str = "") -> list[Outcome | None]:
    """Send each claimed letter once; None for one left unsent (handed back, never tried).

    A letter in ``blocked`` (letter id -> reason code) is not sent: its outcome is
    ``cancelled`` with the reason code as the reply. With a ``bounce_domain``, each letter's
    envelope sender is its VERP address; the header From stays the sender's.
    """
    blocked = blocked or {}
    try:  # checked again at the last moment: exactly one valid address each
        sender = valid_address(sender_email or "", "sender address")
        if bounce_domain:
            valid_address(verp.verp_address(verp.new_token(), bounce_domain), "bounce address")
    except AddressError as exc:
        return [Outcome("failed", str(exc)) for _ in claimed]
    transport = transport_for(mail_url)
    # Rows still unsent when half the sending timeout has passed go back to the queue, so
    # that the sweeper never calls a letter in doubt that this worker is about to send.
    deadline = time.monotonic() + sending_timeout.total_seconds() / 2
    results: list[Outcome | None] = []
    unreachable: Outcome | None = None
    for item in claimed:
        if item.letter_id in blocked:
            results.append(Outcome("cancelled", blocked[item.letter_id]))
            continue
        if unreachable is not None:  # the server cannot be reached: no use trying each one
            results.append(unreachable)
            continue
        if time.monotonic() > deadline:
            results.append(None)
            continue
        try:
            recipient = valid_address(item.recipient or "")
        except AddressError as exc:
            results.append(Outcome("failed", str(exc)))
            continue
        envelope = (verp.verp_address(item.bounce_token, bounce_domain)
                    if bounce_domain and item.bounce_token else sender)
        outcome = transport.send(envelope, recipient, item.eml or b"", item.message_id or "")
        if outcome.unreachable:
            unreachable = replace(outcome, reply=f"not tried, the server could not be "
                                                 f"reached: {outcome.reply}")
        results.append(outcome)
    return results


def backoff(attempts: int) -> timedelta:
    """How long to wait before the next attempt after ``attempts`` of them."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def _values(item: Claimed, outcome: Outcome, now: datetime, max_attempts: int
            ) -> tuple[dict, datetime | None]:
    """The delivery's new columns after ``outcome`` (not "sent": ``record_sent`` does that)."""
    if outcome.state == "cancelled":  # stopped before sending: the attempt did not happen
        return dict(state="cancelled", claimed_at=None, attempts=item.attempts - 1), None
    if outcome.state == "retry" and item.attempts < max_attempts:
        retry_at = now + backoff(item.attempts)
        return dict(state="retry_wait", next_attempt_at=retry_at, last_error=outcome.reply,
                    claimed_at=None), retry_at
    if outcome.state == "retry":
        return dict(state="failed", claimed_at=None, last_error=f"gave up after "
                    f"{item.attempts} attempts: {outcome.reply}"), None
    values = dict(state=outcome.state, last_error=outcome.reply)  # failed, or in_doubt,
    if outcome.state == "failed":  # which keeps claimed_at: when it was taken
        values["claimed_at"] = None
    return values, None


def record(session: Session, organization_id: int, claimed: Sequence[Claimed],
           results: Sequence[Outcome | None], now: datetime, max_attempts: int
           ) -> list[Attempt]:
    """Write every outcome and its audit event; flushed, for the worker to commit."""
    sent_at = now_utc()
    rows: dict[tuple[str, ...], list[dict]] = {}
    events: list[tuple[tuple[str, int], dict]] = []
    attempts: list[Attempt] = []
    handed_back: list[int] = []
    stopped: list[tuple[int, str]] = []
    sent: list[tuple[int, str]] = []
    positions: set[int] = set()
    for item, outcome in zip(claimed, results, strict=True):
        if outcome is None:
            handed_back.append(item.id)
            attempts.append(Attempt(item.id, "queued", now))
            continue
        retry_at = None
        if outcome.state == "sent":
            sent.append((item.id, outcome.reply))
            positions.add(item.position_id or 0)
            state = "sent"
        else:
            values, retry_at = _values(item, outcome, now, max_attempts)
            rows.setdefault(tuple(sorted(values)), []).append({"id": item.id, **values})
            state = values["state"]
            if state == "cancelled":
                stopped.append((item.letter_id, outcome.reply))
        attempts.append(Attempt(item.id, state, retry_at))
        events.append((("delivery", item.id), {
            "attempt": item.attempts, "state": state, "reply_code": reply_code(outcome.reply),
            "message_id_sha256": audit.sha256_hex(item.message_id or "")}))
    for group in rows.values():  # bulk UPDATEs by primary key, one per set of columns
        session.execute(update(Delivery), group)
    # The positions came with the claims; should one be missing, record_sent reads them.
    record_sent(session, sent, sent_at, positions=None if 0 in positions else positions,
                organization_id=organization_id)
    if handed_back:  # never tried: the attempt did not happen, and the row is due again
        session.execute(
            update(Delivery).where(Delivery.id.in_(handed_back), Delivery.state == "sending")
            .values(state="queued", claimed_at=None, next_attempt_at=None,
                    attempts=Delivery.attempts - 1)
            .execution_options(synchronize_session=False))
    if events:
        audit.record_many(session, organization_id, "delivery.attempt", events)
    if stopped:
        rechecks.stopped_while_sending(session, organization_id, stopped, sent_at)
    # Webhooks after the audit event: it locked the organization, so the chunk that finishes
    # a batch is the only one to see it complete.
    for type_, final in (("letter.failed", "failed"), ("letter.in_doubt", "in_doubt")):
        hooks.deliveries_changed(session, organization_id, type_,
                                 [a.delivery_id for a in attempts if a.state == final], sent_at)
    hooks.batches_completed(session, organization_id, [c.id for c in claimed], sent_at)
    session.flush()
    return attempts


def record_sent(session: Session, sent: Sequence[tuple[int, str | None]], at: datetime, *,
                positions: Iterable[int] | None = None, by_server: bool = True,
                organization_id: int | None = None) -> None:
    """The one place a letter becomes sent: each delivery (id, reply) and its letter, together.

    ``by_server``: the server took it, so an earlier error is over; a person's word (marked
    sent, posted) keeps the error that made them decide. ``positions``: the letters'
    positions when the caller knows them (else they are read). Rows change in the database,
    not in loaded objects: a caller holding one expires it. ``organization_id``: theirs, for
    the ``letter.sent`` webhook (else read).
    """
    if not sent:
        return
    ids = [delivery_id for delivery_id, _ in sent]
    for org_id in ([organization_id] if organization_id is not None else session.scalars(
            select(Delivery.organization_id).where(Delivery.id.in_(ids)).distinct())):
        hooks.deliveries_changed(session, org_id, "letter.sent", ids, at)
    cleared = {"last_error": None} if by_server else {}
    session.execute(update(Delivery), [
        {"id": delivery_id, "state": "sent", "sent_at": at, "server_reply": reply,
         "claimed_at": None, **cleared} for delivery_id, reply in sent])
    letter_ids = select(Delivery.letter_id).where(Delivery.id.in_(ids)).scalar_subquery()
    session.execute(update(Letter).where(Letter.id.in_(letter_ids)).values(status="sent")
                    .execution_options(synchronize_session=False))
    bump_review(session, position_ids(session, ids) if positions is None else positions)


def reply_code(reply: str) -> int | None:
    """The SMTP code in a reply, without its text (which can name the recipient)."""
    match = re.search(r"\b([245]\d\d)\b", reply or "")
    return int(match.group(1)) if match else None


def sweep(session: Session, *, now: datetime | None = None,
          sending_timeout: timedelta = SENDING_TIMEOUT) -> list[int]:
    """The periodic safety net; returns the due deliveries to enqueue again. Flushes only.

    A ``sending`` row older than the timeout belonged to a worker that died: it is in doubt.
    Scheduled batches whose time has come are released. Every due ``queued`` or
    ``retry_wait`` delivery is enqueued again, so a lost queue message only delays a letter.
    """
    now = now or now_utc()
    lost = session.execute(
        update(Delivery).where(Delivery.state == "sending",
                               Delivery.claimed_at < now - sending_timeout)
        .values(state="in_doubt", last_error=LOST_WORKER)
        .returning(Delivery.id, Delivery.organization_id)
        .execution_options(synchronize_session=False)).all()
    for org_id in {row.organization_id for row in lost}:
        hooks.deliveries_changed(session, org_id, "letter.in_doubt",
                                 [row.id for row in lost if row.organization_id == org_id], now)
    release_due(session, now)
    session.flush()
    return due_ids(session, now)


def due_ids(session: Session, now: datetime) -> list[int]:
    """Every email delivery a worker may take now, oldest first."""
    return list(session.scalars(select(Delivery.id).where(*due(now)).order_by(Delivery.id)))


def position_ids(session: Session, delivery_ids: Iterable[int]) -> list[int]:
    """The positions of these deliveries."""
    return list(session.scalars(
        select(Application.position_id).join(Letter).join(Delivery)
        .where(Delivery.id.in_(list(delivery_ids))).distinct()))
