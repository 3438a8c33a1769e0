"""A test letter: one candidate's letter, as it would be sent now, mailed to the member asking.

Built as freezing builds it (send mode, the organization's sender and Reply-To, dated today in
its time zone) and handed to the same transport as real letters, but marked as a test: the
subject starts with ``[TEST] ``, an ``X-Recruiter-Test: yes`` header says so to filters, and it
has a Message-ID of its own, never the letter's. It is recorded in the audit as
``letter.test_sent`` and is never a sending: no delivery, no change to the letter, no webhook.

The deliverability page sends the same test of the organization's newest testable letter, or,
when it has none, a built-in sample (``organization.test_sent``), and shows the headers of the
bytes that were handed to the transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Letter, Member, Organization
from . import audit, dkim_sign
from . import letters as letters_service
from .mail import Envelope, build_message, new_message_id, valid_address
from .organization import reply_address
from .orgtime import org_today
from .rendering import Boilerplate, render_letter
from .sending.transport import transport_for

PREFIX = "[TEST] "
HEADER = "X-Recruiter-Test"
TESTABLE = ("draft", "approved")  # a frozen letter's email is final: it is in the audit


@dataclass(frozen=True)
class SentTest:
    """What went out: to whom, with which Message-ID, and what the transport said."""

    recipient: str
    message_id: str
    reply: str
    data: bytes = b""  # exactly what was handed to the transport

    @property
    def headers(self) -> str:
        """The header block of what left, as it left (CRLF shown as line ends)."""
        head = self.data.partition(b"\r\n\r\n")[0]
        return head.decode("utf-8", "replace").replace("\r\n", "\n")


def build_test_letter(letter: Letter, member: Member, *, now: datetime | None = None
                 ) -> tuple[str, str, str, bytes]:
    """(sender, recipient, Message-ID, bytes) of the test of ``letter`` for ``member``.

    Refuses, kindly and with a RecruiterError, what cannot be tested: a letter that does not
    render, one already frozen, cancelled or going by post, and a missing sender address.
    """
    name = letter.application.candidate.full_name or "this candidate"
    if letter.status not in TESTABLE:
        raise RecruiterError(f"The letter to {name} is {letter.status}: only a draft or an "
                             "approved letter can be sent as a test.")
    if letter.application.letter_channel != "email":
        raise RecruiterError(f"The letter to {name} goes by post; open its PDF to see it as "
                             "it will be printed.")
    if letter.render_error:
        raise RecruiterError(f"The letter to {name} cannot be rendered, so no test was sent: "
                             f"{letter.render_error}")
    org = letters_service.organization_of(letter)
    try:
        sender = valid_address(org.sender_email, "sender address")
    except RecruiterError as exc:
        raise RecruiterError(f"Set the organization's sender email first: {exc}") from exc
    recipient = valid_address(member.email, "email address of your account")
    now = now or datetime.now(UTC)
    [context] = letters_service.send_contexts([letter], today=org_today(org, now))
    version = letter.boilerplate_version
    try:  # send mode, as freezing renders it: an unfilled field fails instead of showing
        rendered = render_letter(Boilerplate(subject=version.subject, body=version.body),
                                 context)
    except Exception as exc:  # noqa: BLE001  (a template's error, said to the member)
        raise RecruiterError(f"The letter to {name} does not render as it would be sent, so "
                             f"no test was sent: {exc}") from exc
    message_id = new_message_id(sender.rpartition("@")[2])  # never the letter's own
    envelope = Envelope(org.sender_name or org.name, sender, member.name or "", recipient,
                        message_id, reply_address(org, letter.application.position))
    message = build_message(envelope, subject=PREFIX + rendered.subject, text=rendered.text,
                            html=rendered.html, date=now, language=context.locale)
    message[HEADER] = "yes"
    return sender, recipient, message_id, dkim_sign.signer()(message.as_bytes())


def send_test_letter(session: Session, letter: Letter, member: Member, mail_url: str, *,
                     now: datetime | None = None) -> SentTest:
    """Mail the test of ``letter`` to ``member`` and record it; a RecruiterError if not sent.

    Sent before it is recorded, so no lock is held while the mail server answers. Flushes,
    never commits.
    """
    sender, recipient, message_id, data = build_test_letter(letter, member, now=now)
    sent = _send(sender, recipient, message_id, data, mail_url)
    audit.record(session, letter.organization_id, "letter.test_sent", actor=member,
                 subject=letter, payload={"member": member.id, "recipient": recipient,
                                          "message_id": message_id})
    return sent


def _send(sender: str, recipient: str, message_id: str, data: bytes,
          mail_url: str) -> SentTest:
    """Hand one test to the transport; a RecruiterError saying why when it was not sent."""
    transport = transport_for(mail_url)
    try:
        outcome = transport.send(sender, recipient, data, message_id)
    finally:  # a web request's thread keeps no SMTP connection open for the next test
        transport.close()
    if outcome.state != "sent":
        raise RecruiterError(f"The test letter could not be sent to {recipient}: "
                             f"{outcome.reply}")
    return SentTest(recipient, message_id, outcome.reply, data)


SAMPLE = ("This is a sample email from {org}, sent from recruiter's deliverability page. It "
          "is built, dated and signed as the letters are, and no candidate received it.",
          "If it reached your inbox rather than spam, the letters should too.")


def build_sample(org: Organization, member: Member, *, now: datetime | None = None
                 ) -> tuple[str, str, str, bytes]:
    """(sender, recipient, Message-ID, bytes) of the built-in sample; no letter needed.

    For an organization that has no letter to test yet: its sender, Reply-To and signature.
    """
    try:
        sender = valid_address(org.sender_email, "sender address")
    except RecruiterError as exc:
        raise RecruiterError(f"Set the organization's sender email first: {exc}") from exc
    recipient = valid_address(member.email, "email address of your account")
    message_id = new_message_id(sender.rpartition("@")[2])
    paragraphs = [text.format(org=org.name) for text in SAMPLE]
    signature = org.sender_name or org.name
    envelope = Envelope(signature, sender, member.name or "", recipient, message_id,
                        reply_address(org))
    message = build_message(
        envelope, subject=f"{PREFIX}A sample letter from {org.name}",
        text="\n\n".join([f"Hello {member.name or ''},".replace(" ,", ","), *paragraphs,
                           signature]) + "\n",
        html="".join(f"<p>{escape(text)}</p>" for text in [*paragraphs, signature]),
        date=now or datetime.now(UTC), language=org.locale or "en")
    message[HEADER] = "yes"
    return sender, recipient, message_id, dkim_sign.signer()(message.as_bytes())


def send_sample(session: Session, org: Organization, member: Member, mail_url: str, *,
                now: datetime | None = None) -> SentTest:
    """Mail the built-in sample to ``member`` and record it (``organization.test_sent``).

    Flushes, never commits.
    """
    sender, recipient, message_id, data = build_sample(org, member, now=now)
    sent = _send(sender, recipient, message_id, data, mail_url)
    audit.record(session, org.id, "organization.test_sent", actor=member, subject=org,
                 payload={"member": member.id, "recipient": recipient,
                          "message_id": message_id})
    return sent
