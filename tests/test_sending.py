"""Sending (issue 4) against a real SMTP server: aiosmtpd on 127.0.0.1 with injected faults.

Every approved letter leaves exactly once, or it is shown to a person with the reason it did
not. The server below records each message it accepts (recipients, Message-ID, text body) and
can refuse or misbehave at each step of the SMTP conversation, so each state the issue names
is reached the way it would be in production.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from conftest import PASSWORD, POSTGRES_URL, REDIS_URL, VANCOUVER
from flask import Flask
from sqlalchemy import func, select, text

from recruiter import create_app
from recruiter.errors import RecruiterError
from recruiter.extensions import db as _db
from recruiter.models import (
    Application,
    AuditEvent,
    Batch,
    Boilerplate,
    BoilerplateVersion,
    Delivery,
    FrozenLetter,
    Letter,
    Member,
    Organization,
    Position,
)
from recruiter.queue import queue
from recruiter.services import approval, files, sending
from recruiter.services import letters as letters_service
from recruiter.services.boilerplates import save_version
from recruiter.services.outcomes import change_outcome
from recruiter.services.sending import freeze as sending_freeze
from recruiter.services.sending import transport as sending_transport

HEADER = ("first_name,last_name,email,address_line1,address_line2,city,region,postal_code,"
          "country,stage,outcome,note\n")
HIRE = ("Maya,Chen,maya.chen@example.com,1840 West 4th Avenue,Suite 210,Vancouver,BC,V6J 1M1,"
        "Canada,interviewed,hired,Eight years running ground operations.\n")


# --- the SMTP server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    rcpt: tuple[str, ...]
    message_id: str
    text: str
    raw: bytes
    client_port: int


class Sink:
    """An aiosmtpd handler that records messages and misbehaves on request.

    connect_reply: greet with this (e.g. 421) and hang up. rcpt_reply / refuse: answer RCPT
    with this, for everyone or for the listed addresses. data_reply: answer the message with
    this instead of accepting it. hang_up_after_data: take the message, then close the
    connection without a reply. close_after_reply: accept, reply, then close the connection
    (after writing this line, unless empty). smtputf8: offer SMTPUTF8 on new connections.
    stall_at: take the n-th message, set ``stalled`` and wait ``stall_seconds`` before
    replying. delay: seconds to spend on every message.
    """

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.connections = 0
        self.smtputf8 = True
        self.connect_reply: str | None = None
        self.rcpt_reply: str | None = None
        self.refuse: dict[str, str] = {}
        self.data_reply: str | None = None
        self.hang_up_after_data = False
        self.delay = 0.0
        self.stall_at: int | None = None
        self.stall_seconds = 5.0
        self.close_after_reply: str | None = None  # "" to close silently, or a goodbye line
        self.stalled = threading.Event()
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, D102, N802
        reply = self.refuse.get(address) or self.rcpt_reply
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, D102, N802
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.data_reply:
            return self.data_reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        with self._lock:
            self.received.append(Received(tuple(envelope.rcpt_tos), str(message["Message-ID"]),
                                          body.get_content() if body else "",
                                          envelope.content, session.peer[1]))
            count = len(self.received)
        if self.hang_up_after_data:
            server.transport.close()  # the message is here, but the client never hears so
            return "250 never heard"
        if self.close_after_reply is not None:  # as a server dropping an idle client
            goodbye, transport = self.close_after_reply, server.transport

            def bye() -> None:
                if goodbye:
                    transport.write(goodbye.encode() + b"\r\n")
                transport.close()

            asyncio.get_running_loop().call_later(0.05, bye)
        if self.stall_at is not None and count == self.stall_at:
            self.stalled.set()
            await asyncio.sleep(self.stall_seconds)
        return "250 OK queued"

    def message_ids(self) -> Counter:
        """How many times each Message-ID arrived."""
        with self._lock:
            return Counter(r.message_id for r in self.received)


class _SinkSMTP(SMTP):
    async def _handle_client(self) -> None:
        self.event_handler.connections += 1
        self.enable_SMTPUTF8 = self.event_handler.smtputf8
        reply = self.event_handler.connect_reply
        if reply:  # refuse the whole session in the greeting, as a busy server does
            await self.push(reply)
            self.transport.close()
            return
        await super()._handle_client()


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    """A port nothing listens on (port=0 is not supported by every aiosmtpd)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def close_transports() -> None:
    """Drop this thread's cached SMTP connections (each test has its own server)."""
    for transport in sending_transport._local.__dict__.pop("transports", {}).values():
        transport.close()


@pytest.fixture
def smtp_server() -> Iterator[Sink]:
    """A real SMTP server on 127.0.0.1, recording what it accepts."""
    sink = Sink()
    controller = _SinkController(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.connections = 0  # the controller's own readiness check connected once
    sink.url = f"smtp://127.0.0.1:{controller.port}"
    try:
        yield sink
    finally:
        close_transports()
        controller.stop()


# --- speed: cheap password hashes, and stand-in PDFs unless a test checks real ones -----------


def _fake_pdfs(letters: list, *, page_size: str = "A4") -> list[bytes]:
    """Stand-ins for tests about sending: a real PDF takes 0.1 s and is checked elsewhere."""
    return [b"%PDF-1.7 stand-in for " + x.key.encode() for x in letters]


@pytest.fixture
def real_pdfs() -> None:
    """Request this to freeze letters with real PDFs."""


@pytest.fixture(autouse=True)
def _quick(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Members are created in every test: a light argon2 keeps that from costing 0.5 s."""
    from argon2 import PasswordHasher

    from recruiter.services import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64,
                                                            parallelism=1))
    if "real_pdfs" not in request.fixturenames:
        monkeypatch.setattr(sending_freeze, "render_pdfs_parallel", _fake_pdfs)


# --- builders ----------------------------------------------------------------------------------


def candidates_csv(count: int, *, post: int = 0) -> bytes:
    """The hire and ``count`` declined candidates; the last ``post`` have no email address."""
    lines = [HEADER, HIRE]
    for i in range(1, count + 1):
        email = "" if i > count - post else f"robin.tremblay{i}@example.org"
        stage = "interviewed" if i % 2 == 0 else "applied"
        lines.append(f"Robin,Tremblay{i:04d},{email},{i} Granville Street,,Vancouver,BC,V6C 1T1,"
                     f"Canada,{stage},declined,Your dock audit number {i} stood out to us.\n")
    return "".join(lines).encode()


def approve(db, position: Position, member: Member) -> int:  # noqa: ANN001
    """Approve every open letter of the position, acknowledging warnings (empty notes)."""
    letters = letters_service.refresh_letters(db, position)
    count = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    approval.approve_all(db, position, member, expected_count=count,
                                acknowledge_warnings=True)
    db.commit()
    return count


def send_one(session, delivery_id: int, mail_url: str, **options) -> sending.Attempt:  # noqa: ANN001, ANN003
    """What the worker does with a queue message naming this delivery (claims in batches)."""
    return sending.deliver_ids(session, [delivery_id], mail_url, **options)[0]


def claim_one(session, delivery_id: int, now: datetime) -> bool:  # noqa: ANN001
    """A worker's claim of this one delivery, committed: the first step of every send."""
    organization_id = session.get(Delivery, delivery_id).organization_id
    taken = sending.claim_batch(session, delivery_id, organization_id, now, 1)
    session.commit()
    return bool(taken)


def deliveries(db, position: Position, channel: str | None = None) -> list[Delivery]:  # noqa: ANN001
    """The position's deliveries by id, fresh from the database."""
    db.expire_all()
    query = (select(Delivery).join(Letter).join(Application)
             .where(Application.position_id == position.id).order_by(Delivery.id))
    if channel:
        query = query.where(Delivery.channel == channel)
    return list(db.scalars(query))


def counts(db, position: Position) -> dict[str, int]:  # noqa: ANN001
    db.expire_all()
    return sending.state_counts(db, position)


@dataclass
class Frozen:
    """An organization, a manager, a position and its frozen batch."""

    org: Organization
    member: Member
    position: Position
    batch: Batch


@pytest.fixture
def freeze(db, make_org, make_member, make_position) -> Callable[..., Frozen]:  # noqa: ANN001
    """Approve and freeze a position's letters: by default two emails, released at once."""

    def make(csv: bytes | None = None, *, hold: bool = False, send_at: datetime | None = None,
             **org_settings: object) -> Frozen:
        org = make_org(**org_settings)
        member = make_member("manager", org=org)
        position = make_position(org=org, csv=candidates_csv(2) if csv is None else csv)
        approve(db, position, member)
        batch, created = sending.freeze_batch(db, position, member, hold_until_accepted=hold,
                                              send_at=send_at)
        db.commit()
        assert created
        return Frozen(org, member, position, batch)

    return make


def only_email(db, frozen: Frozen) -> Delivery:  # noqa: ANN001
    [delivery] = deliveries(db, frozen.position, "email")
    return delivery


# --- the whole batch ---------------------------------------------------------------------------


def test_the_whole_vancouver_batch_arrives(app, db, freeze, smtp_server):  # noqa: ANN001
    """28 emails, one per emailed candidate, each to that address only, each with its note."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(VANCOUVER.read_bytes())
    emails = deliveries(db, frozen.position, "email")
    assert len(emails) == 28 and len(deliveries(db, frozen.position)) == 29
    assert frozen.batch.state == "released" and {d.state for d in emails} == {"queued"}

    queue().enqueue([d.id for d in emails])  # QUEUE_IMMEDIATE: the tasks run here and now

    assert counts(db, frozen.position) == {"sent": 28, "queued": 1}  # the post letter waits
    assert len(smtp_server.received) == 28
    assert smtp_server.connections == 1  # one connection, reused for every message
    arrived = {r.message_id: r for r in smtp_server.received}
    assert len(arrived) == 28  # unique Message-IDs
    notes = 0
    for delivery in deliveries(db, frozen.position, "email"):
        letter = delivery.letter
        candidate = letter.application.candidate
        copy = letter.frozen
        got = arrived[copy.message_id]
        assert got.rcpt == (candidate.email,)
        assert delivery.recipient == candidate.email
        if letter.application.note:
            notes += 1
            assert " ".join(letter.application.note.split()) in " ".join(got.text.split())
        assert hashlib.sha256(copy.eml).hexdigest() == copy.eml_sha256
        assert hashlib.sha256(got.raw).hexdigest() == copy.eml_sha256  # the stored bytes
        assert (copy.pdf, copy.pdf_sha256) == (None, None)  # an email's audit copy is its .eml
        assert letter.status == "sent" and letter.batch_id == frozen.batch.id
        assert delivery.server_reply.startswith("250") and delivery.sent_at is not None
        assert delivery.attempts == 1
    assert notes == 26  # 28 emailed candidates, 2 of them with an empty note
    [post] = deliveries(db, frozen.position, "post")
    assert post.letter.frozen.eml is None and post.letter.frozen.pdf.startswith(b"%PDF")
    assert hashlib.sha256(post.letter.frozen.pdf).hexdigest() == post.letter.frozen.pdf_sha256
    assert post.recipient is None
    everyone = {rcpt for r in smtp_server.received for rcpt in r.rcpt}
    assert "maya.chen@example.com" not in everyone  # the hire never gets a letter
    hire = db.scalar(select(Application).where(Application.position_id == frozen.position.id,
                                               Application.outcome == "hired"))
    assert db.scalar(select(Letter).where(Letter.application_id == hire.id)) is None


def test_a_second_queue_message_sends_nothing(app, db, freeze, smtp_server):  # noqa: ANN001
    """A message that arrives twice, or for a sent letter, is dropped: the row is the truth."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze()
    ids = [d.id for d in deliveries(db, frozen.position, "email")]
    queue().enqueue(ids + ids)
    assert [send_one(db, i, smtp_server.url).state for i in ids] == ["skipped"] * 2
    assert sorted(smtp_server.message_ids().values()) == [1, 1]
    assert sending.sweep(db) == []


# --- freezing ----------------------------------------------------------------------------------


def _set_boilerplate(db, org: Organization, name: str, body: str) -> None:  # noqa: ANN001
    """Give the org's boilerplate a new current version, bypassing the editor's checks."""
    bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                             Boilerplate.name == name))
    current = bp.current
    number = max(v.number for v in bp.versions) + 1  # numbers run across languages
    bp.versions.append(BoilerplateVersion(number=number, subject=current.subject, body=body))
    db.commit()


def test_freeze_is_all_or_nothing_and_final(db, make_org, make_member, make_position,
                                             real_pdfs):  # noqa: ANN001
    """A letter that fails in send mode freezes nothing; a frozen batch never changes."""
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(4))
    bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                             Boilerplate.name == "not-interviewed"))
    good_body = bp.current.body
    # An old version that tests a field no letter has: the preview hides it, send mode fails.
    _set_boilerplate(db, org, "not-interviewed",
                     good_body + "\n{% if salary %}We noted your salary.{% endif %}\n")
    approve(db, position, member)

    with pytest.raises(RecruiterError, match="do not render"):
        sending.freeze_batch(db, position, member, hold_until_accepted=False)
    db.commit()  # even a caller that commits after the refusal stores nothing
    assert db.scalar(select(func.count()).select_from(Batch)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    letters = db.scalars(select(Letter)).all()
    assert len(letters) == 4
    assert {x.status for x in letters} == {"approved"}
    assert {(x.frozen, x.batch_id) for x in letters} == {(None, None)}
    assert db.scalar(select(func.count()).select_from(FrozenLetter)) == 0

    _set_boilerplate(db, org, "not-interviewed", good_body)
    approve(db, position, member)
    batch, created = sending.freeze_batch(db, position, member, hold_until_accepted=False)
    db.commit()
    assert created
    again, created = sending.freeze_batch(db, position, member, hold_until_accepted=False)
    assert (again.id, created) == (batch.id, False)
    assert db.scalar(select(func.count()).select_from(Batch)) == 1
    assert db.scalar(select(func.count()).select_from(Delivery)) == 4
    stored = {x.letter_id: (x.eml, x.eml_sha256, x.pdf, x.pdf_sha256, x.letter.text,
                            x.message_id) for x in db.scalars(select(FrozenLetter))}
    assert len(stored) == 4 and all(x[5] for x in stored.values())
    assert all(bool(x[0]) != bool(x[2]) for x in stored.values())  # an email or a PDF each

    for name in ("interviewed", "not-interviewed"):  # a later edit of both templates
        bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                                 Boilerplate.name == name))
        save_version(db, bp, subject="A new subject", body="Dear {{ candidate.full_name }}, no.",
                     by=member)
    db.commit()
    letters_service.refresh_letters(db, position)
    db.commit()
    db.expire_all()
    after = {x.letter_id: (x.eml, x.eml_sha256, x.pdf, x.pdf_sha256, x.letter.text,
                           x.message_id) for x in db.scalars(select(FrozenLetter))}
    assert after == stored
    for letter in db.scalars(select(Letter)):
        copy = letter.frozen
        assert letter.status == "frozen"
        if copy.eml is not None:
            assert hashlib.sha256(copy.eml).hexdigest() == copy.eml_sha256
            assert files.letter_eml(letter) == copy.eml  # served from the stored bytes
        else:  # by post: the frozen PDF is the letter
            assert copy.pdf.startswith(b"%PDF-") and b"stand-in" not in copy.pdf
            assert hashlib.sha256(copy.pdf).hexdigest() == copy.pdf_sha256
            assert files.letter_pdf(letter) == copy.pdf  # served from the stored bytes


def test_freeze_uses_the_organizations_date(db, make_org, make_member, make_position):  # noqa: ANN001
    """A letter that prints the date freezes even when the org's day is not UTC's day."""
    now = datetime.now(UTC)
    # +14 h is already tomorrow from 10:00 UTC; -12 h is still yesterday before 12:00 UTC.
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Etc/GMT+12"
    assert now.astimezone(ZoneInfo(zone)).date() != now.date()
    org = make_org(timezone=zone)
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(2))
    for name in ("interviewed", "not-interviewed"):
        bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                                 Boilerplate.name == name))
        save_version(db, bp, subject=bp.current.subject, body="{{ date }}\n\n" + bp.current.body,
                     by=member)
    db.commit()
    approve(db, position, member)
    batch, created = sending.freeze_batch(db, position, member, hold_until_accepted=False)
    db.commit()
    assert created and batch.state == "released"


def _freeze_in_thread(app: Flask, position_id: int, member_id: int,
                      barrier: threading.Barrier, results: list, errors: list) -> None:
    with app.app_context():
        session = _db.session
        try:
            position = session.get(Position, position_id)
            member = session.get(Member, member_id)
            barrier.wait(timeout=10)
            batch, created = sending.freeze_batch(session, position, member,
                                                  hold_until_accepted=False)
            session.commit()
            results.append((batch.id, created))
        except Exception as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)


def test_two_concurrent_approvals_make_one_batch(app, db, make_org, make_member,  # noqa: ANN001
                                                 make_position, monkeypatch):
    """Two members approve at the same moment, each in their own session: one batch."""
    org = make_org()
    member = make_member("manager", org=org)
    other = make_member("admin", org=org)
    position = make_position(org=org, csv=candidates_csv(4))
    approve(db, position, member)
    barrier = threading.Barrier(2)
    both_rendered = threading.Barrier(2)
    render_all = sending_freeze.render_all

    def in_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # Both have found no batch and rendered every letter before either inserts its batch.
        frozen = render_all(*args, **kwargs)
        both_rendered.wait(timeout=10)
        return frozen

    monkeypatch.setattr(sending_freeze, "render_all", in_step)
    results: list = []
    errors: list = []
    threads = [threading.Thread(target=_freeze_in_thread,
                                args=(app, position.id, who.id, barrier, results, errors))
               for who in (member, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({batch_id for batch_id, _ in results}) == 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Batch)) == 1
    assert db.scalar(select(func.count()).select_from(Delivery)) == 4
    assert db.scalar(select(func.count(func.distinct(FrozenLetter.message_id)))) == 4


# --- fault injection ---------------------------------------------------------------------------


def test_421_on_connect_waits_then_sends_once_the_server_recovers(db, freeze, smtp_server):  # noqa: ANN001
    """A busy server greets with 421: retry_wait with backoff, then sent."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    smtp_server.connect_reply = "421 4.3.2 Too busy, try again later"
    now = datetime.now(UTC)
    attempt = send_one(db, delivery.id, smtp_server.url, now=now)
    assert attempt.state == "retry_wait" and attempt.retry_at > now
    db.refresh(delivery)
    assert delivery.state == "retry_wait" and delivery.attempts == 1
    assert "421" in delivery.last_error and delivery.next_attempt_at == attempt.retry_at
    assert send_one(db, delivery.id, smtp_server.url, now=now).state == "skipped"  # early
    assert sending.sweep(db, now=now) == []  # not due yet either

    smtp_server.connect_reply = None
    assert sending.sweep(db, now=attempt.retry_at) == [delivery.id]
    assert send_one(db, delivery.id, smtp_server.url, now=attempt.retry_at).state == "sent"
    db.refresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 2, None)
    assert list(smtp_server.message_ids().values()) == [1]
    assert smtp_server.received[0].message_id == delivery.letter.frozen.message_id


def test_451_at_data_waits_and_retries(db, freeze, smtp_server):  # noqa: ANN001
    """A 451 after the content is a refusal, not a doubt: retry_wait, then sent."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    smtp_server.data_reply = "451 4.3.0 Mailbox temporarily unavailable"
    now = datetime.now(UTC)
    attempt = send_one(db, delivery.id, smtp_server.url, now=now)
    assert attempt.state == "retry_wait"
    db.refresh(delivery)
    assert delivery.state == "retry_wait" and "451" in delivery.last_error
    assert smtp_server.received == []

    smtp_server.data_reply = None  # the same connection is reused after RSET
    assert send_one(db, delivery.id, smtp_server.url, now=attempt.retry_at).state == "sent"
    assert len(smtp_server.received) == 1 and smtp_server.connections == 1


def test_550_on_rcpt_fails_and_is_not_retried(db, freeze, smtp_server):  # noqa: ANN001
    """A refused recipient is final: failed, never retried, and nothing arrives."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    smtp_server.rcpt_reply = "550 5.1.1 No such mailbox"
    assert send_one(db, delivery.id, smtp_server.url).state == "failed"
    db.refresh(delivery)
    assert delivery.state == "failed" and "RCPT TO: 550" in delivery.last_error
    assert delivery.next_attempt_at is None

    smtp_server.rcpt_reply = None
    later = datetime.now(UTC) + timedelta(days=1)
    assert send_one(db, delivery.id, smtp_server.url, now=later).state == "skipped"
    assert sending.sweep(db, now=later) == []
    assert smtp_server.received == []
    assert [d.id for d in sending.problems(db, delivery.letter.application.position)] \
        == [delivery.id]


def test_a_hang_up_after_data_is_in_doubt_and_never_resent(db, freeze, smtp_server):  # noqa: ANN001
    """The server took the message but the reply never came: in_doubt, left to a person."""
    frozen = freeze(candidates_csv(1))
    delivery = only_email(db, frozen)
    smtp_server.hang_up_after_data = True
    assert send_one(db, delivery.id, smtp_server.url).state == "in_doubt"
    smtp_server.hang_up_after_data = False
    db.refresh(delivery)
    assert delivery.state == "in_doubt" and "after the message was sent" in delivery.last_error
    assert len(smtp_server.received) == 1  # it did arrive; we cannot know that

    later = datetime.now(UTC) + timedelta(days=1)
    assert sending.sweep(db, now=later) == []
    assert send_one(db, delivery.id, smtp_server.url, now=later).state == "skipped"
    queue().enqueue([delivery.id])
    assert len(smtp_server.received) == 1
    assert counts(db, frozen.position) == {"in_doubt": 1}


def test_a_server_that_is_down_means_retry_wait(db, freeze):  # noqa: ANN001
    """Nothing listening: the message never left, so it waits and tries again."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    down = f"smtp://127.0.0.1:{free_port()}"
    try:
        attempt = send_one(db, delivery.id, down)
    finally:
        close_transports()
    assert attempt.state == "retry_wait"
    db.refresh(delivery)
    assert delivery.state == "retry_wait"
    assert "connection failed before sending" in delivery.last_error


def test_4xx_gives_up_after_the_maximum(db, freeze, smtp_server):  # noqa: ANN001
    """Retries back off exponentially and stop at the maximum: failed, 'gave up'."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    smtp_server.data_reply = "452 4.2.2 Mailbox full"
    now = datetime.now(UTC)
    states, waits = [], []
    for _ in range(sending.MAX_ATTEMPTS):
        attempt = send_one(db, delivery.id, smtp_server.url, now=now)
        states.append(attempt.state)
        if attempt.retry_at:
            waits.append(attempt.retry_at - now)
            now = attempt.retry_at
    assert states == ["retry_wait"] * (sending.MAX_ATTEMPTS - 1) + ["failed"]
    assert waits[:3] == [sending.RETRY_BASE, 2 * sending.RETRY_BASE, 4 * sending.RETRY_BASE]
    assert max(waits) <= sending.RETRY_CAP
    db.refresh(delivery)
    assert delivery.state == "failed" and delivery.attempts == sending.MAX_ATTEMPTS
    assert delivery.last_error.startswith(f"gave up after {sending.MAX_ATTEMPTS} attempts")
    assert "452" in delivery.last_error
    assert send_one(db, delivery.id, smtp_server.url, now=now + timedelta(days=1)).state \
        == "skipped"
    assert smtp_server.received == [] and smtp_server.connections == 1


def test_the_recipient_is_checked_again_before_sending(db, freeze, smtp_server):  # noqa: ANN001
    """A delivery whose address became unusable fails without talking to the server."""
    delivery = only_email(db, freeze(candidates_csv(1)))
    delivery.recipient = "robin@example.org, someone.else@example.org"
    db.commit()
    assert send_one(db, delivery.id, smtp_server.url).state == "failed"
    assert smtp_server.received == [] and smtp_server.connections == 0


def test_lines_starting_with_a_dot_arrive_intact(db, freeze, smtp_server):  # noqa: ANN001
    """Dot-stuffing: a note line that is just "." does not end the message early."""
    csv = (HEADER + HIRE
           + 'Robin,Tremblay,robin@example.org,1 Granville Street,,Vancouver,BC,V6C 1T1,Canada,'
             'applied,declined,".NET and SQL work stood out.\n.\n..and the rest, too."\n').encode()
    frozen = freeze(csv)
    delivery = only_email(db, frozen)
    assert b"\r\n.\r\n" in delivery.letter.frozen.eml
    assert send_one(db, delivery.id, smtp_server.url).state == "sent"
    [got] = smtp_server.received
    assert hashlib.sha256(got.raw).hexdigest() == delivery.letter.frozen.eml_sha256
    text = got.text.replace("\r\n", "\n")
    assert ".NET and SQL work stood out.\n.\n..and the rest, too." in text


def test_international_addresses_never_leave_a_letter_stuck(db, freeze, smtp_server):  # noqa: ANN001
    """An IDN domain goes out in ASCII; a non-ASCII mailbox needs SMTPUTF8, else it fails."""
    csv = (HEADER + HIRE
           + "Robin,Tremblay,robin@bücher.example,1 Granville Street,,Vancouver,BC,V6C 1T1,"
             "Canada,applied,declined,Your dock audit stood out.\n"
           + "Zoë,Lefebvre,zoë@example.net,3120 Kingsway,,Vancouver,BC,V5R 5K2,Canada,"
             "applied,declined,Your hotel years stood out.\n"
           + "Élodie,Gagnon,élodie@example.net,12 Main Street,,Vancouver,BC,V5R 5K2,Canada,"
             "applied,declined,Your roster work stood out.\n").encode()
    frozen = freeze(csv)
    by_address = {d.recipient: d.id for d in deliveries(db, frozen.position, "email")}
    # One letter per claim (batch=1): the server loses SMTPUTF8 between the second and third.
    one = functools.partial(sending.deliver_ids, db, mail_url=smtp_server.url, batch=1)
    assert one([by_address["robin@bücher.example"]])[0].state == "sent"
    assert one([by_address["zoë@example.net"]])[0].state == "sent"
    assert [r.rcpt for r in smtp_server.received] == [("robin@xn--bcher-kva.example",),
                                                      ("zoë@example.net",)]
    smtp_server.smtputf8 = False  # a server without SMTPUTF8, on a new connection
    close_transports()
    assert one([by_address["élodie@example.net"]])[0].state == "failed"
    failed = db.get(Delivery, by_address["élodie@example.net"])
    assert "SMTPUTF8" in failed.last_error
    assert len(smtp_server.received) == 2


# --- release gates and timing ------------------------------------------------------------------


def test_held_until_the_hire_accepts(app, db, freeze, smtp_server, runner):  # noqa: ANN001
    """Nothing leaves while held; `positions release` sends, never to the withdrawn or hire."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(candidates_csv(3), hold=True)
    assert frozen.batch.state == "held"
    emails = deliveries(db, frozen.position, "email")
    assert {d.state for d in emails} == {"held"}
    assert sending.deliver_ids(db, [emails[0].id], smtp_server.url)[0].state == "skipped"
    assert sending.sweep(db, now=datetime.now(UTC) + timedelta(days=30)) == []
    queue().enqueue([d.id for d in emails])
    assert smtp_server.received == [] and smtp_server.connections == 0

    withdrawn = emails[1].letter.application
    change_outcome(db, withdrawn, "withdrawn")
    db.commit()
    assert deliveries(db, frozen.position, "email")[1].state == "cancelled"

    result = runner.invoke(args=["positions", "release", str(frozen.position.id)])
    assert result.exit_code == 0, result.output
    assert "2 emails queued" in result.output
    db.expire_all()
    assert db.get(Position, frozen.position.id).hire_accepted_at is not None
    assert db.get(Batch, frozen.batch.id).state == "released"
    assert [d.state for d in deliveries(db, frozen.position, "email")] \
        == ["sent", "cancelled", "sent"]
    everyone = sorted(rcpt for r in smtp_server.received for rcpt in r.rcpt)
    assert everyone == ["robin.tremblay1@example.org", "robin.tremblay3@example.org"]

    again = runner.invoke(args=["positions", "release", str(frozen.position.id)])
    assert again.exit_code == 0 and "0 emails queued" in again.output
    assert len(smtp_server.received) == 2


def test_send_at_schedules_and_the_sweep_releases(app, db, freeze, smtp_server):  # noqa: ANN001
    """A batch for later is scheduled; the sweep after its time releases and sends it."""
    app.config["MAIL_URL"] = smtp_server.url
    now = datetime.now(UTC)
    frozen = freeze(candidates_csv(2), send_at=now + timedelta(hours=2))
    assert frozen.batch.state == "scheduled"
    assert {d.state for d in deliveries(db, frozen.position)} == {"held"}
    assert sending.sweep(db, now=now + timedelta(hours=1)) == []
    assert db.get(Batch, frozen.batch.id).state == "scheduled"

    due = sending.sweep(db, now=now + timedelta(hours=2, seconds=1))
    assert sorted(due) == [d.id for d in deliveries(db, frozen.position, "email")]
    assert db.get(Batch, frozen.batch.id).state == "released"
    queue().enqueue(due)
    assert counts(db, frozen.position) == {"sent": 2}
    assert len(smtp_server.received) == 2


def test_a_held_batch_can_be_cancelled(db, freeze):  # noqa: ANN001
    """Cancelling a held batch returns its letters to draft; a released one cannot be."""
    frozen = freeze(candidates_csv(2), hold=True)
    assert sending.cancel_batch(db, frozen.position) == 2
    db.commit()
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Batch)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    for letter in db.scalars(select(Letter)):
        assert letter.status == "draft"
        assert (letter.batch_id, letter.frozen) == (None, None)
    assert db.scalar(select(func.count()).select_from(FrozenLetter)) == 0  # gone with the batch
    with pytest.raises(RecruiterError, match="no batch"):
        sending.cancel_batch(db, frozen.position)

    approve(db, frozen.position, frozen.member)  # it can be approved and frozen again
    batch, created = sending.freeze_batch(db, frozen.position, frozen.member,
                                          hold_until_accepted=False)
    db.commit()
    assert created and batch.state == "released"
    with pytest.raises(RecruiterError, match="already sending"):
        sending.cancel_batch(db, frozen.position)


def test_a_scheduled_batch_can_be_cancelled(db, freeze):  # noqa: ANN001
    """Cancelling works for a batch waiting for its time, too."""
    frozen = freeze(candidates_csv(1), send_at=datetime.now(UTC) + timedelta(days=1))
    assert frozen.batch.state == "scheduled"
    assert sending.cancel_batch(db, frozen.position) == 1
    db.commit()
    assert db.scalar(select(func.count()).select_from(Batch)) == 0


def test_a_new_hire_from_the_batch_gets_no_letter(app, db, freeze, smtp_server):  # noqa: ANN001
    """Marking a held candidate as the hire cancels their letter before it leaves."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(candidates_csv(2), hold=True)
    first, second = deliveries(db, frozen.position, "email")
    change_outcome(db, first.letter.application, "hired", raise_openings=True, confirmed=True)
    db.commit()
    assert first.letter.cancel_reason == "The candidate is a hire for this position."
    ids = sending.release(db, frozen.position)
    db.commit()
    assert ids == [second.id]
    queue().enqueue(ids)
    assert [d.state for d in deliveries(db, frozen.position, "email")] == ["cancelled", "sent"]
    assert [r.rcpt for r in smtp_server.received] == [("robin.tremblay2@example.org",)]


# --- people resolving problems -----------------------------------------------------------------


def test_people_resolve_letters_in_doubt(app, db, freeze, smtp_server):  # noqa: ANN001
    """mark_sent, resend and cancel on in_doubt letters, each recorded with who did it."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(candidates_csv(3))
    smtp_server.hang_up_after_data = True
    ids = [d.id for d in deliveries(db, frozen.position, "email")]
    assert [a.state for a in sending.deliver_ids(db, ids, smtp_server.url)] == ["in_doubt"] * 3
    smtp_server.hang_up_after_data = False
    assert len(smtp_server.received) == 3
    first, second, third = deliveries(db, frozen.position, "email")

    assert sending.resolve(db, first, frozen.member, "mark_sent") is False
    assert sending.resolve(db, second, frozen.member, "resend") is True
    assert sending.resolve(db, third, frozen.member, "cancel") is False
    db.commit()
    queue().enqueue([second.id])  # what the caller does when resolve says so

    first, second, third = deliveries(db, frozen.position, "email")
    assert (first.state, first.letter.status) == ("sent", "sent")
    assert first.sent_at is not None
    assert (second.state, second.letter.status) == ("sent", "sent")
    assert third.state == "cancelled"
    assert "after the message was sent" in first.last_error  # the doubt the person settled
    assert second.last_error is None  # the server took the resent letter: the error is over
    for delivery, action in ((first, "mark_sent"), (second, "resend"), (third, "cancel")):
        [decision] = delivery.resolutions  # a row of its own: who, when, what, from which state
        assert (decision.member_id, decision.action, decision.state_before) == (
            frozen.member.id, action, "in_doubt")
        assert decision.at is not None and decision.reason is None
        assert "Manager" not in (delivery.last_error or "")  # the error stays an error
        [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.resolved",
                                                      AuditEvent.subject_id == delivery.id))
        assert (event.actor_id, event.payload["action"]) == (frozen.member.id, action)
    # A person chose to resend the second letter, so the server has it twice; nothing else.
    assert sorted(smtp_server.message_ids().values()) == [1, 1, 2]
    assert smtp_server.message_ids()[second.letter.frozen.message_id] == 2

    with pytest.raises(RecruiterError, match="cannot be resend"):
        sending.resolve(db, first, frozen.member, "resend")
    with pytest.raises(RecruiterError, match="Unknown action"):
        sending.resolve(db, third, frozen.member, "shred")


def test_a_failed_letter_can_be_resent_by_a_person(app, db, freeze, smtp_server):  # noqa: ANN001
    """After the recipient's server is fixed, a person resends a failed letter."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(candidates_csv(1))
    smtp_server.rcpt_reply = "550 5.1.1 No such mailbox"
    delivery = only_email(db, frozen)
    queue().enqueue([delivery.id])
    smtp_server.rcpt_reply = None
    delivery = only_email(db, frozen)
    assert delivery.state == "failed"
    assert sending.resolve(db, delivery, frozen.member, "resend")
    db.commit()
    queue().enqueue([delivery.id])
    assert only_email(db, frozen).state == "sent"
    assert len(smtp_server.received) == 1


def test_retry_now_on_a_letter_a_worker_just_took_is_refused(app, db, freeze, smtp_server):  # noqa: ANN001
    """A person's "resend" of a retry_wait letter loses to a worker that claimed it meanwhile."""
    frozen = freeze(candidates_csv(1))
    smtp_server.connect_reply = "421 4.3.2 Too busy"
    delivery = only_email(db, frozen)
    attempt = send_one(db, delivery.id, smtp_server.url)
    smtp_server.connect_reply = None
    seen = db.get(Delivery, delivery.id)  # the page the person looks at: retry_wait
    assert seen.state == "retry_wait"
    with app.app_context():  # the scheduled retry fires and a worker claims the letter
        assert claim_one(_db.session, delivery.id, attempt.retry_at)
    with pytest.raises(RecruiterError, match="changed"):
        sending.resolve(db, seen, frozen.member, "resend")
    db.rollback()
    assert only_email(db, frozen).state == "sending"  # still the worker's, not queued again


def test_post_letters_are_sent_when_a_member_confirms(db, freeze):  # noqa: ANN001
    """Post letters wait for the print bundle; confirming marks them sent, by whom."""
    held = freeze(candidates_csv(2, post=1), hold=True)
    with pytest.raises(RecruiterError, match="Release the batch"):
        sending.confirm_posted(db, held.position, held.member)
    sending.release(db, held.position)
    db.commit()
    [post] = deliveries(db, held.position, "post")
    assert post.state == "queued" and post.recipient is None
    assert post.id not in sending.sweep(db)  # no worker ever takes a post letter
    assert send_one(db, post.id, "smtp://127.0.0.1:1").state == "skipped"

    assert sending.confirm_posted(db, held.position, held.member) == 1
    db.commit()
    [post] = deliveries(db, held.position, "post")
    assert (post.state, post.letter.status) == ("sent", "sent")
    [decision] = post.resolutions
    assert (decision.member_id, decision.action) == (held.member.id, "posted")
    assert post.sent_at is not None
    assert "posted" in post.server_reply
    assert sending.confirm_posted(db, held.position, held.member) == 0


# --- the sweeper -------------------------------------------------------------------------------


def test_sweep_finds_dead_workers_and_lost_queue_messages(db, freeze, smtp_server):  # noqa: ANN001
    """An old `sending` row is in doubt; a `queued` row whose message was lost is returned."""
    frozen = freeze(candidates_csv(3))
    dead, lost, busy = deliveries(db, frozen.position, "email")
    now = datetime.now(UTC)
    assert claim_one(db, dead.id, now - timedelta(minutes=11))  # its worker died
    assert claim_one(db, busy.id, now - timedelta(seconds=5))  # still being sent
    due = sending.sweep(db, now=now)
    assert due == [lost.id]
    dead, lost, busy = deliveries(db, frozen.position, "email")
    assert dead.state == "in_doubt" and "worker stopped" in dead.last_error
    assert busy.state == "sending"
    assert lost.state == "queued"

    assert sending.sweep(db, now=now, sending_timeout=timedelta(seconds=2)) == [lost.id]
    assert deliveries(db, frozen.position, "email")[2].state == "in_doubt"
    assert send_one(db, dead.id, smtp_server.url).state == "skipped"
    assert send_one(db, lost.id, smtp_server.url).state == "sent"
    assert [r.rcpt for r in smtp_server.received] == [(lost.recipient,)]


# --- rate limit --------------------------------------------------------------------------------


def test_the_rate_limit_defers_the_sixth_letter(db, freeze, smtp_server):  # noqa: ANN001
    """At 5 a minute, five go and the sixth waits in `queued` for its turn."""
    frozen = freeze(candidates_csv(6), send_rate_per_minute=5)
    emails = deliveries(db, frozen.position, "email")
    now = datetime.now(UTC)
    attempts = sending.deliver_ids(db, [d.id for d in emails], smtp_server.url, now=now)
    assert [a.state for a in attempts] == ["sent"] * 5 + ["queued"]
    assert attempts[5].retry_at > now
    sixth = deliveries(db, frozen.position, "email")[5]
    assert sixth.state == "queued" and sixth.next_attempt_at == attempts[5].retry_at
    assert sixth.attempts == 0
    assert len(smtp_server.received) == 5
    assert send_one(db, sixth.id, smtp_server.url, now=now).state == "queued"  # still

    later = now + timedelta(seconds=61)
    assert send_one(db, sixth.id, smtp_server.url, now=later).state == "sent"
    assert len(smtp_server.received) == 6


def test_a_rate_limited_duplicate_never_takes_back_a_claim(app, db, freeze, smtp_server):  # noqa: ANN001
    """A queue duplicate that read the row before another worker claimed it changes nothing."""
    frozen = freeze(candidates_csv(2), send_rate_per_minute=1)
    first, second = deliveries(db, frozen.position, "email")
    assert send_one(db, first.id, smtp_server.url).state == "sent"  # the minute is used
    stale = db.get(Delivery, second.id)  # this worker read the row while it was queued...
    assert stale.state == "queued"
    with app.app_context():  # ...and meanwhile another worker claimed it and is sending it
        assert claim_one(_db.session, second.id, datetime.now(UTC))
    assert send_one(db, second.id, smtp_server.url).state == "skipped"
    db.expire_all()
    assert db.get(Delivery, second.id).state == "sending"  # still the other worker's
    assert len(smtp_server.received) == 1


# --- batched claims ----------------------------------------------------------------------------


def _claim_all_in_thread(app: Flask, org_id: int, first_ids: list[int], got: list,
                         errors: list) -> None:
    with app.app_context():
        try:
            for delivery_id in first_ids:
                claimed = sending.claim_batch(_db.session, delivery_id, org_id,
                                              datetime.now(UTC), 4)
                _db.session.commit()
                got.extend(c.id for c in claimed)
        except Exception as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)


def test_two_workers_never_claim_the_same_delivery(app, db, freeze):  # noqa: ANN001
    """Two sessions claiming batches at once, from the same queue messages: disjoint claims."""
    frozen = freeze(candidates_csv(40))
    ids = [d.id for d in deliveries(db, frozen.position, "email")]
    got: tuple[list, list] = ([], [])
    errors: list = []
    threads = [threading.Thread(target=_claim_all_in_thread,
                                args=(app, frozen.org.id, order, mine, errors))
               for order, mine in zip((ids, ids[::-1]), got, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert set(got[0]).isdisjoint(got[1])
    assert sorted(got[0] + got[1]) == ids  # every one claimed, each once
    assert {d.state: d.attempts for d in deliveries(db, frozen.position, "email")} \
        == {"sending": 1}


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set RECRUITER_TEST_POSTGRES_URL to run it")
@pytest.mark.parametrize("database_url", [POSTGRES_URL], ids=["postgres"])
def test_on_postgres_a_claim_skips_rows_another_worker_holds(app, db, freeze):  # noqa: ANN001
    """FOR UPDATE SKIP LOCKED: an uncommitted claim neither blocks nor shares its rows."""
    frozen = freeze(candidates_csv(6))
    ids = [d.id for d in deliveries(db, frozen.position, "email")]
    db.rollback()
    now = datetime.now(UTC)
    first = sending.claim_batch(db, ids[0], frozen.org.id, now, 4)  # not committed yet
    with app.app_context():
        _db.session.execute(text("SET lock_timeout = '2s'"))  # a wait would fail the test
        second = sending.claim_batch(_db.session, ids[0], frozen.org.id, now, 4)
        _db.session.commit()
    db.commit()
    assert [c.id for c in first] == ids[:4]
    assert [c.id for c in second] == ids[4:]  # not the first's four, and without waiting


def test_a_batch_claim_takes_no_more_than_the_rate_limit_allows(db, freeze, smtp_server):  # noqa: ANN001
    """At 5 a minute with 2 letters already in flight, a batch of 10 claims 3; then it waits."""
    frozen = freeze(candidates_csv(9), send_rate_per_minute=5)
    emails = deliveries(db, frozen.position, "email")
    now = datetime.now(UTC)
    for delivery in emails[:2]:  # another worker is sending these two right now
        assert claim_one(db, delivery.id, now)
    attempts = sending.deliver_batch(db, emails[2].id, smtp_server.url, now=now, batch=10)
    assert [(a.delivery_id, a.state) for a in attempts] \
        == [(d.id, "sent") for d in emails[2:5]]
    assert len(smtp_server.received) == 3
    [deferred] = sending.deliver_batch(db, emails[5].id, smtp_server.url, now=now, batch=10)
    assert deferred.state == "queued" and deferred.retry_at > now
    states = [d.state for d in deliveries(db, frozen.position, "email")]
    assert states == ["sending"] * 2 + ["sent"] * 3 + ["queued"] * 4
    assert len(smtp_server.received) == 3

    # A new minute for the three sent (timed from when they were recorded, which on a slow
    # machine is a while after ``now``); the two in flight still count.
    later = max(d.sent_at for d in deliveries(db, frozen.position, "email") if d.sent_at)
    later += timedelta(seconds=61)
    attempts = sending.deliver_batch(db, emails[5].id, smtp_server.url, now=later, batch=10)
    assert [a.state for a in attempts] == ["sent"] * 3
    assert len(smtp_server.received) == 6


def test_a_worker_dead_after_claiming_a_batch_leaves_it_in_doubt(db, freeze, smtp_server):  # noqa: ANN001
    """Claimed and committed, then the worker dies: all ten in doubt, none sent, none resent."""
    frozen = freeze(candidates_csv(12))
    emails = deliveries(db, frozen.position, "email")
    then = datetime.now(UTC) - timedelta(minutes=11)
    claimed = sending.claim_batch(db, emails[0].id, frozen.org.id, then, 10)
    db.commit()  # ...and the worker is killed before it sends or records anything
    assert [c.id for c in claimed] == [d.id for d in emails[:10]]

    due = sending.sweep(db)
    assert due == [d.id for d in emails[10:]]  # the two it had not claimed are due again
    states = [d.state for d in deliveries(db, frozen.position, "email")]
    assert states == ["in_doubt"] * 10 + ["queued"] * 2
    for delivery in emails[:10]:  # their queue messages arrive: nothing is sent again
        assert send_one(db, delivery.id, smtp_server.url, batch=10).state == "skipped"
    attempts = sending.deliver_batch(db, emails[10].id, smtp_server.url, batch=10)
    assert [a.delivery_id for a in attempts] == [d.id for d in emails[10:]]
    assert [r.rcpt for r in smtp_server.received] == [(d.recipient,) for d in emails[10:]]
    assert counts(db, frozen.position) == {"in_doubt": 10, "sent": 2}


def test_one_refused_recipient_in_a_batch_fails_only_that_letter(app, db, freeze,  # noqa: ANN001
                                                                 smtp_server):
    """A 550 on the third of five letters in one batch: four sent, that one failed, all audited."""
    frozen = freeze(candidates_csv(5))
    emails = deliveries(db, frozen.position, "email")
    smtp_server.refuse[emails[2].recipient] = "550 5.1.1 No such mailbox"
    attempts = sending.deliver_batch(db, emails[0].id, smtp_server.url, batch=10)
    assert [a.state for a in attempts] == ["sent", "sent", "failed", "sent", "sent"]
    emails = deliveries(db, frozen.position, "email")
    assert [d.state for d in emails] == ["sent", "sent", "failed", "sent", "sent"]
    assert [d.letter.status for d in emails] == ["sent", "sent", "frozen", "sent", "sent"]
    assert "RCPT TO: 550" in emails[2].last_error and emails[2].sent_at is None
    assert all(d.server_reply.startswith("250") for d in emails if d.state == "sent")
    assert len(smtp_server.received) == 4 and smtp_server.connections == 1
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.attempt")
                             .order_by(AuditEvent.seq)))
    assert [(e.subject_id, e.payload["state"], e.payload["reply_code"]) for e in events] == [
        (d.id, d.state, 550 if d.state == "failed" else 250) for d in emails]
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 5))
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_the_queue_task_sends_a_batch_and_drops_the_other_messages(app, db, freeze,  # noqa: ANN001
                                                                   smtp_server):
    """25 queue messages, claims of 10: every letter once, over one connection."""
    app.config["MAIL_URL"] = smtp_server.url
    assert app.config["SEND_CLAIM_BATCH"] == 10
    frozen = freeze(candidates_csv(25))
    emails = deliveries(db, frozen.position, "email")
    queue().enqueue([d.id for d in emails])
    assert counts(db, frozen.position) == {"sent": 25}
    assert sorted(smtp_server.message_ids().values()) == [1] * 25
    assert smtp_server.connections == 1
    assert {d.attempts for d in deliveries(db, frozen.position, "email")} == {1}


def test_an_unreachable_server_is_tried_once_per_batch(db, freeze):  # noqa: ANN001
    """Nothing listening: one connection attempt, and every claimed letter waits to retry."""
    frozen = freeze(candidates_csv(4))
    emails = deliveries(db, frozen.position, "email")
    try:
        attempts = sending.deliver_batch(db, emails[0].id, f"smtp://127.0.0.1:{free_port()}",
                                         batch=10)
    finally:
        close_transports()
    assert [a.state for a in attempts] == ["retry_wait"] * 4
    emails = deliveries(db, frozen.position, "email")
    assert "connection failed before sending" in emails[0].last_error
    assert all(d.last_error.startswith("not tried, the server could not be reached")
               for d in emails[1:])
    assert {d.attempts for d in emails} == {1}


def test_letters_not_sent_in_time_go_back_to_the_queue(db, freeze, smtp_server):  # noqa: ANN001
    """A slow server: what is still unsent at half the sending timeout is handed back, untried."""
    frozen = freeze(candidates_csv(4))
    emails = deliveries(db, frozen.position, "email")
    smtp_server.delay = 0.3
    attempts = sending.deliver_batch(db, emails[0].id, smtp_server.url, batch=10,
                                     sending_timeout=timedelta(seconds=0.4))
    assert attempts[0].state == "sent"
    assert {a.state for a in attempts[1:]} <= {"sent", "queued"}
    handed_back = [a.delivery_id for a in attempts if a.state == "queued"]
    assert handed_back and all(a.retry_at is not None for a in attempts if a.state == "queued")
    for delivery in deliveries(db, frozen.position, "email"):
        if delivery.id in handed_back:
            assert (delivery.state, delivery.attempts, delivery.claimed_at) == ("queued", 0, None)
    assert len(smtp_server.received) == 4 - len(handed_back)
    assert sending.sweep(db) == handed_back


@pytest.mark.parametrize("goodbye", ["", "421 4.4.2 Idle timeout, closing connection"])
def test_a_connection_the_server_dropped_is_replaced_without_a_retry(db, freeze, smtp_server,  # noqa: ANN001
                                                                     goodbye):
    """The server closed the reused connection (silently, or with a 421): reconnect, send."""
    frozen = freeze(candidates_csv(2))
    first, second = deliveries(db, frozen.position, "email")
    smtp_server.close_after_reply = goodbye
    # One letter per claim (batch=1): the second finds the connection the first one left.
    assert send_one(db, first.id, smtp_server.url, batch=1).state == "sent"
    time.sleep(0.3)  # the server has dropped us by now; no NOOP: it was used a moment ago
    assert send_one(db, second.id, smtp_server.url, batch=1).state == "sent"
    assert smtp_server.connections == 2
    assert len(smtp_server.received) == 2
    assert [d.attempts for d in deliveries(db, frozen.position, "email")] == [1, 1]


def test_a_resolved_letter_keeps_the_decision_and_gets_one_more_try(app, db, freeze,  # noqa: ANN001
                                                                   smtp_server):
    """Resend after giving up: one more try, and the person's decision outlives the success."""
    frozen = freeze(candidates_csv(2))
    doubt, full = deliveries(db, frozen.position, "email")
    smtp_server.hang_up_after_data = True
    # One letter per claim (batch=1): only the first meets the hang-up.
    assert send_one(db, doubt.id, smtp_server.url, batch=1).state == "in_doubt"
    smtp_server.hang_up_after_data = False
    assert sending.resolve(db, db.get(Delivery, doubt.id), frozen.member, "resend",
                           reason="The candidate says it never arrived.")
    db.commit()
    assert send_one(db, doubt.id, smtp_server.url, batch=1).state == "sent"
    doubt = db.get(Delivery, doubt.id)
    assert (doubt.state, doubt.last_error) == ("sent", None)
    [decision] = doubt.resolutions
    assert (decision.action, decision.member_id, decision.reason) == (
        "resend", frozen.member.id, "The candidate says it never arrived.")

    smtp_server.data_reply = "452 4.2.2 Mailbox full"
    now = datetime.now(UTC)
    for _ in range(sending.MAX_ATTEMPTS):
        now = send_one(db, full.id, smtp_server.url, now=now).retry_at or now
    full = db.get(Delivery, full.id)
    assert (full.state, full.attempts) == ("failed", sending.MAX_ATTEMPTS)
    assert sending.resolve(db, full, frozen.member, "resend")
    db.commit()
    assert db.get(Delivery, full.id).attempts == sending.MAX_ATTEMPTS - 1
    attempt = send_one(db, full.id, smtp_server.url)  # the one try, still refused
    assert attempt.state == "failed"
    assert "gave up" in db.get(Delivery, full.id).last_error
    assert [r.action for r in db.get(Delivery, full.id).resolutions] == ["resend"]
    smtp_server.data_reply = None
    assert sending.resolve(db, db.get(Delivery, full.id), frozen.member, "resend")
    db.commit()
    assert send_one(db, full.id, smtp_server.url).state == "sent"


# --- the command line --------------------------------------------------------------------------


def test_cli_send_status_and_limit(app, db, make_org, make_member, make_position, runner,  # noqa: ANN001
                                   smtp_server):
    """A dry run changes nothing; --limit refuses; status counts and exits 1 on problems."""
    app.config["MAIL_URL"] = smtp_server.url
    org = make_org()
    make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(3, post=1))
    pid = str(position.id)

    dry = runner.invoke(args=["letters", "send", pid])
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output
    assert "robin.tremblay1@example.org" in dry.output
    assert "robin.tremblay2@example.org" in dry.output and "<post>" in dry.output
    assert "maya.chen" not in dry.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Batch)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    assert db.scalar(select(func.count()).select_from(Letter)
                     .where(Letter.status != "draft")) == 0

    limited = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes",
                                  "--limit", "2"])
    assert limited.exit_code != 0
    assert "more than --limit 2" in limited.output
    assert db.scalar(select(func.count()).select_from(Batch)) == 0

    accepted = runner.invoke(args=["positions", "release", pid])  # the hire said yes first
    assert accepted.exit_code == 0 and "no batch yet" in accepted.output

    smtp_server.refuse["robin.tremblay2@example.org"] = "550 5.1.1 No such mailbox"
    sent = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes", "--limit", "3"])
    assert sent.exit_code == 0, sent.output
    assert "2 emails queued" in sent.output
    assert [r.rcpt for r in smtp_server.received] == [("robin.tremblay1@example.org",)]

    status = runner.invoke(args=["letters", "status", pid])
    assert status.exit_code == 1
    lines = status.output.splitlines()
    for line in ("held: 0", "queued: 1", "sending: 0", "retry_wait: 0", "sent: 1", "failed: 1",
                 "in_doubt: 0", "cancelled: 0"):
        assert line in lines
    [problem] = [x for x in lines if x.startswith("failed delivery")]
    assert "robin.tremblay2@example.org" in problem and "550" in problem

    again = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes"])
    assert again.exit_code == 0 and "Already frozen" in again.output
    assert len(smtp_server.received) == 1

    db.expire_all()
    [failed] = sending.problems(db, db.get(Position, position.id))
    sending.resolve(db, failed, db.scalars(select(Member)).first(), "cancel")
    db.commit()
    fine = runner.invoke(args=["letters", "status", pid])
    assert fine.exit_code == 0, fine.output
    assert "cancelled: 1" in fine.output.splitlines()


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_url_selects_the_store(tmp_path):  # noqa: ANN001
    """SQLite by default, Redis for redis:// URLs, memory for memory://; nothing else."""
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    from recruiter.queue import _huey

    assert isinstance(_huey(f"sqlite:///{tmp_path / 'q' / 'queue.db'}", False), SqliteHuey)
    assert (tmp_path / "q" / "queue.db").exists()
    assert isinstance(_huey("redis://127.0.0.1:6379/15", False), RedisHuey)  # connects lazily
    assert isinstance(_huey("memory://", False), MemoryHuey)
    with pytest.raises(ValueError, match="RECRUITER_QUEUE_URL"):
        _huey("amqp://127.0.0.1/", False)


def test_the_queue_schedules_retries_and_the_sweep_enqueues(app, db, freeze, smtp_server):  # noqa: ANN001
    """Tasks carry only the id; a 4xx schedules a retry; the periodic sweep finds lost ones."""
    frozen = freeze(candidates_csv(2))
    first, second = (d.id for d in deliveries(db, frozen.position, "email"))
    worker_app = create_app({**app.config, "QUEUE_URL": "memory://", "QUEUE_IMMEDIATE": False,
                             "MAIL_URL": smtp_server.url,
                             "SEND_CLAIM_BATCH": 1})  # else the first task takes both
    with worker_app.app_context():
        huey = queue().huey
        smtp_server.connect_reply = "421 4.3.2 Too busy"
        queue().enqueue([first])  # the second's queue message was lost
        task = huey.dequeue()
        assert task.args == (first,)
        assert huey.execute(task) == "retry_wait"
        [retry] = huey.pending()  # a consumer would hold it until its eta
        assert retry.args == (first,)
        assert retry.eta > datetime.now(UTC).replace(tzinfo=None)  # Huey keeps naive UTC
        huey.flush()  # the retry is not due in this test
        smtp_server.connect_reply = None

        queue().sweep()  # the periodic task, run now rather than on the minute
        assert huey.execute(huey.dequeue()) == 1  # the second; the first waits for its retry
        assert huey.execute(huey.dequeue()) == "sent"
        assert huey.pending_count() == 0
        _db.session.remove()
        _db.engine.dispose()
    assert [d.state for d in deliveries(db, frozen.position, "email")] == ["retry_wait", "sent"]


# --- processes: a crash mid-batch, and two workers on PostgreSQL and Redis ---------------------


@contextmanager
def standalone_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, database_url: str,
                   queue_url: str, mail_url: str) -> Iterator[Flask]:
    """An app like a worker's: a real queue (not immediate), the given database and mail."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": database_url,
                      "MAIL_URL": mail_url, "QUEUE_URL": queue_url, "QUEUE_IMMEDIATE": False,
                      "SENDING_TIMEOUT": 2})
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        _db.create_all()
        try:
            yield app
        finally:
            _db.session.remove()
            _db.engine.dispose()


def _big_batch(count: int) -> tuple[Position, Member]:
    """A position with ``count`` emailed decline letters, approved and frozen, released."""
    from recruiter.services.accounts import create_member, create_organization
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    session = _db.session
    org = create_organization(session, "Harbour Air Logistics", sender_name="Jordan Reyes",
                              sender_email="hiring@harbourair.example.com",
                              address="1055 West Hastings Street\nVancouver BC",
                              send_rate_per_minute=0)
    member = create_member(session, org, email="manager@example.com", role="manager",
                           password=PASSWORD, name="Manager")
    position = create_position(session, org, title="Operations Coordinator",
                               location="Vancouver, BC",
                               differentiator="hands-on aviation operations experience")
    import_rows(session, position, accepted_rows(parse_candidates(candidates_csv(count))))
    session.commit()
    approve(session, position, member)
    batch, created = sending.freeze_batch(session, position, member, hold_until_accepted=False)
    session.commit()
    assert created and batch.state == "released"
    return position, member


def _worker(tmp_path: Path, name: str, app: Flask) -> subprocess.Popen:
    """`recruiter worker --workers 2` in its own process, configured by environment."""
    env = {**os.environ,
           "RECRUITER_INSTANCE_PATH": str(tmp_path / "instance"),
           "RECRUITER_DATABASE_URL": app.config["DATABASE_URL"],
           "RECRUITER_QUEUE_URL": app.config["QUEUE_URL"],
           "RECRUITER_MAIL_URL": app.config["MAIL_URL"],
           "RECRUITER_SENDING_TIMEOUT": "2"}
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
    try:
        return subprocess.Popen(
            [sys.executable, "-c", "from recruiter.cli import main; main()",
             "worker", "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # a graceful stop: finish the task at hand
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str,
              logs: list[Path] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = "\n".join(path.read_text(errors="replace")[-3000:] for path in logs if path.exists())
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; deliveries: "
                         f"{_state_counts()}\n{tail}")


def _client_ports(pid: int, server_port: int) -> set[int]:
    """The local ports of a process's TCP connections to ``server_port`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.rpartition(":")[2], 16) == server_port:
            ports.add(int(local.rpartition(":")[2], 16))
    return ports


def _state_counts() -> dict[str, int]:
    rows = _db.session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
    found = {state: count for state, count in rows}
    _db.session.rollback()  # no transaction (and no SQLite lock) held while we wait
    return found


def _unfinished() -> int:
    return sum(n for state, n in _state_counts().items()
               if state in ("held", "queued", "retry_wait", "sending"))


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
        tmp_path, monkeypatch, smtp_server):  # noqa: ANN001
    """500 letters; kill -9 the worker mid-batch; sweep; restart. No duplicates, no losses."""
    smtp_server.delay = 0.005
    smtp_server.stall_at = 150  # the 150th message is taken, and its reply held back
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    with standalone_app(tmp_path, monkeypatch, database_url=f"sqlite:///{tmp_path / 'r.db'}",
                        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
                        mail_url=smtp_server.url) as app:
        first = _worker(tmp_path, "worker1", app)
        second = None
        try:
            position, _ = _big_batch(500)
            due = [d.id for d in deliveries(_db.session, position, "email")]
            assert len(due) == 500
            queue().enqueue(due)
            _wait_for(smtp_server.stalled.is_set, 300, "150 messages at the server", logs)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            arrived_before_restart = len(smtp_server.received)
            assert 150 <= arrived_before_restart < 500

            time.sleep(2.5)  # older than RECRUITER_SENDING_TIMEOUT=2
            again = sending.sweep(_db.session, sending_timeout=timedelta(seconds=2))
            _db.session.commit()
            queue().enqueue(again)  # lost and still-queued messages: duplicates are dropped
            second = _worker(tmp_path, "worker2", app)
            _wait_for(lambda: _unfinished() == 0, 300, "every delivery to finish", logs)
        finally:
            for process in (first, second):
                if process is not None:
                    _stop(process)

        emails = deliveries(_db.session, position, "email")
        states = Counter(d.state for d in emails)
        assert set(states) <= {"sent", "in_doubt"}, states
        assert states["in_doubt"] >= 1  # the stalled 150th message, at least
        at_server = smtp_server.message_ids()
        assert [mid for mid, n in at_server.items() if n > 1] == []  # zero duplicates
        assert len(at_server) == len(smtp_server.received)
        for delivery in emails:
            seen = at_server[delivery.letter.frozen.message_id]
            if delivery.state == "sent":
                assert seen == 1, delivery.id
            else:
                assert seen <= 1, delivery.id  # in doubt: arrived once, or not at all
        assert sum(at_server.values()) >= states["sent"]

        status = app.test_cli_runner().invoke(args=["letters", "status", str(position.id)])
        assert status.exit_code == 1
        assert f"sent: {states['sent']}" in status.output.splitlines()
        assert f"in_doubt: {states['in_doubt']}" in status.output.splitlines()
        for delivery in emails:
            if delivery.state == "in_doubt":
                assert f"in_doubt delivery {delivery.id} " in status.output


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL),
                    reason="set RECRUITER_TEST_POSTGRES_URL and RECRUITER_TEST_REDIS_URL to run "
                           "two workers on PostgreSQL and Redis")
def test_two_workers_on_postgres_and_redis_send_1000_letters_once(
        tmp_path, monkeypatch, smtp_server):  # noqa: ANN001
    """Two worker processes share one Redis queue and one PostgreSQL: 1,000 sent, no duplicate."""
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    with standalone_app(tmp_path, monkeypatch, database_url=str(POSTGRES_URL),
                        queue_url=str(REDIS_URL), mail_url=smtp_server.url) as app:
        huey = queue().huey
        huey.flush()
        workers = []
        try:
            position, _ = _big_batch(1000)
            due = [d.id for d in deliveries(_db.session, position, "email")]
            assert len(due) == 1000
            workers = [_worker(tmp_path, "worker-a", app), _worker(tmp_path, "worker-b", app)]
            queue().enqueue(due + due[::-1])  # every letter twice: the row decides, not the queue
            _wait_for(lambda: _unfinished() == 0, 300, "1,000 letters to be sent", logs)
            server_port = int(smtp_server.url.rpartition(":")[2])
            senders = [_client_ports(w.pid, server_port) for w in workers]
        finally:
            for process in workers:
                _stop(process)
            huey.flush()
        assert _state_counts() == {"sent": 1000}
        at_server = smtp_server.message_ids()
        assert len(smtp_server.received) == 1000
        assert set(at_server.values()) == {1}
        assert set(at_server) == {d.letter.frozen.message_id
                                  for d in deliveries(_db.session, position, "email")}
        assert all(p.returncode is not None for p in workers)
        used = {r.client_port for r in smtp_server.received}
        assert all(ports & used for ports in senders), "both worker processes sent letters"


def test_a_resent_letter_whose_worker_dies_keeps_the_decision(db, freeze, smtp_server) -> None:  # noqa: ANN001
    """In doubt, resent by a person, then its worker dies: in doubt again, the note kept."""
    frozen = freeze(candidates_csv(1))
    [delivery] = deliveries(db, frozen.position, "email")
    smtp_server.hang_up_after_data = True
    assert send_one(db, delivery.id, smtp_server.url).state == "in_doubt"
    assert sending.resolve(db, db.get(Delivery, delivery.id), frozen.member, "resend")
    db.commit()
    now = datetime.now(UTC)
    assert claim_one(db, delivery.id, now)  # a worker takes it, then dies before DATA
    assert sending.sweep(db, now=now + sending.SENDING_TIMEOUT + timedelta(seconds=1)) == []
    db.expire_all()
    stale = db.get(Delivery, delivery.id)
    assert stale.state == "in_doubt"
    assert stale.last_error == sending.LOST_WORKER
    assert [(r.action, r.state_before) for r in stale.resolutions] == [("resend", "in_doubt")]
