"""The audit trail: append-only, hash-chained events that hold hashes and references only.

Each organization has its own chain: ``hash = SHA-256(prev_hash ‖ canonical JSON of the
event)``, where the canonical JSON covers the organization, sequence number, actor, action,
subject, time and payload. Letter bytes are covered too: freezing a letter records the SHA-256
of its email and PDF in the chain, so ``verify`` can prove the stored bytes are the ones that
were approved and sent. No event ever holds a name, an address, an email or a note.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..models import (
    Application,
    AuditEvent,
    Candidate,
    FrozenLetter,
    Letter,
    Member,
    Organization,
)

GENESIS = "0" * 64


def sha256_hex(data: bytes | str) -> str:
    """SHA-256 of bytes, or of text as UTF-8."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def derive_key(purpose: str, secret: str | bytes | None = None) -> bytes:
    """A key for one purpose, HMAC-SHA256(secret key, purpose); never stored in the database.

    ``secret`` defaults to the current app's SECRET_KEY, read here and nowhere else in the
    services, so that whoever can read the database still cannot forge what the key signs.
    """
    if secret is None:
        from flask import current_app

        secret = current_app.config["SECRET_KEY"]
    raw = secret if isinstance(secret, bytes) else str(secret).encode()
    return hmac.new(raw, purpose.encode(), hashlib.sha256).digest()


def keyed_hex(key: bytes, data: str) -> str:
    """HMAC-SHA256 of text as UTF-8, in hex."""
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: sorted, compact JSON of every field but the hashes."""
    body = {"org": event.organization_id, "seq": event.seq, "actor": event.actor_id,
            "action": event.action, "subject": [event.subject_type, event.subject_id],
            "at": _iso(event.created_at), "payload": event.payload}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    """SHA-256(prev_hash ‖ canonical JSON)."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(event)).hexdigest()


def _subject(subject: Any) -> tuple[str, int | None]:
    if subject is None:
        return "", None
    if isinstance(subject, tuple):
        return subject
    return type(subject).__name__.lower(), subject.id


def lock_organization(session: Session, organization_id: int) -> None:
    """Make writers of one organization take turns until the transaction ends.

    FOR UPDATE on the organization row on PostgreSQL. SQLite ignores FOR UPDATE; a write takes
    its one writer lock instead (waiting for another writer to commit), so what is read after
    it is the latest and stays so.
    """
    if session.get_bind(AuditEvent).dialect.name == "sqlite":
        session.execute(update(Organization).where(Organization.id == organization_id)
                        .values(id=Organization.id)
                        .execution_options(synchronize_session=False))
    else:
        session.execute(select(Organization.id).where(Organization.id == organization_id)
                        .with_for_update())


def chain_head(session: Session, organization_id: int) -> tuple[int, str]:
    """The sequence number and hash of the chain's last event (0 and GENESIS before any)."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.organization_id ==
                                                      organization_id)
        .order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def record(session: Session, organization_id: int, action: str, *, actor: Member | None = None,
           subject: Any = None, payload: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the organization's chain, in the caller's transaction.

    The organization row is locked first (FOR UPDATE on PostgreSQL, the database's writer lock
    on SQLite), so two writers of one organization take turns and the sequence has no gaps or
    forks.
    """
    return record_many(session, organization_id, action, [(subject, payload)], actor=actor)[0]


def record_many(session: Session, organization_id: int, action: str,
                items: Sequence[tuple[Any, dict[str, Any]]], *,
                actor: Member | None = None) -> list[AuditEvent]:
    """Append several events of one action, as ``record`` would one by one, in one step.

    Each item is (subject, payload). The chain is the same as with ``record``: consecutive
    sequence numbers, each event's hash over the one before. What is saved is the locking and
    the reading of the chain's last event, done once for all of them.
    """
    if not items:
        return []
    session.flush()  # subjects created in this transaction need their ids
    lock_organization(session, organization_id)
    seq, prev = chain_head(session, organization_id)
    events = []
    for subject, payload in items:
        seq += 1
        subject_type, subject_id = _subject(subject)
        event = AuditEvent(organization_id=organization_id, seq=seq,
                           actor_id=actor.id if actor is not None else None, action=action,
                           subject_type=subject_type, subject_id=subject_id,
                           created_at=datetime.now(UTC), payload=payload or {}, prev_hash=prev)
        event.hash = prev = chain_hash(prev, event)
        events.append(event)
    session.add_all(events)
    session.flush()
    return events


def letters_frozen(session: Session, frozen: Sequence[tuple[Letter, FrozenLetter]],
                   actor: Member | None) -> list[AuditEvent]:
    """Record each frozen letter's byte hashes, which ``verify`` later checks the bytes against.

    The letters are of one organization; their events are appended in one step.
    """
    if not frozen:
        return []
    return record_many(session, frozen[0][0].organization_id, "letter.frozen", [
        (letter, {"eml_sha256": copy.eml_sha256, "pdf_sha256": copy.pdf_sha256,
                  "message_id_sha256": sha256_hex(copy.message_id or ""),
                  "boilerplate_version": copy.boilerplate_version_id,
                  "note_revision": letter.note_revision,
                  "override": letter.note_override is not None})
        for letter, copy in frozen], actor=actor)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first thing found broken, named precisely."""

    organization: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.organization}: {self.where}: {self.what}"


def _verify_chain(session: Session, org: Organization
                  ) -> tuple[Problem | None, dict[int, tuple[int, dict]]]:
    """Walk one chain; returns the first problem and what it recorded per letter.

    For each frozen letter: the number of the event that froze it, and the byte hashes.
    """
    recorded: dict[int, tuple[int, dict]] = {}
    prev, expected = GENESIS, 1
    events = session.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id)
                             .order_by(AuditEvent.seq, AuditEvent.id)
                             .execution_options(yield_per=500))
    with events:  # streamed (a server-side cursor on PostgreSQL): closed on an early return
        for event in events:
            where = f"audit event #{event.seq} ({event.action}, id {event.id})"
            if event.seq != expected:
                what = (f"expected event #{expected} here: an event was deleted" if event.seq >
                        expected else "its sequence number repeats an earlier one")
                return Problem(org.name, where, what), recorded
            if event.prev_hash != prev:
                return Problem(org.name, where, "its link to the event before it is broken: "
                               "events were reordered, removed or inserted"), recorded
            if chain_hash(prev, event) != event.hash:
                return Problem(org.name, where, "its content was changed after it was written "
                               "(the hash does not match)"), recorded
            if event.action == "letter.frozen" and event.subject_id is not None:
                recorded[event.subject_id] = (event.seq, event.payload)
            prev, expected = event.hash, expected + 1
    return None, recorded


def _first_bad_letter(org: Organization, rows: Iterable[Any],
                      recorded: dict[int, tuple[int, dict]]) -> Problem | None:
    for letter_id, eml, eml_sha, pdf, pdf_sha, purged_at in rows:
        where = f"letter {letter_id}"
        if letter_id not in recorded:
            return Problem(org.name, where, "it is frozen but the audit chain never recorded it")
        seq, chain = recorded[letter_id]
        for kind, key, data, stored in (("email", "eml_sha256", eml, eml_sha),
                                        ("PDF", "pdf_sha256", pdf, pdf_sha)):
            if data is None:
                if chain.get(key) is not None and purged_at is None:
                    return Problem(org.name, where, f"its stored {kind} bytes, recorded in "
                                   f"audit event #{seq}, are gone, yet its candidate was never "
                                   "purged")
                continue  # a postal letter has no email; a purge deletes the bytes
            actual = sha256_hex(data)
            if actual != chain.get(key) or actual != stored:
                return Problem(org.name, where, f"its stored {kind} bytes do not match the "
                               f"SHA-256 recorded in audit event #{seq}")
    return None


def _verify_letters(session: Session, org: Organization,
                    recorded: dict[int, tuple[int, dict]]) -> Problem | None:
    rows = session.execute(
        select(FrozenLetter.letter_id, FrozenLetter.eml, FrozenLetter.eml_sha256,
               FrozenLetter.pdf, FrozenLetter.pdf_sha256, Candidate.purged_at)
        .join(Letter, Letter.id == FrozenLetter.letter_id)
        .join(Application, Application.id == Letter.application_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .where(FrozenLetter.organization_id == org.id)
        .order_by(FrozenLetter.letter_id)).yield_per(200)
    with rows:  # streamed: closed on an early return
        problem = _first_bad_letter(org, rows, recorded)
    if problem is not None:
        return problem
    present = set(session.scalars(select(Letter.id).where(Letter.organization_id == org.id)))
    if gone := sorted(set(recorded) - present):
        seq, _ = recorded[gone[0]]
        return Problem(org.name, f"letter {gone[0]}", f"audit event #{seq} recorded it, but it "
                       "is no longer in the database")
    return None


def verify(session: Session, organization: Organization | None = None) -> list[Problem]:
    """Recompute every chain and every stored letter's hash; the first problem per org."""
    orgs: Iterable[Organization] = ([organization] if organization is not None else
                                    session.scalars(select(Organization).order_by(
                                        Organization.id)))
    problems = []
    for org in orgs:
        problem, recorded = _verify_chain(session, org)
        problem = problem or _verify_letters(session, org, recorded)
        if problem is not None:
            problems.append(problem)
    return problems


def event_count(session: Session, organization_id: int) -> int:
    """How many events the organization's chain holds."""
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.organization_id == organization_id)) or 0


def events_after(session: Session, organization_id: int, after_seq: int, limit: int
                 ) -> list[tuple[AuditEvent, Member | None]]:
    """Up to ``limit`` events of the organization's chain after ``after_seq``, with actors.

    By sequence number, which the chain numbers without gaps: a reader that starts each page
    after the last one it saw misses nothing and reads nothing twice.
    """
    return [(event, actor) for event, actor in session.execute(
        select(AuditEvent, Member).outerjoin(Member, Member.id == AuditEvent.actor_id)
        .where(AuditEvent.organization_id == organization_id, AuditEvent.seq > after_seq)
        .order_by(AuditEvent.seq).limit(limit))]
