"""Sending: freeze approved letters to exact bytes, then deliver each one exactly once or say why.

SMTP cannot promise exactly-once delivery, so the rule here is: never send a second time
automatically, never lose a letter, and surface every doubt. The database row is the truth,
not the queue:

- ``freeze_batch`` renders every letter in send mode, stores its MIME and PDF bytes with their
  SHA-256, and creates one delivery per letter in the same transaction. One batch per position.
- A worker *claims* deliveries (up to ``SEND_CLAIM_BATCH`` of one organization at once) with a
  conditional UPDATE from ``queued``/``retry_wait`` to ``sending`` and commits before it talks
  to the server. A queue message that arrives twice, or for a delivery someone else claimed,
  changes no row and is dropped.
- Failures before the message content was sent are safe to retry (``retry_wait``) or final
  (``failed``, on a 5xx). Once the content has gone out, a lost connection leaves the
  delivery ``in_doubt``; so does a worker that died mid-send (the sweeper finds ``sending``
  rows older than the timeout). Nothing in doubt is resent without a person deciding.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..errors import AddressError, RecruiterError
from ..models import Application, Batch, Delivery, Letter, Member, Organization, Position
from . import audit, outcomes
from . import letters as letters_service
from .mail import Envelope, Outgoing, new_message_id, render_emails, valid_address
from .orgtime import org_today
from .pdf import render_pdfs_parallel
from .rendering import Boilerplate as Source
from .rendering import letter_date
from .versions import bump_review

CLAIMABLE = ("queued", "retry_wait")
WAITING = ("held", "queued", "retry_wait")
PROBLEMS = ("failed", "in_doubt")
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 8
SENDING_TIMEOUT = timedelta(minutes=10)
PDF_CHUNK = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- freezing ---------------------------------------------------------------------------------


def batch_of(session: Session, position: Position) -> Batch | None:
    """The position's batch, if its letters were approved for sending."""
    return session.scalar(select(Batch).where(Batch.position_id == position.id))


def _released_state(position: Position, batch: Batch, now: datetime) -> str:
    if batch.hold_until_accepted and position.hire_accepted_at is None:
        return "held"
    if batch.send_at is not None and batch.send_at > now:
        return "scheduled"
    return "released"


def freeze_batch(session: Session, position: Position, member: Member, *,
                 send_at: datetime | None = None, hold_until_accepted: bool = True,
                 now: datetime | None = None, page_size: str = "A4") -> tuple[Batch, bool]:
    """Freeze every approved letter of ``position`` into one batch; returns (batch, created).

    Nothing is written until every letter has rendered in send mode, to its email and PDF
    bytes: a refusal leaves no trace, whatever the caller does next. Approving twice (a double
    click, two tabs, two members) returns the existing batch: the batch row is inserted with
    ON CONFLICT DO NOTHING on its unique position, so the second approval finds the first's.
    """
    if (existing := batch_of(session, position)) is not None:
        return existing, False
    now = now or _now()
    org = session.get(Organization, position.organization_id)
    today = org_today(org, now)
    letters = [x for x in letters_service.refresh_letters(session, position, today=today)
               if x.status != "cancelled"]
    # Checked again as the candidates are now: a hire, a withdrawal, a reinstatement or a
    # second letter to the same person is cancelled with its reason, never frozen.
    letters = outcomes.recheck(session, letters, step="freezing", actor=member)
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
    frozen = _render_all(letters, org, sender, now, today,  # may refuse; writes nothing
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
    _store(session, frozen, batch, now, member)
    bump_review(session, position.id)  # frozen letters are never re-rendered
    audit.record(session, position.organization_id, "batch.frozen", actor=member,
                 subject=position, payload={"batch": batch.id, "letters": len(letters)})
    batch.state = _released_state(position, batch, now)
    for delivery in _deliveries(session, batch):
        delivery.state = "queued" if batch.state == "released" else "held"
    session.flush()
    return batch, True


def freezing(position: Position, now: datetime | None = None, *,
             timeout: timedelta = SENDING_TIMEOUT) -> bool:
    """Whether a worker is freezing this position's batch right now (and not for ``timeout``)."""
    since = position.freezing_since
    return since is not None and (now or _now()) - since < timeout


def request_freeze(session: Session, position: Position, *,
                   timeout: timedelta = SENDING_TIMEOUT) -> bool:
    """Mark the position as being frozen by a worker; False when one already is."""
    if freezing(position, timeout=timeout):
        return False
    position.freezing_since, position.freeze_problem = _now(), None
    session.flush()
    return True


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


def _insert_batch(session: Session, values: dict) -> Batch | None:
    """Insert the batch row unless the position has one; None when it already had.

    No SAVEPOINT: with SQLite's Python driver, releasing the outermost savepoint commits,
    which would store the batch even when the caller rolls back.
    """
    dialect = session.get_bind(mapper=Batch.__mapper__).dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        batch_id = session.scalar(insert(Batch).values(**values)
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
class _Frozen:
    """One letter's final bytes, made before anything is written."""

    letter: Letter
    channel: str
    recipient: str | None
    message_id: str
    eml: bytes | None
    pdf: bytes


def _render_all(letters: Sequence[Letter], org: Organization, sender: str, now: datetime,
                today: date, *, page_size: str = "A4") -> list[_Frozen]:
    """Every letter's email and PDF bytes, or a RecruiterError naming each one that fails."""
    domain = sender.rpartition("@")[2]
    message_ids = [new_message_id(domain) for _ in letters]
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
                                application.candidate.email or "", message_id)
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
    dated = letter_date(org.locale, today)
    # Dated as the day it is frozen, without touching the row before the batch is ours; laid
    # out in chunks across the PDF worker processes.
    pdfs = render_pdfs_parallel([replace(letters_service._pdf_letter(x, org), date=dated)
                                 for x in letters], page_size=page_size)
    frozen = [_Frozen(letter, letter.application.letter_channel, email.recipient, message_id,
                      email.eml, pdf)
              for letter, email, message_id, pdf in zip(letters, emails, message_ids, pdfs,
                                                         strict=True)]
    return frozen


def _store(session: Session, frozen: Sequence[_Frozen], batch: Batch, now: datetime,
           actor: Member) -> None:
    """Write the bytes, their SHA-256 and one delivery per letter, in the caller's transaction."""
    for start in range(0, len(frozen), PDF_CHUNK):
        chunk = frozen[start:start + PDF_CHUNK]
        for item in chunk:
            letter = item.letter
            letter.frozen_at, letter.message_id = now, item.message_id
            if item.eml is not None:
                letter.eml, letter.eml_sha256 = item.eml, _sha(item.eml)
            letter.pdf, letter.pdf_sha256 = item.pdf, _sha(item.pdf)
            letter.status, letter.batch_id = "frozen", batch.id
            session.add(Delivery(organization_id=letter.organization_id, letter=letter,
                                 channel=item.channel, state="held", recipient=item.recipient))
        session.flush()
        # The bytes' SHA-256 go into the audit chain before any send.
        audit.letters_frozen(session, [item.letter for item in chunk], actor)


def _deliveries(session: Session, batch: Batch) -> list[Delivery]:
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
    now = now or _now()
    if accepted and position.hire_accepted_at is None:
        position.hire_accepted_at = now
    batch = batch_of(session, position)
    if batch is None or batch.state in ("released", "cancelled"):
        session.flush()
        return []
    batch.state = _released_state(position, batch, now)
    if batch.state != "released":
        session.flush()
        return []
    for delivery in _deliveries(session, batch):
        if delivery.state == "held":
            delivery.state = "queued"
    session.flush()
    ids = queued_email_ids(session, batch)
    audit.record(session, position.organization_id, "batch.queued", subject=position,
                 payload={"batch": batch.id, "emails": len(ids)})
    return ids


def cancel_batch(session: Session, position: Position) -> int:
    """Cancel a held or scheduled batch: its letters become drafts again, nothing was sent."""
    batch = batch_of(session, position)
    if batch is None:
        raise RecruiterError("This position has no batch to cancel.")
    if batch.state not in ("held", "scheduled"):
        raise RecruiterError("Only a held or scheduled batch can be cancelled; this one is "
                             "already sending. Cancel single letters instead.")
    deliveries = _deliveries(session, batch)
    for delivery in deliveries:
        letter = delivery.letter
        letter.status, letter.batch_id, letter.frozen_at = "draft", None, None
        letter.eml = letter.eml_sha256 = letter.pdf = letter.pdf_sha256 = None
        letter.message_id = None
        letter.approved_at = letter.approved_by_id = None
        session.delete(delivery)
    session.delete(batch)
    bump_review(session, position.id)  # drafts again: the refresh follows them once more
    session.flush()
    audit.record(session, position.organization_id, "batch.cancelled", subject=position,
                 payload={"letters": len(deliveries)})
    return len(deliveries)


def release_due(session: Session, now: datetime | None = None) -> list[int]:
    """Release scheduled batches whose time has come; returns deliveries to enqueue."""
    now = now or _now()
    ids: list[int] = []
    for batch in session.scalars(select(Batch).where(Batch.state == "scheduled",
                                                     Batch.send_at <= now)):
        ids += release(session, batch.position, accepted=False, now=now)
    return ids


# --- transports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one attempt: sent, retry, failed or in_doubt, and the server's words.

    ``unreachable``: no connection could be made, so the next letters would fare the same.
    """

    state: str
    reply: str
    unreachable: bool = False


class Transport:
    """Hands one message to the outside world."""

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """Deliver ``message``; never raises for delivery problems, returns an Outcome."""
        raise NotImplementedError

    def close(self) -> None:
        """Release any connection."""


class FileTransport(Transport):
    """The embedded default: one ``.eml`` per message in an outbox folder, written once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """Write the message; a second write of the same Message-ID is refused by the OS."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>")) + ".eml"
        final = self.folder / name
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(message)
        try:
            os.link(tmp, final)  # atomic, and fails if the file exists
        except FileExistsError:
            return Outcome("sent", f"already in the outbox as {name}")
        finally:
            tmp.unlink(missing_ok=True)
        return Outcome("sent", f"written to {final}")


class _Refused(Exception):
    def __init__(self, code: int, text: str, stage: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.stage = code, text, stage


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _ascii_envelope(address: str) -> str | None:
    """The address with its domain in ASCII (IDNA) form; None when the mailbox is not ASCII."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None


def _wire(message: bytes) -> bytes:
    """CRLF line ends, dot-stuffing and the final dot, as SMTP DATA wants them."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


NOOP_IDLE = 10.0  # seconds; see SmtpTransport._connection
_STALE = object()


class SmtpTransport(Transport):
    """SMTP with one reused connection; knows which failures are safe to retry."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or {"smtps": 465, "smtp+starttls": 587}.get(self.scheme, 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self._used = 0.0  # time.monotonic() of the last reply on the connection

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        conn.ehlo()
        if self.scheme == "smtp+starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if self.user:
            conn.login(self.user, self.password or "")
        return conn

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """The connection and whether it is a reused one, which may have died unnoticed.

        Letters of one batch follow each other within milliseconds, so only a connection idle
        for longer than ``NOOP_IDLE`` is checked with a NOOP first: that is when a server drops
        idle clients. ``send`` copes with the rest by reconnecting once.
        """
        if self._conn is not None:
            if time.monotonic() - self._used < NOOP_IDLE:
                return self._conn, True
            try:
                if self._conn.noop()[0] == 250:
                    return self._conn, True
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        self._conn = self._connect()
        self._used = time.monotonic()
        return self._conn, False

    def close(self) -> None:
        """Say goodbye if we can, drop the connection either way."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._conn = None

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """MAIL, RCPT and DATA by hand, so that a failure after the content left is known."""
        outcome = self._envelope(sender, recipient)
        if outcome is _STALE:  # the reused connection had died; nothing left: a new one, once
            outcome = self._envelope(sender, recipient)
        if isinstance(outcome, Outcome):
            return outcome
        conn = self._conn
        assert conn is not None
        # From here on the server may have the message: a failure is a doubt, never a retry.
        try:
            conn.send(_wire(message))
            code, text = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("in_doubt", f"connection lost after the message was sent: {exc}")
        self._used = time.monotonic()
        reply = f"{code} {_decode(text)}"
        if code == 250:
            return Outcome("sent", reply)
        self._reset()
        return Outcome("failed" if 500 <= code < 600 else "retry", f"after DATA: {reply}")

    def _envelope(self, sender: str, recipient: str) -> Outcome | object | None:
        """MAIL FROM, RCPT TO and DATA: None when the server waits for the content.

        ``_STALE`` when a reused connection turned out dead or closing (a hang-up, or a 421
        as a server says goodbye), before anything of the message left.
        """
        try:
            conn, reused = self._connection()
        except smtplib.SMTPResponseException as exc:  # refused at connect, HELO or AUTH
            self.close()
            state = "failed" if 500 <= exc.smtp_code < 600 else "retry"
            return Outcome(state, f"connect: {exc.smtp_code} {_decode(exc.smtp_error)}",
                           unreachable=True)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("retry", f"connection failed before sending: {exc or type(exc)}",
                           unreachable=True)
        try:
            mail_from, rcpt_to = _ascii_envelope(sender), _ascii_envelope(recipient)
            options: list[str] = []
            if mail_from is None or rcpt_to is None:  # a mailbox name beyond ASCII
                if not conn.has_extn("smtputf8"):
                    return Outcome("failed", "RCPT TO: the address has non-ASCII characters "
                                             "before the @, and the server does not offer "
                                             "SMTPUTF8")
                mail_from, rcpt_to, options = sender, recipient, ["SMTPUTF8"]
            self._expect(conn.mail(mail_from, options), (250,), "MAIL FROM")
            self._expect(conn.rcpt(rcpt_to), (250, 251), "RCPT TO")
            self._expect(conn.docmd("DATA"), (354,), "DATA")
        except _Refused as exc:
            if reused and exc.code == 421:
                self.close()
                return _STALE
            self._reset()
            state = "failed" if 500 <= exc.code < 600 else "retry"
            return Outcome(state, f"{exc.stage}: {exc.code} {exc.text}")
        except (smtplib.SMTPException, OSError) as exc:  # nothing of the message has left
            self.close()
            if reused:
                return _STALE
            return Outcome("retry", f"connection failed before sending: {exc or type(exc)}")
        return None

    @staticmethod
    def _expect(reply: tuple[int, bytes], ok: tuple[int, ...], stage: str) -> None:
        code, text = reply
        if code not in ok:
            raise _Refused(code, _decode(text), stage)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


_local = threading.local()


def transport_for(url: str) -> Transport:
    """The transport for ``url`` in this thread: one reused SMTP connection per worker thread."""
    cache: dict[str, Transport] = _local.__dict__.setdefault("transports", {})
    if url not in cache:
        scheme = urlsplit(url).scheme
        if scheme == "file":
            cache[url] = FileTransport(Path(unquote(urlsplit(url).path)))
        elif scheme in ("smtp", "smtps", "smtp+starttls"):
            cache[url] = SmtpTransport(url)
        else:
            raise RecruiterError(f"RECRUITER_MAIL_URL must start with file://, smtp://, "
                                 f"smtp+starttls:// or smtps://, not {scheme}://.")
    return cache[url]


# --- the worker -------------------------------------------------------------------------------
#
# A queue message carries one delivery id. The worker claims that delivery and up to
# ``batch - 1`` other due deliveries of the same organization in ONE conditional UPDATE and
# commits, then sends them one by one over its reused connection and records every outcome
# in one more commit. Two commits per batch instead of two per letter is what makes sending
# as fast as mailmerge (bench/README.md). The price: a worker that dies mid-batch leaves
# every row it claimed ``sending``, those it had not sent yet included, and the sweeper
# turns them all ``in_doubt``: up to ``batch`` letters for a person to check instead of one.
# None is ever resent automatically. The queue messages of the other claimed ids find their
# rows taken and are dropped.


@dataclass(frozen=True)
class Attempt:
    """The result of handling one queue message for a delivery."""

    delivery_id: int
    state: str  # the delivery's state afterwards, or "skipped" when it was not ours to send
    retry_at: datetime | None = None


@dataclass(frozen=True)
class _Claimed:
    """A delivery this worker claimed: what sending and recording it need, nothing more."""

    id: int
    letter_id: int
    recipient: str | None
    attempts: int
    last_error: str | None
    resolved: bool


def _due(now: datetime) -> tuple:
    return (Delivery.channel == "email", Delivery.state.in_(CLAIMABLE),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))


def claim(session: Session, delivery_id: int, now: datetime) -> bool:
    """Take a delivery for sending, committed before any byte goes out. False: not ours."""
    result = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, *_due(now))
        .values(state="sending", claimed_at=now, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1


def claim_batch(session: Session, delivery_id: int, organization_id: int, now: datetime,
                limit: int, prefer: Sequence[int] = ()) -> list[_Claimed]:
    """Claim ``delivery_id`` and up to ``limit - 1`` other due deliveries of its organization.

    Those in ``prefer`` (the other ids of the same queue message) come first, then the oldest.
    One conditional UPDATE; the caller commits before sending. On PostgreSQL the rows are
    picked FOR UPDATE SKIP LOCKED, so two workers never wait for, nor take, each other's rows.
    """
    picked = select(Delivery.id).where(Delivery.organization_id == organization_id, *_due(now))
    if limit <= 1:
        picked = picked.where(Delivery.id == delivery_id)
    order = [(Delivery.id == delivery_id, 0)] + ([(Delivery.id.in_(prefer), 1)] if prefer else [])
    # A materialized CTE, not ``id IN (subquery)``: PostgreSQL may run such a subquery again
    # for each row, and with SKIP LOCKED each run can return other rows, past the LIMIT.
    picked = (picked.order_by(case(*order, else_=2), Delivery.id)
              .limit(max(limit, 1)).with_for_update(skip_locked=True)
              .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))
    rows = session.execute(
        update(Delivery).where(Delivery.id == picked.c.id, *_due(now))
        .values(state="sending", claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.letter_id, Delivery.recipient, Delivery.attempts,
                   Delivery.last_error, Delivery.resolved_by_id)
        .execution_options(synchronize_session=False)).all()
    claimed = [_Claimed(*row[:5], resolved=row[5] is not None) for row in rows]
    return sorted(claimed, key=lambda c: (c.id != delivery_id, c.id))


def _allowance(session: Session, organization_id: int, per_minute: int, now: datetime) -> int:
    """How many more letters the organization may send this minute; claims in flight count."""
    audit.lock_organization(session, organization_id)  # the rate limit holds across workers
    used = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.organization_id == organization_id,
        or_(Delivery.sent_at > now - timedelta(minutes=1), Delivery.state == "sending"))) or 0
    return per_minute - used


def _backoff(attempts: int) -> timedelta:
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def deliver(session: Session, delivery_id: int, mail_url: str, *,
            now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS,
            batch: int = 1) -> Attempt:
    """Handle one queue message; the attempt for ``delivery_id`` (see ``deliver_batch``)."""
    return deliver_batch(session, delivery_id, mail_url, now=now, max_attempts=max_attempts,
                         batch=batch)[0]


def deliver_ids(session: Session, delivery_ids: Sequence[int], mail_url: str, *,
                now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS, batch: int = 1,
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
                  batch: int = 1, sending_timeout: timedelta = SENDING_TIMEOUT,
                  prefer: Sequence[int] = ()) -> list[Attempt]:
    """Claim, send each claimed letter once, record what happened.

    Claims ``delivery_id`` and up to ``batch - 1`` other due deliveries of its organization
    (those in ``prefer`` first), never more than the organization's per-minute allowance.
    Returns one Attempt per claimed delivery, the one for ``delivery_id`` first (``skipped``
    when it was not ours to send).
    """
    now = now or _now()
    row = session.execute(
        select(Delivery.state, Delivery.channel, Delivery.next_attempt_at,
               Delivery.organization_id, Organization.sender_email,
               Organization.send_rate_per_minute)
        .join(Organization, Organization.id == Delivery.organization_id)
        .where(Delivery.id == delivery_id)).first()
    if row is None or row.state not in CLAIMABLE or row.channel != "email":
        session.rollback()
        return [Attempt(delivery_id, "skipped")]
    org_id, limit = row.organization_id, max(batch, 1)
    if row.send_rate_per_minute:
        limit = min(limit, _allowance(session, org_id, row.send_rate_per_minute, now))
        if limit <= 0:
            wait = now + timedelta(seconds=60 / row.send_rate_per_minute)
            # Conditional, like a claim: a worker that claimed the row since we read it keeps it.
            deferred = session.execute(
                update(Delivery).where(Delivery.id == delivery_id, Delivery.state.in_(CLAIMABLE))
                .values(state="queued", next_attempt_at=wait)
                .execution_options(synchronize_session=False)).rowcount
            session.commit()
            return [Attempt(delivery_id, "queued", wait) if deferred else
                    Attempt(delivery_id, "skipped")]
    if row.next_attempt_at is not None and row.next_attempt_at > now:  # early, or a duplicate
        session.rollback()
        return [Attempt(delivery_id, "skipped")]
    claimed = claim_batch(session, delivery_id, org_id, now, limit, prefer)
    session.commit()  # the claims are durable before the first byte goes out
    if not claimed:
        return [Attempt(delivery_id, "skipped")]
    letters = {id_: (eml, message_id) for id_, eml, message_id in session.execute(
        select(Letter.id, Letter.eml, Letter.message_id)  # not the PDF, HTML or text
        .where(Letter.id.in_([c.letter_id for c in claimed])))}
    # The last look before anything leaves: is each candidate still declined, and is this
    # the only letter of the position to this address?
    blocked = outcomes.blocked_letters(session, [c.letter_id for c in claimed])
    session.rollback()  # no read transaction held while talking to the server
    results = _send_claimed(claimed, letters, row.sender_email, mail_url, sending_timeout,
                            blocked)
    attempts = _record(session, org_id, claimed, results, letters, now, max_attempts)
    if attempts[0].delivery_id != delivery_id:
        attempts.insert(0, Attempt(delivery_id, "skipped"))
    return attempts


def _send_claimed(claimed: Sequence[_Claimed], letters: dict[int, tuple[bytes | None, str]],
                  sender_email: str | None, mail_url: str, sending_timeout: timedelta,
                  blocked: dict[int, str] | None = None) -> list[Outcome | None]:
    """Send each claimed letter once; None for one left unsent (handed back, never tried).

    A letter in ``blocked`` (letter id -> reason code) is not sent: its outcome is
    ``cancelled`` with the reason code as the reply.
    """
    blocked = blocked or {}
    try:  # checked again at the last moment: exactly one valid address each
        sender = valid_address(sender_email or "", "sender address")
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
        eml, message_id = letters[item.letter_id]
        outcome = transport.send(sender, recipient, eml or b"", message_id or "")
        if outcome.unreachable:
            unreachable = replace(outcome, reply=f"not tried, the server could not be "
                                                 f"reached: {outcome.reply}")
        results.append(outcome)
    return results


LOST_WORKER = "The worker stopped while sending this letter; it may or may not have arrived."
_NOTE = re.compile(r"(?:mark sent|resend|cancel) by [^;]* at \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _record(session: Session, organization_id: int, claimed: Sequence[_Claimed],
            results: Sequence[Outcome | None], letters: dict[int, tuple[bytes | None, str]],
            now: datetime, max_attempts: int) -> list[Attempt]:
    """Write every outcome and its audit event in one transaction, and commit."""
    sent_at = _now()
    rows: dict[tuple[str, ...], list[dict]] = {}
    events: list[tuple[tuple[str, int], dict]] = []
    attempts: list[Attempt] = []
    handed_back: list[int] = []
    stopped: list[tuple[int, str]] = []
    for item, outcome in zip(claimed, results, strict=True):
        if outcome is None:
            handed_back.append(item.id)
            attempts.append(Attempt(item.id, "queued", now))
            continue
        # A person's decision about this letter stays on record whatever happens next.
        notes = _NOTE.findall(item.last_error or "") if item.resolved else []
        retry_at = None
        if outcome.state == "cancelled":  # stopped before sending: the attempt did not happen
            values = dict(state="cancelled", claimed_at=None, attempts=item.attempts - 1)
            stopped.append((item.letter_id, outcome.reply))
        elif outcome.state == "sent":
            values = dict(state="sent", sent_at=sent_at, server_reply=outcome.reply,
                          last_error="; ".join(notes) or None, claimed_at=None)
        elif outcome.state == "retry" and item.attempts < max_attempts:
            retry_at = now + _backoff(item.attempts)
            values = dict(state="retry_wait", next_attempt_at=retry_at,
                          last_error="; ".join([outcome.reply, *notes]), claimed_at=None)
        elif outcome.state == "retry":
            values = dict(state="failed", claimed_at=None, last_error="; ".join(
                [f"gave up after {item.attempts} attempts: {outcome.reply}", *notes]))
        else:  # failed, or in_doubt, which keeps claimed_at: when it was taken
            values = dict(state=outcome.state, last_error="; ".join([outcome.reply, *notes]))
            if outcome.state == "failed":
                values["claimed_at"] = None
        rows.setdefault(tuple(sorted(values)), []).append({"id": item.id, **values})
        attempts.append(Attempt(item.id, values["state"], retry_at))
        events.append((("delivery", item.id), {
            "attempt": item.attempts, "state": values["state"],
            "reply_code": _reply_code(outcome.reply),
            "message_id_sha256": audit.sha256_hex(letters[item.letter_id][1] or "")}))
    for group in rows.values():  # bulk UPDATEs by primary key, one per set of columns
        session.execute(update(Delivery), group)
    sent = [c.letter_id for c, a in zip(claimed, attempts, strict=True) if a.state == "sent"]
    if sent:
        session.execute(update(Letter).where(Letter.id.in_(sent)).values(status="sent")
                        .execution_options(synchronize_session=False))
        bump_review(session, session.scalars(select(Application.position_id).join(Letter).where(
            Letter.id.in_(sent))))
    if handed_back:  # never tried: the attempt did not happen, and the row is due again
        session.execute(
            update(Delivery).where(Delivery.id.in_(handed_back), Delivery.state == "sending")
            .values(state="queued", claimed_at=None, next_attempt_at=None,
                    attempts=Delivery.attempts - 1)
            .execution_options(synchronize_session=False))
    if events:
        audit.record_many(session, organization_id, "delivery.attempt", events)
    if stopped:
        session.execute(update(Letter), [  # by primary key, in one executemany
            {"id": letter_id, "status": "cancelled", "cancelled_at": sent_at,
             "cancel_reason": outcomes.REASONS.get(reason, reason)}
            for letter_id, reason in stopped])
        audit.record_many(session, organization_id, "letter.cancelled", [
            (("letter", letter_id), {"reason": reason, "step": "sending", "was": "queued"})
            for letter_id, reason in stopped])
        bump_review(session, session.scalars(
            select(Application.position_id).join(Letter, Letter.application_id == Application.id)
            .where(Letter.id.in_([letter_id for letter_id, _ in stopped]))))
    session.commit()
    return attempts


def _reply_code(reply: str) -> int | None:
    """The SMTP code in a reply, without its text (which can name the recipient)."""
    match = re.search(r"\b([245]\d\d)\b", reply or "")
    return int(match.group(1)) if match else None


def sweep(session: Session, *, now: datetime | None = None,
          sending_timeout: timedelta = SENDING_TIMEOUT) -> list[int]:
    """The periodic safety net; returns the due deliveries to enqueue again.

    A ``sending`` row older than the timeout belonged to a worker that died: it is in doubt.
    Scheduled batches whose time has come are released. Every due ``queued`` or
    ``retry_wait`` delivery is enqueued again, so a lost queue message only delays a letter.
    """
    now = now or _now()
    stale = session.execute(
        select(Delivery.id, Delivery.last_error, Delivery.resolved_by_id)
        .where(Delivery.state == "sending", Delivery.claimed_at < now - sending_timeout)).all()
    for delivery_id, last_error, resolved_by in stale:
        # A person's earlier decision about this letter stays on record, as in ``_record``.
        notes = _NOTE.findall(last_error or "") if resolved_by is not None else []
        session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.state == "sending")
            .values(state="in_doubt", last_error="; ".join([LOST_WORKER, *notes]))
            .execution_options(synchronize_session=False))
    release_due(session, now)
    due = list(session.scalars(
        select(Delivery.id).where(
            Delivery.channel == "email", Delivery.state.in_(CLAIMABLE),
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .order_by(Delivery.id)))
    session.commit()
    return due


# --- people resolving problems ----------------------------------------------------------------

RESOLUTIONS = {
    "mark_sent": ("in_doubt", "failed", "queued"),
    "resend": ("in_doubt", "failed", "retry_wait"),
    "cancel": ("in_doubt", "failed", "retry_wait", "held", "queued"),
}


def resolve(session: Session, delivery: Delivery, member: Member, action: str, *,
            max_attempts: int = MAX_ATTEMPTS) -> bool:
    """A person decides about a doubtful or failed letter; returns whether to enqueue it."""
    allowed = RESOLUTIONS.get(action)
    if allowed is None:
        raise RecruiterError(f"Unknown action {action!r}.")
    if delivery.state not in allowed:
        raise RecruiterError(f"A letter that is {delivery.state.replace('_', ' ')} cannot be "
                             f"{action.replace('_', ' ')}.")
    # Take the row from the state the person saw, as a worker claims it: a worker that took
    # it meanwhile (a retry firing) keeps it, and it is never queued twice.
    target = {"mark_sent": "sent", "resend": "queued", "cancel": "cancelled"}[action]
    moved = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.state == delivery.state)
        .values(state=target).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        session.refresh(delivery)
        raise RecruiterError(f"This letter changed meanwhile (it is now "
                             f"{delivery.state.replace('_', ' ')}); look again.")
    who = member.name or member.email
    stamp = _now()
    delivery.resolved_by_id = member.id
    note = f"{action.replace('_', ' ')} by {who} at {stamp:%Y-%m-%d %H:%M} UTC"
    delivery.last_error = f"{delivery.last_error}; {note}" if delivery.last_error else note
    if action == "mark_sent":
        delivery.state, delivery.sent_at = "sent", stamp
        delivery.letter.status = "sent"
    elif action == "resend":
        delivery.state, delivery.next_attempt_at, delivery.claimed_at = "queued", None, None
        # A letter that gave up after the maximum still gets the one try the person asked for.
        delivery.attempts = min(delivery.attempts, max_attempts - 1)
    else:
        delivery.state = "cancelled"
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
    count = 0
    for delivery in _deliveries(session, batch):
        if delivery.channel == "post" and delivery.state == "queued":
            delivery.state, delivery.sent_at = "sent", _now()
            delivery.resolved_by_id = member.id
            delivery.server_reply = f"posted, confirmed by {member.name or member.email}"
            delivery.letter.status = "sent"
            count += 1
    bump_review(session, position.id)
    session.flush()
    audit.record(session, position.organization_id, "batch.posted", actor=member,
                 subject=position, payload={"letters": count})
    return count


# --- status -----------------------------------------------------------------------------------


def state_counts(session: Session, position: Position) -> dict[str, int]:
    """How many of the position's deliveries are in each state."""
    rows = session.execute(
        select(Delivery.state, func.count()).join(Letter).join(Application)
        .where(Application.position_id == position.id).group_by(Delivery.state)).all()
    return {state: count for state, count in rows}


def problems(session: Session, position: Position) -> list[Delivery]:
    """Failed and in-doubt deliveries, with their letters and candidates loaded."""
    return list(session.scalars(
        select(Delivery).join(Letter).join(Application)
        .where(Application.position_id == position.id, Delivery.state.in_(PROBLEMS))
        .options(selectinload(Delivery.letter).selectinload(Letter.application)
                 .selectinload(Application.candidate))
        .order_by(Delivery.id)))
