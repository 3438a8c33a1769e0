"""Reading a returned message: a delivery status notification (RFC 3464), an auto-reply, or else.

Pure parsing with the standard ``email`` package; nothing here touches the database. A DSN is
a ``multipart/report; report-type=delivery-status`` whose ``message/delivery-status`` part
holds one block per recipient (Action, Status, Diagnostic-Code, Final-Recipient). The letter
it returns is named by the VERP token of the address the bounce came back to (services/verp.py)
or by the Message-ID in its returned ``message/rfc822`` or ``text/rfc822-headers`` part.

A bounce without a DSN part (old or home-made servers) counts only when its subject says so,
it comes from a mail system, its text holds a ``4.x.x`` or ``5.x.x`` status, and it names one
of our letters (bounces.py looks); else it is left for a person to read. An auto-reply ("out
of office") has no delivery-status part and says what it is in its headers
(``Auto-Submitted``, ``X-Autoreply``, ``X-Autorespond``, ``Precedence``) or its subject.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser

from .verp import token_in

# Where a bounce keeps the address it was sent to: the envelope sender of the letter.
TOKEN_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "Return-Path",
                 "X-Envelope-To")
AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response|antwort)|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|absence|respuesta autom[áa]tica|"
    r"risposta automatica|afwezig|automatisch antwoord|autosvar|vacation)", re.I)
BOUNCE_SUBJECT = re.compile(
    r"(undeliver(ed|able)|delivery status notification \((failure|delay)\)|"
    r"mail delivery (failed|failure|system)|returned mail|failure notice|"
    r"delivery (has )?failed|nondeliverable|non-delivery)", re.I)
MAIL_SYSTEM = re.compile(r"(mailer-daemon|postmaster|mail delivery (subsystem|system))", re.I)
STATUS_IN_TEXT = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")
MESSAGE_ID_IN_TEXT = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.I | re.M)
SEVERITY = {"failed": 3, "delayed": 2, "delivered": 1, "relayed": 1, "expanded": 1}


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient block of a DSN."""

    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # "5.1.1"; "" when the block has none
    diagnostic: str = ""
    final_recipient: str = ""
    original_recipient: str = ""

    @property
    def permanent(self) -> bool | None:
        """Whether the failure is final: failed is, delayed is not; else the status says."""
        return {"failed": True, "delayed": False}.get(self.action)


@dataclass(frozen=True)
class Returned:
    """What a returned message is, and how it names our letter."""

    kind: str  # "dsn", "text_bounce", "auto_reply" or "other"
    token: str | None = None
    message_id: str | None = None
    recipients: list[RecipientStatus] = field(default_factory=list)

    @property
    def worst(self) -> RecipientStatus | None:
        """The most severe recipient block: failed, then delayed, then the rest."""
        return max(self.recipients, key=lambda r: SEVERITY.get(r.action, 0), default=None)


def decoded(value: str | None) -> str:
    """A header's text with encoded words decoded, on one line; "" when it is absent."""
    if not value:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError):
        text = str(value)
    return " ".join(text.split())


def _value(block: Message, name: str) -> str:
    """A DSN field without its type ("rfc822; a@b" -> "a@b", "smtp; 550 ..." -> "550 ...")."""
    text = decoded(block.get(name))
    kind, sep, rest = text.partition(";")
    return rest.strip() if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else text


def _recipients(report: Message) -> list[RecipientStatus]:
    blocks = report.get_payload()
    if not isinstance(blocks, list):  # an unparsed body: read it as header blocks
        text = str(blocks or "")
        blocks = [HeaderParser().parsestr(chunk) for chunk in re.split(r"\r?\n\s*\r?\n", text)]
    found = []
    for block in blocks[1:]:  # the first block is about the message, the rest one recipient
        action = _value(block, "Action").lower()
        if not action:
            continue
        status = _value(block, "Status").split(" ")[0]
        found.append(RecipientStatus(action, status, _value(block, "Diagnostic-Code"),
                                     _value(block, "Final-Recipient"),
                                     _value(block, "Original-Recipient")))
    return found


def _returned_headers(msg: Message) -> Message | None:
    """The headers of the letter a report returns, from message/rfc822 or text/rfc822-headers."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif kind == "text/rfc822-headers":
            body = part.get_payload(decode=True) or b""
            return HeaderParser().parsestr(body.decode("utf-8", "replace"))
    return None


def _token(msg: Message, original: Message | None) -> str | None:
    for name in TOKEN_HEADERS:
        for value in msg.get_all(name) or []:
            if token := token_in(str(value)):
                return token
    if original is not None:  # the returned letter's own Return-Path, when a server kept it
        return token_in(str(original.get("Return-Path", "")))
    return None


def _text(msg: Message) -> str:
    """Every text/plain part, decoded, for bounces that carry no DSN part."""
    chunks = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True) or b""
            try:
                chunks.append(body.decode(part.get_content_charset() or "utf-8", "replace"))
            except LookupError:  # a charset Python does not know
                chunks.append(body.decode("utf-8", "replace"))
    return "\n".join(chunks)


def is_auto_reply(msg: Message) -> bool:
    """Whether a message says it was written by a machine in reply (out of office and kin)."""
    submitted = decoded(msg.get("Auto-Submitted")).lower()
    if submitted and submitted != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if decoded(msg.get("Precedence")).lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(AUTO_SUBJECT.match(decoded(msg.get("Subject"))))


def _text_bounce(msg: Message, original: Message | None) -> Returned | None:
    """A bounce without a DSN part, read conservatively: every sign must be there."""
    sender = decoded(msg.get("From")) + " " + decoded(msg.get("Return-Path"))
    if not BOUNCE_SUBJECT.search(decoded(msg.get("Subject"))) or not (
            MAIL_SYSTEM.search(sender) or msg.get("Return-Path", "").strip() == "<>"):
        return None
    text = _text(msg)
    status = STATUS_IN_TEXT.search(text)
    if status is None:
        return None
    line = next((ln.strip() for ln in text.splitlines() if status.group(1) in ln), "")
    message_id = decoded(original.get("Message-ID")) if original is not None else ""
    if not message_id and (found := MESSAGE_ID_IN_TEXT.search(text)):
        message_id = found.group(1)
    action = "failed" if status.group(1).startswith("5") else "delayed"
    return Returned("text_bounce", _token(msg, original), message_id or None,
                    [RecipientStatus(action, status.group(1), line)])


def read_returned(raw: bytes) -> Returned:
    """What a returned message is, and the token or Message-ID that names our letter."""
    msg = email.message_from_bytes(raw)
    original = _returned_headers(msg)
    report = next((part for part in msg.walk()
                   if part.get_content_type() == "message/delivery-status"), None)
    if report is not None:
        message_id = decoded(original.get("Message-ID")) if original is not None else ""
        return Returned("dsn", _token(msg, original), message_id or None, _recipients(report))
    if (bounce := _text_bounce(msg, original)) is not None:
        return bounce
    return Returned("auto_reply") if is_auto_reply(msg) else Returned("other")
