"""Freezing: every approved letter of a position becomes exact bytes, with one delivery each.

The only place a ``FrozenLetter`` is made. An email letter freezes to its ``.eml``, which is
also its audit copy; only a letter that goes by post is laid out as a PDF here (the PDF of
an email letter is rendered on request from the letter's text, dated the day it was frozen).
Nothing is committed here: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...errors import AddressError, RecruiterError
from ...models import Batch, Delivery, FrozenLetter, Letter, Member, Organization, Position
from .. import audit, dkim_sign, files, rechecks
from .. import letters as letters_service
from ..mail import Envelope, Outgoing, new_message_id, render_emails, valid_address
from ..organization import reply_address
from ..orgtime import org_today
from ..pdf import render_pdfs_parallel
from ..rendering import Boilerplate as Source
from ..versions import bump_review
from .batches import SENDING_TIMEOUT, batch_of, now_utc, released_state

CHUNK = 500  # frozen letters written and recorded in the audit chain per step


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def freeze_batch(session: Session, position: Position, member: Member, *,
                 send_at: datetime | None = None, hold_until_accepted: bool = True,
                 now: datetime | None = None, page_size: str = "A4") -> tuple[Batch, bool]:
    """Freeze every approved letter of ``position`` into one batch; returns (batch, created).

    Nothing is written until every letter has rendered in send mode to its final bytes: a
    refusal leaves no trace, whatever the caller does next. Approving twice (a double click,
    two tabs, two members) returns the existing batch: the batch row is inserted with ON
    CONFLICT DO NOTHING on its unique position, so the second approval finds the first's.
    """
    if (existing := batch_of(session, position)) is not None:
        return existing, False
    now = now or now_utc()
    org = session.get(Organization, position.organization_id)
    today = org_today(org, now)
    letters = [x for x in letters_service.refresh_letters(session, position, today=today)
               if x.status != "cancelled"]
    # Checked again as the candidates are now: a hire, a withdrawal, a reinstatement or a
    # second letter to the same person is cancelled with its reason, never frozen.
    letters = rechecks.recheck(session, letters, step="freezing", actor=member)
    if not letters:
        raise RecruiterError("This position has no letters to send.")
    drafts = [x for x in letters if x.status != "approved"]
    if drafts:
        raise RecruiterError(f"{len(drafts)} of {len(letters)} letters are not approved yet; "
                             "approve them all before sending.")
    try:
        sender = valid_address(org.sender_email, "sender address")
    except AddressError as exc:
        raise RecruiterError(f"Set the organization's sender email first: {exc}") from exc
    frozen = render_all(letters, org, sender, now, today,  # may refuse; writes nothing
                        page_size=page_size)
    batch = _insert_batch(session, dict(
        organization_id=position.organization_id, position_id=position.id,
        approved_by_id=member.id, approved_at=now, send_at=send_at,
        hold_until_accepted=hold_until_accepted, state="held"))
    if batch is None:  # someone else froze this position a moment ago: theirs is the batch
        session.expire_all()
        existing = batch_of(session, position)
        if existing is None:
            raise RecruiterError("This position's batch changed while freezing; try again.")
        return existing, False
    batch.state = released_state(position, batch, now)
    _store(session, frozen, batch, now, member,
           "queued" if batch.state == "released" else "held")
    bump_review(session, position.id)  # frozen letters are never re-rendered
    audit.record(session, position.organization_id, "batch.frozen", actor=member,
                 subject=position, payload={"batch": batch.id, "letters": len(letters)})
    session.flush()
    return batch, True


def freezing(position: Position, now: datetime | None = None, *,
             timeout: timedelta = SENDING_TIMEOUT) -> bool:
    """Whether a worker is freezing this position's batch right now (and not for ``timeout``)."""
    since = position.freezing_since
    return since is not None and (now or now_utc()) - since < timeout


def request_freeze(session: Session, position: Position, *,
                   timeout: timedelta = SENDING_TIMEOUT) -> bool:
    """Mark the position as being frozen by a worker; False when one already is."""
    if freezing(position, timeout=timeout):
        return False
    position.freezing_since, position.freeze_problem = now_utc(), None
    session.flush()
    return True


def _insert_batch(session: Session, values: dict) -> Batch | None:
    """Insert the batch row unless the position has one; None when it already had.

    No SAVEPOINT: with SQLite's Python driver, releasing the outermost savepoint commits,
    which would store the batch even when the caller rolls back.
    """
    dialect = session.get_bind(mapper=Batch.__mapper__).dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
        batch_id = session.scalar(insert_(Batch).values(**values)
                                  .on_conflict_do_nothing(index_elements=["position_id"])
                                  .returning(Batch.id))
        return None if batch_id is None else session.get(Batch, batch_id)
    batch = Batch(**values)
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError:
        return None
    return batch


@dataclass
class Frozen:
    """One letter's final bytes, made before anything is written."""

    letter: Letter
    channel: str
    recipient: str | None
    message_id: str
    eml: bytes | None
    pdf: bytes | None


def render_all(letters: Sequence[Letter], org: Organization, sender: str, now: datetime,
               today: date, *, page_size: str = "A4") -> list[Frozen]:
    """Every letter's final bytes, or a RecruiterError naming each one that fails.

    Emails for the letters with an address; PDFs, laid out across the PDF worker processes,
    only for the letters that go by post.
    """
    sign = dkim_sign.signer()  # a bad DKIM setting refuses here, before anything is rendered
    domain = sender.rpartition("@")[2]
    message_ids = [new_message_id(domain) for _ in letters]
    # Always written: the position's, else the organization's, else the sender's address, so
    # replies reach a person (services/organization.py ``reply_address``).
    reply_to = {letter.application.position_id: reply_address(org, letter.application.position)
                for letter in letters}
    sources: dict[int, Source] = {}  # one object per version: pickled once per chunk
    outgoing = []
    for letter, context, message_id in zip(
            letters, letters_service.send_contexts(letters, today=today), message_ids,
            strict=True):
        version = letter.boilerplate_version
        if version.id not in sources:
            sources[version.id] = Source(subject=version.subject, body=version.body)
        application = letter.application
        envelope = None
        if application.letter_channel == "email":
            envelope = Envelope(org.sender_name or org.name, sender,
                                application.candidate.full_name,
                                application.candidate.email or "", message_id,
                                reply_to[application.position_id])
        outgoing.append(Outgoing(sources[version.id], context, envelope))
    # Send mode once more (an unfilled field now fails instead of showing), and the email
    # built from that rendering: when its hash is the approved one, so is its content.
    emails = render_emails(outgoing, date=now)
    problems = []
    for letter, email in zip(letters, emails, strict=True):
        if email.content_hash is not None and email.content_hash != letter.content_hash:
            problems.append(f"{letter.application.candidate.full_name}: it changed since it "
                            "was approved; review it again")
        elif email.error is not None:
            problems.append(f"{letter.application.candidate.full_name}: {email.error}")
    if problems:
        raise RecruiterError("Nothing was sent, because these letters do not render: "
                             + "; ".join(problems[:10]) + ("; …" if len(problems) > 10 else ""))
    # Dated as the day it is frozen, without touching the row before the batch is ours.
    post = [x for x in letters if x.application.letter_channel == "post"]
    pdfs = dict(zip((x.id for x in post), render_pdfs_parallel(
        [files.pdf_letter(x, org, day=today) for x in post], page_size=page_size),
        strict=True))
    return [Frozen(letter, letter.application.letter_channel, email.recipient, message_id,
                   None if email.eml is None else sign(email.eml), pdfs.get(letter.id))
            for letter, email, message_id in zip(letters, emails, message_ids, strict=True)]


def _store(session: Session, frozen: Sequence[Frozen], batch: Batch, now: datetime,
           actor: Member, state: str) -> None:
    """Write the frozen copies, their SHA-256 and one delivery per letter, in chunks.

    In the caller's transaction; every copy's hashes go into the audit chain before any send.
    """
    for start in range(0, len(frozen), CHUNK):
        chunk = frozen[start:start + CHUNK]
        pairs = []
        for item in chunk:
            letter = item.letter
            copy = FrozenLetter(
                organization_id=letter.organization_id, letter=letter, batch_id=batch.id,
                boilerplate_version_id=letter.boilerplate_version_id,
                message_id=item.message_id, frozen_at=now,
                eml=item.eml, eml_sha256=None if item.eml is None else _sha(item.eml),
                pdf=item.pdf, pdf_sha256=None if item.pdf is None else _sha(item.pdf))
            letter.status, letter.batch_id = "frozen", batch.id
            session.add(copy)
            session.add(Delivery(organization_id=letter.organization_id, letter=letter,
                                 channel=item.channel, state=state, recipient=item.recipient))
            pairs.append((letter, copy))
        session.flush()
        audit.letters_frozen(session, pairs, actor)
