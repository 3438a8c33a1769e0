"""Build letters as email messages: one validated recipient, no header injection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from email_validator import EmailNotValidError, validate_email

from ..errors import AddressError

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


@dataclass(frozen=True)
class Envelope:
    """Who a letter is from and to."""

    sender_name: str
    sender_email: str
    recipient_name: str
    recipient_email: str
    message_id: str
    reply_to: str | None = None


def build_message(
    envelope: Envelope,
    *,
    subject: str,
    text: str,
    html: str,
    pdf: bytes | None = None,
    pdf_name: str = "letter.pdf",
    date=None,  # noqa: ANN001  (datetime; None leaves Date to the transport)
) -> EmailMessage:
    """A multipart/alternative message (text and HTML), optionally with the PDF attached."""
    to = valid_address(envelope.recipient_email)
    sender = valid_address(envelope.sender_email, "sender address")
    for value, field in ((subject, "subject"), (envelope.recipient_name, "recipient name"),
                         (envelope.sender_name, "sender name"),
                         (envelope.message_id, "Message-ID")):
        check_header(value, field)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = _address(envelope.sender_name, sender)
    msg["To"] = _address(envelope.recipient_name, to)
    if envelope.reply_to:
        msg["Reply-To"] = valid_address(envelope.reply_to, "reply-to address")
    msg["Message-ID"] = envelope.message_id
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(_html_document(subject, html), subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return msg


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _html_document(subject: str, body_html: str) -> str:
    from html import escape

    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{escape(subject)}</title></head>"
        "<body style=\"font-family: Georgia, 'Times New Roman', serif; font-size: 16px; "
        "line-height: 1.5; color: #1f2933; max-width: 38em; margin: 0 auto; padding: 1em;\">"
        f"{body_html}</body></html>"
    )
