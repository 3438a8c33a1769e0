"""Build letters as email messages: one validated recipient, no header injection.

Every letter's email, wherever it goes (frozen and sent, exported, merged, a test), is made by
``_compose``: Date (RFC 5322, in UTC) always, the Message-ID its caller gives (none for a
draft), MIME-Version once, Reply-To, Auto-Submitted, and body lines of at most 76 characters
(RFC 2045) whatever the encoding; headers fold at 78 (RFC 5322).

``build_message`` builds one message. ``build_messages`` and ``render_emails`` build a batch
with the same code and the same bytes (apart from each message's random MIME boundary), but
share the headers every letter of a batch has in common: see ``_BatchHeaders``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, make_msgid
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..adapters import mime_boundary
from ..errors import AddressError, RecruiterError
from . import workers as _workers
from .mail_html import html_document
from .rendering import Boilerplate, LetterContext, render_letter

PARALLEL_MIN = 2000  # below this, starting worker processes costs more than it saves
PARALLEL_CHUNK = 250
_SHARED_HEADERS = 512  # distinct header values one batch keeps
_SEEN_VALUES = 4096  # header values met once, remembered (as strings) to be kept if met again

BODY_LINE = 76  # RFC 2045: encoded lines of at most 76 characters
_CONTROL = re.compile(r"[\r\n\0]")


def check_header(value: str, field: str) -> str:
    """Refuse CR, LF and NUL in a header value, naming the field."""
    if _CONTROL.search(value):
        raise AddressError(f'The {field} contains a line break, which is not allowed in email.')
    return value


def valid_address(address: str, field: str = "recipient address") -> str:
    """Return the normalised address, or raise AddressError naming the field."""
    check_header(address, field)
    if address.count("@") != 1 or "," in address or ";" in address:
        raise AddressError(f"The {field} must be exactly one email address.")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AddressError(f"The {field} {address!r} is not valid: {exc}") from exc


def new_message_id(domain: str) -> str:
    """A fresh, globally unique Message-ID for a letter."""
    return make_msgid(domain=domain or "recruiter.invalid")


def message_date(when: datetime | None = None) -> str:
    """The Date header of a message written at ``when`` (default: now), in UTC.

    A naive ``when`` is UTC, as the database gives back what was stored as UTC.
    """
    when = when or datetime.now(UTC)
    return format_datetime((when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC))


@dataclass(frozen=True)
class Envelope:
    """Who a letter is from and to."""

    sender_name: str
    sender_email: str
    recipient_name: str
    recipient_email: str
    message_id: str | None  # None: a draft, which must not pass for the letter itself
    reply_to: str | None = None


def build_message(
    envelope: Envelope,
    *,
    subject: str,
    text: str,
    html: str,
    pdf: bytes | None = None,
    pdf_name: str = "letter.pdf",
    date: datetime | None = None,
    language: str = "en",
) -> EmailMessage:
    """A multipart/alternative message (text and HTML), optionally with the PDF attached.

    Dated ``date`` (default: now); its HTML is in ``language`` (a locale, ``en_CA``).
    """
    to = valid_address(envelope.recipient_email)
    sender = valid_address(envelope.sender_email, "sender address")
    reply_to = _reply_to(envelope.reply_to)
    msg = _compose(SMTP, envelope, sender, to, reply_to, subject=subject, text=text, html=html,
                   date=message_date(date), language=language)
    if pdf is not None:
        # base64 at 78 writes 57 bytes a line: 76 characters, as RFC 2045 wants
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
        _one_mime_version(msg)
    return msg


def _reply_to(address: str | None) -> str | None:
    """The validated Reply-To address, or None when the envelope has none."""
    return valid_address(address, "reply-to address") if address else None


def _compose(policy: EmailPolicy, envelope: Envelope, sender: str, to: str,
             reply_to: str | None, *, subject: str, text: str, html: str, date: str,
             language: str, boundary: bool = False) -> EmailMessage:
    """The one builder (module docstring); ``boundary`` picks it now, not when written."""
    for value, field in ((subject, "subject"), (envelope.recipient_name, "recipient name"),
                         (envelope.sender_name, "sender name"),
                         (envelope.message_id or "", "Message-ID")):
        check_header(value, field)
    if not all(x.rpartition("@")[0].isascii() for x in (to, sender, reply_to or "")):
        # A mailbox name beyond ASCII can only travel as SMTPUTF8 (RFC 6532): raw UTF-8
        # headers, never an encoded word inside an address, which no server can deliver.
        policy = policy.clone(utf8=True)
    # Bodies are encoded when set, with the policy of that moment: lines of at most 76.
    msg = EmailMessage(policy=policy.clone(max_line_length=BODY_LINE))
    msg["Subject"] = subject
    msg["From"] = _address(envelope.sender_name, sender)
    msg["To"] = _address(envelope.recipient_name, to)
    if reply_to:  # written as From is, so an internationalized domain stays an address
        msg["Reply-To"] = _address("", reply_to)
    if envelope.message_id is not None:
        msg["Message-ID"] = envelope.message_id
    msg["Date"] = date
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    document = html_document(subject, html, language)
    chosen = mime_boundary.choose(text, document) if boundary else None
    if chosen is not None:  # else the generator picks it when the message is written
        msg.make_alternative(boundary=chosen)
    msg.add_alternative(document, subtype="html")
    _one_mime_version(msg)
    msg.policy = policy  # headers fold as the policy says (78), when written
    return msg


def _one_mime_version(msg: EmailMessage) -> None:
    """MIME-Version on the message only: each part added as an EmailMessage gets one too."""
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]


def _address(name: str, email: str) -> Address:
    """The header address; an internationalized domain in its ASCII (IDNA) form.

    Written as Unicode, the policy would encode the domain as an encoded word
    (``idn@=?utf-8?q?ex=C3=A4mple?=.com``), which is not an address at all.
    """
    local, _, domain = email.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # beyond IDNA 2003: the SMTPUTF8 policy writes it as it is
        pass
    return Address(display_name=name, username=local, domain=domain)



# --- batches ---------------------------------------------------------------------------------

class _FoldOnceHeader(BaseHeader):
    """A header that remembers how it folds: a header object never changes once made."""

    def fold(self, *, policy: EmailPolicy) -> str:  # noqa: D102
        # Folding reads only these three policy settings. The generator hands every part a
        # clone of the policy, so the key is the settings, not the policy object.
        key = (policy.linesep, policy.max_line_length, policy.utf8)
        folds = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


class _BatchHeaders(HeaderRegistry):
    """The header factory of one batch's policy: each distinct header is parsed once.

    The stdlib builds a new class for every header it makes, then parses and folds every
    header of every message, although the letters of a batch share From, Date, MIME-Version,
    the parts' headers and mostly the subject. Header objects are immutable strings, so the
    letters of a batch can share them.

    A value is kept from the second time it is met. Per-letter values (To, Message-ID, the
    boundary's Content-Type) are parsed as before and never kept: a kept header holds its
    parse tree, dozens of objects, and keeping three such headers a letter, even in a bounded
    table, set the garbage collector off every few letters and into a full collection every
    few hundred (up to a fifth of a batch's CPU). Unkept, they are freed with their message.
    """

    def __init__(self) -> None:
        super().__init__(base_class=_FoldOnceHeader)
        self._classes: dict[str, type] = {}
        self._made: dict[tuple, BaseHeader] = {}
        self._seen: dict[tuple, None] = {}  # values met once: kept only from their second use

    def __getitem__(self, name: str) -> type:
        cls = self._classes.get(name.lower())
        if cls is None:
            cls = self._classes[name.lower()] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if isinstance(value, str):
            key: tuple = (name, value)
        elif type(value) is Address:
            key = (name, Address, value.display_name, value.username, value.domain)
        else:
            return self[name](name, value)
        header = self._made.get(key)
        if header is None:
            header = self[name](name, value)
            if key in self._seen:
                if len(self._made) >= _SHARED_HEADERS:
                    self._made.clear()
                self._made[key] = header
            else:
                if len(self._seen) >= _SEEN_VALUES:
                    self._seen.clear()
                self._seen[key] = None
        return header


def batch_policy() -> EmailPolicy:
    """``policy.SMTP`` with a header factory of its own, for the messages of one batch."""
    return SMTP.clone(header_factory=_BatchHeaders())


@dataclass(frozen=True)
class Mail:
    """One letter's envelope and content, for ``build_messages``."""

    envelope: Envelope
    subject: str
    text: str
    html: str
    language: str = "en"  # the letter's locale, for its HTML's ``lang``


class _Builder:
    """Builds the messages of one batch: one policy, each sender validated once."""

    def __init__(self, date: datetime | None) -> None:
        self.policy = batch_policy()
        self.date = message_date(date)  # default: now, one Date for the whole batch
        self.senders: dict[str, str] = {}
        self.replies: dict[str, str | None] = {}

    def build(self, mail: Mail) -> tuple[str, bytes]:
        """The normalised recipient and the message's bytes."""
        envelope = mail.envelope
        to = valid_address(envelope.recipient_email)
        sender = self.senders.get(envelope.sender_email)
        if sender is None:
            sender = valid_address(envelope.sender_email, "sender address")
            self.senders[envelope.sender_email] = sender
        key = envelope.reply_to or ""
        if key not in self.replies:
            self.replies[key] = _reply_to(envelope.reply_to)
        return to, _compose(self.policy, envelope, sender, to, self.replies[key],
                            subject=mail.subject, text=mail.text, html=mail.html,
                            date=self.date, language=mail.language, boundary=True).as_bytes()


def build_messages(mails: Iterable[Mail], *, date: datetime | None = None) -> list[bytes]:
    """Each letter's ``build_message(...).as_bytes()``, built as one batch in this process."""
    builder = _Builder(date)
    return [builder.build(mail)[1] for mail in mails]


@dataclass(frozen=True)
class Outgoing:
    """One letter to render in send mode and, with an envelope, to build as an email."""

    boilerplate: Boilerplate
    context: LetterContext
    envelope: Envelope | None = None


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered letter: its content hash, and its email bytes and normalised recipient.

    ``error`` says why the letter did not render, or why its email could not be built; the
    content hash is still there when only the email failed.
    """

    content_hash: str | None
    eml: bytes | None = None
    recipient: str | None = None
    error: str | None = None


def _render_chunk(args: tuple[Sequence[Outgoing], datetime | None]) -> list[RenderedEmail]:
    items, date = args
    builder = _Builder(date)
    out = []
    for item in items:
        try:
            rendered = render_letter(item.boilerplate, item.context)
        except Exception as exc:  # noqa: BLE001  (the caller names the letter that failed)
            out.append(RenderedEmail(None, error=str(exc)))
            continue
        if item.envelope is None:
            out.append(RenderedEmail(rendered.content_hash))
            continue
        try:
            to, eml = builder.build(Mail(item.envelope, rendered.subject, rendered.text,
                                         rendered.html, item.context.locale))
        except Exception as exc:  # noqa: BLE001
            out.append(RenderedEmail(rendered.content_hash, error=str(exc)))
            continue
        out.append(RenderedEmail(rendered.content_hash, eml, to))
    return out


def render_emails(items: Sequence[Outgoing], *, date: datetime | None = None,
                  processes: int | None = None, chunk: int = PARALLEL_CHUNK
                  ) -> list[RenderedEmail]:
    """Render each letter in send mode and build its email; never raises for one letter.

    A batch of ``PARALLEL_MIN`` letters or more is spread in chunks over the app process's
    worker pool (``workers.py``: one per core unless ``processes`` says otherwise), which the
    PDF batches share; results come back in order.
    """
    processes = _workers.count(processes)
    date = date or datetime.now(UTC)  # one Date for the batch, whichever process builds it
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    if processes < 2 or len(items) < PARALLEL_MIN or len(chunks) < 2:
        return [result for part in chunks for result in _render_chunk((part, date))]
    return _workers.run_chunks(
        _render_chunk, [(part, date) for part in chunks], processes,
        failure=RecruiterError("A worker stopped unexpectedly; the emails were not built."))
