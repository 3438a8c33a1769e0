"""Bounces (issue 18, point 3): VERP envelope senders, DSNs read, letters moved to bounced.

The fixtures in tests/fixtures/dsn are real-world shaped reports (Postfix, Exim, Microsoft
Exchange Online, qmail, an out-of-office reply); ``__VERP__``, ``__MESSAGE_ID__`` and
``__RECIPIENT__`` are filled in with the letter's own. Every test runs on SQLite and, when CI
provides it, PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from test_sending import Frozen, _quick, deliveries, free_port, freeze, send_one  # noqa: F401

from recruiter.models import AuditEvent, Delivery, FrozenLetter, Letter
from recruiter.services import audit, sending, verp
from recruiter.services.bounces import apply_bounce, apply_returned
from recruiter.services.dsn import is_auto_reply, read_returned
from recruiter.services.outcomes import LETTER_LIFE, letter_life
from recruiter.services.sending import transport as sending_transport

FIXTURES = Path(__file__).parent / "fixtures" / "dsn"
DOMAIN = "bounces.harbourair.example.com"


def returned(name: str, delivery: Delivery | None = None, *, message_id: str | None = None,
             token: str | None = None) -> bytes:
    """A fixture with the delivery's VERP address, Message-ID and recipient filled in."""
    raw = (FIXTURES / name).read_bytes()
    if delivery is not None:
        token = token or delivery.bounce_token or "nottokenizedxxxxxxxxxxxxxxxxxxxx"
        message_id = message_id or delivery.letter.frozen.message_id
        raw = raw.replace(b"__RECIPIENT__", (delivery.recipient or "").encode())
    raw = raw.replace(b"__VERP__", verp.verp_address(token or "", DOMAIN).encode())
    return raw.replace(b"__MESSAGE_ID__", (message_id or "<none@example.org>").encode())


def events(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    """The audit events of one action, oldest first."""
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def event_total(db) -> int:  # noqa: ANN001
    """How many audit events there are, of every organization."""
    return db.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def sent(app, db, freeze) -> Callable[..., list[Delivery]]:  # noqa: ANN001, F811
    """Freeze and send two emails through the outbox folder; their deliveries, sent."""

    def make(bounce_domain: str = DOMAIN, **org_settings: object) -> list[Delivery]:
        frozen: Frozen = freeze(**org_settings)
        frozen.org.bounce_domain = bounce_domain
        db.commit()
        for delivery in deliveries(db, frozen.position, "email"):
            send_one(db, delivery.id, app.config["MAIL_URL"])
        emails = deliveries(db, frozen.position, "email")
        assert [d.state for d in emails] == ["sent", "sent"]
        return emails

    return make


def fresh(db, delivery: Delivery) -> Delivery:  # noqa: ANN001
    """The delivery as the database has it now."""
    db.expire_all()
    return db.get(Delivery, delivery.id)


# --- the reports -------------------------------------------------------------------------------


def test_a_5_1_1_bounce_moves_the_letter_to_bounced_and_is_audited(db, sent) -> None:  # noqa: ANN001
    """Postfix's 5.1.1 names the delivery by its token: bounced, with status and diagnostic."""
    first, second = sent()
    result = apply_returned(db, returned("postfix_5.1.1_user_unknown.eml", first), None,
                            source="maildir")
    db.commit()
    assert (result.outcome, result.delivery_id, result.kind) == ("bounced", first.id, "dsn")
    first, second = fresh(db, first), fresh(db, second)
    assert (first.state, first.bounce_status) == ("bounced", "5.1.1")
    assert "Recipient address rejected: User unknown" in first.bounce_diagnostic
    assert first.bounced_at is not None and second.state == "sent"
    assert first.letter.status == "sent"
    assert letter_life(first.letter, first) == "bounced" and "bounced" in LETTER_LIFE
    [event] = events(db, "delivery.bounced")
    assert (event.subject_type, event.subject_id) == ("delivery", first.id)
    assert event.payload == {"status": "5.1.1", "source": "maildir", "state_before": "sent"}
    assert "@" not in repr(event.payload)  # no address, no diagnostic text
    assert audit.verify(db) == []


def test_a_4_2_2_delay_keeps_the_letter_sent_and_notes_why(db, sent) -> None:  # noqa: ANN001
    """Exim's mailbox-full warning: still sent, the status noted; a repeat adds nothing."""
    first, _ = sent()
    raw = returned("exim_4.2.2_mailbox_full.eml", first)
    assert apply_returned(db, raw, None, source="imap").outcome == "kept"
    db.commit()
    first = fresh(db, first)
    assert (first.state, first.bounce_status, first.bounced_at) == ("sent", "4.2.2", None)
    assert "over quota" in first.bounce_diagnostic
    assert len(events(db, "delivery.delayed")) == 1
    before = event_total(db)
    assert apply_returned(db, raw, None, source="imap").outcome == "kept"
    db.commit()
    assert event_total(db) == before


def test_an_out_of_office_reply_changes_nothing(db, sent) -> None:  # noqa: ANN001
    """A French auto-reply that names our Message-ID is recognised and ignored."""
    first, _ = sent()
    before = event_total(db)
    result = apply_returned(db, returned("out_of_office.eml", first), None, source="maildir")
    db.commit()
    assert (result.outcome, result.kind, result.delivery_id) == ("ignored", "auto_reply", None)
    first = fresh(db, first)
    assert (first.state, first.bounce_status) == ("sent", None)
    assert event_total(db) == before


def test_the_same_bounce_twice_changes_nothing_the_second_time(db, sent) -> None:  # noqa: ANN001
    """Idempotent: the second reading says "already" and writes no event."""
    first, _ = sent()
    raw = returned("postfix_5.1.1_user_unknown.eml", first)
    assert apply_returned(db, raw, None, source="mbox").outcome == "bounced"
    db.commit()
    at, before = fresh(db, first).bounced_at, event_total(db)
    assert apply_returned(db, raw, None, source="mbox").outcome == "already"
    db.commit()
    assert fresh(db, first).bounced_at == at and event_total(db) == before


def test_a_bounce_of_a_message_we_never_sent_is_not_ours(db, sent) -> None:  # noqa: ANN001
    """A bounce of someone's own mail from the hiring inbox touches no letter."""
    emails = sent()
    result = apply_returned(db, returned("unknown_message_id.eml"), None, source="maildir")
    assert (result.outcome, result.delivery_id) == ("unknown", None)
    assert {fresh(db, d).state for d in emails} == {"sent"}


def test_exchange_and_qmail_bounces_are_found_by_message_id(db, sent) -> None:  # noqa: ANN001
    """Without VERP: Exchange's 5.1.10 NDR and qmail's text bounce, by their Message-IDs."""
    first, second = sent(bounce_domain="")
    assert first.bounce_token is None
    exchange = apply_returned(db, returned("exchange_5.1.10_ndr.eml", first), None,
                              source="imap")
    qmail = apply_returned(db, returned("qmail_failure_notice.eml", second), None,
                           source="imap")
    db.commit()
    assert (exchange.outcome, qmail.outcome, qmail.kind) == ("bounced", "bounced", "text_bounce")
    first, second = fresh(db, first), fresh(db, second)
    assert (first.bounce_status, second.bounce_status) == ("5.1.10", "5.1.1")
    assert first.bounce_diagnostic.startswith("550 5.1.10 RESOLVER.ADR.RecipientNotFound")


def test_a_token_is_matched_whatever_case_the_server_gave_it(db, sent) -> None:  # noqa: ANN001
    """Receiving servers may upper-case a local part; the token still names the letter."""
    first, _ = sent()
    raw = returned("postfix_5.1.1_user_unknown.eml", first, message_id="<other@example.org>")
    raw = raw.replace(first.bounce_token.encode(), first.bounce_token.upper().encode())
    assert apply_returned(db, raw, None, source="maildir").outcome == "bounced"


def test_an_organization_matches_only_its_own_letters(db, sent, make_org) -> None:  # noqa: ANN001
    """With --org, another organization's bounce is not ours."""
    first, _ = sent()
    other = make_org("Fraser Freight")
    raw = returned("postfix_5.1.1_user_unknown.eml", first)
    assert apply_returned(db, raw, other.id, source="maildir").outcome == "unknown"
    assert apply_returned(db, raw, first.organization_id, source="maildir").outcome == "bounced"


def test_apply_bounce_reads_smtp_codes_and_the_reports_own_word(db, sent) -> None:  # noqa: ANN001
    """"550" is a 5.0.0; a 4.4.7 the server gave up on (permanent) bounces; 2.0.0 does not."""
    first, second = sent()
    mid = second.letter.frozen.message_id
    assert apply_bounce(db, None, token=first.bounce_token, status="2.0.0", diagnostic="ok",
                        source="webhook:test").outcome == "ignored"
    assert apply_bounce(db, None, token=first.bounce_token, status="550", diagnostic="gone",
                        source="webhook:test").outcome == "bounced"
    assert apply_bounce(db, None, message_id=mid.strip("<>"), status="4.4.7",
                        diagnostic="expired", source="webhook:test",
                        permanent=True).outcome == "bounced"
    db.commit()
    assert (fresh(db, first).bounce_status, fresh(db, second).bounce_status) == ("5.0.0",
                                                                               "4.4.7")


def test_a_relay_event_may_name_a_sole_recipient_of_one_organization(db, sent) -> None:  # noqa: ANN001
    """Only with an organization, and only when one letter that left went to the address."""
    first, _ = sent()
    address = first.recipient.upper()
    assert apply_bounce(db, None, recipient=address, status="5.1.1", diagnostic="",
                        source="webhook:test").outcome == "unknown"
    assert apply_bounce(db, first.organization_id, recipient=address, status="5.1.1",
                        diagnostic="", source="webhook:test").outcome == "bounced"


def test_a_letter_in_doubt_that_bounced_did_leave(db, sent) -> None:  # noqa: ANN001
    """In doubt, then a bounce: it left but never arrived; its letter's life is bounced."""
    first, _ = sent()
    first.state = "in_doubt"
    first.letter.status = "frozen"
    db.commit()
    assert apply_bounce(db, None, token=first.bounce_token, status="5.2.1",
                        diagnostic="disabled", source="maildir").outcome == "bounced"
    db.commit()
    first = fresh(db, first)
    assert (first.state, first.letter.status) == ("bounced", "frozen")
    assert letter_life(first.letter, first) == "bounced"


def test_auto_replies_are_told_from_bounces() -> None:
    """Headers and subjects in several languages; a DSN with Auto-Submitted is still a DSN."""
    for headers in ("Subject: Out of Office: Your application", "X-Autorespond: yes",
                    "Subject: =?utf-8?q?Abwesenheitsnotiz=3A_Ihre_Bewerbung?=",
                    "Subject: Automatic reply: Your application", "Precedence: bulk",
                    "Auto-Submitted: auto-replied"):
        message = message_from_bytes(f"From: a@example.org\n{headers}\n\nAway.\n".encode())
        assert is_auto_reply(message), headers
    assert not is_auto_reply(message_from_bytes(b"Subject: Thank you\nAuto-Submitted: no\n\nHi"))
    assert read_returned(returned("postfix_5.1.1_user_unknown.eml")).kind == "dsn"
    assert read_returned(b"From: a@example.org\nSubject: Thanks\n\nHello.\n").kind == "other"


def test_a_text_bounce_counts_only_from_a_mail_system() -> None:
    """The same words from a person are not a bounce; odd bytes and charsets never fail."""
    qmail = returned("qmail_failure_notice.eml")
    assert read_returned(qmail).worst.status == "5.1.1"
    person = qmail.replace(b"From: MAILER-DAEMON@mx.oldhost.example.org",
                           b"From: Robin <robin@example.org>").replace(b"Return-Path: <>\n", b"")
    assert read_returned(person).kind == "other"
    odd = qmail.replace(b"Subject: failure notice",
                        b"Subject: failure notice\nContent-Type: text/plain; charset=x-nonsense")
    assert read_returned(odd).kind == "text_bounce"
    for raw in (b"", b"\xff\xfe\x00garbage", b"Content-Type: multipart/report\n\n--x--"):
        assert read_returned(raw).kind == "other"


# --- VERP ----------------------------------------------------------------------------------------


class Envelopes:
    """An aiosmtpd handler that keeps each message's MAIL FROM and bytes."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, D102, N802
        with self.lock:
            self.received.append((envelope.mail_from, envelope.content))
        return "250 OK"


@pytest.fixture
def envelopes() -> Iterator[tuple[Envelopes, str]]:
    """A real SMTP server on 127.0.0.1 and its URL."""
    handler = Envelopes()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{controller.port}"
    finally:
        for transport in sending_transport._local.__dict__.pop("transports", {}).values():
            transport.close()
        controller.stop()


@pytest.mark.parametrize("domain", [DOMAIN, ""])
def test_each_letter_leaves_with_its_own_unguessable_envelope_sender(db, freeze, envelopes,  # noqa: ANN001, F811
                                                                    domain: str) -> None:
    """MAIL FROM is bounces+<random token>@domain, From unchanged; no bounce domain, no token."""
    server, url = envelopes
    frozen = freeze()
    frozen.org.bounce_domain = domain
    db.commit()
    emails = deliveries(db, frozen.position, "email")
    sending.deliver_ids(db, [d.id for d in emails], url)
    db.expire_all()
    tokens = [db.get(Delivery, d.id).bounce_token for d in emails]
    senders = sorted(mail_from for mail_from, _ in server.received)
    assert len(server.received) == 2
    for _, content in server.received:
        assert message_from_bytes(content)["From"].endswith("<hiring@harbourair.example.com>")
    if not domain:
        assert tokens == [None, None]
        assert senders == ["hiring@harbourair.example.com"] * 2
        return
    assert senders == sorted(f"bounces+{token}@{DOMAIN}" for token in tokens)
    assert len(set(tokens)) == 2
    assert all(re.fullmatch(r"[a-z2-7]{32}", token) for token in tokens)  # lower-case safe
    copies = db.scalars(select(FrozenLetter.eml).join(Letter, Letter.id == FrozenLetter.letter_id)
                        .where(Letter.id.in_([d.letter_id for d in emails]))).all()
    assert all(verp.PREFIX.encode() + b"+" not in eml for eml in copies)  # bytes unchanged


def test_a_token_is_160_random_bits_and_nothing_else(monkeypatch) -> None:  # noqa: ANN001
    """The token is the random source's bytes in base32, so no id can be read from it."""
    monkeypatch.setattr(verp.secrets, "token_bytes", lambda n: b"\xff" * n)
    assert verp.new_token() == "7" * 32
    assert verp.token_in(f"To: <BOUNCES+{'7' * 32}@{DOMAIN.upper()}>", DOMAIN) == "7" * 32
    assert verp.token_in(f"bounces+{'7' * 32}@elsewhere.example", DOMAIN) is None
