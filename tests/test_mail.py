"""Letters as email: multipart/alternative, one validated recipient, no header injection."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from recruiter.errors import AddressError
from recruiter.services.mail import Envelope, build_message, new_message_id, valid_address


def envelope(**changes: str) -> Envelope:
    values = {"sender_name": "Jordan Reyes", "sender_email": "hiring@harbourair.example.com",
              "recipient_name": "Zoë Lefebvre", "recipient_email": "zoe.lefebvre@example.net",
              "message_id": new_message_id("harbourair.example.com")}
    return Envelope(**{**values, **changes})


def parsed(msg):  # noqa: ANN001, ANN201
    return message_from_bytes(msg.as_bytes(), policy=policy.default)


def test_message_is_text_and_html_alternatives_to_one_recipient() -> None:
    msg = parsed(build_message(envelope(), subject="Your application", text="Dear Zoë,",
                               html="<p>Dear Zoë,</p>",
                               date=datetime(2026, 11, 22, 9, 30, tzinfo=UTC)))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"].addresses[0].addr_spec == "zoe.lefebvre@example.net"
    assert len(msg["To"].addresses) == 1 and msg["Cc"] is None and msg["Bcc"] is None
    assert msg["To"].addresses[0].display_name == "Zoë Lefebvre"
    assert msg.get_body(("plain",)).get_content().strip() == "Dear Zoë,"
    assert "<p>Dear Zoë,</p>" in msg.get_body(("html",)).get_content()
    assert msg["Date"] == "Sun, 22 Nov 2026 09:30:00 +0000"
    assert msg["Message-ID"].endswith("@harbourair.example.com>")


def test_smtp_policy_uses_crlf_line_endings() -> None:
    raw = build_message(envelope(), subject="S", text="a\nb", html="<p>a</p>").as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_pdf_attachment_is_optional() -> None:
    msg = parsed(build_message(envelope(), subject="S", text="t", html="<p>t</p>",
                               pdf=b"%PDF-1.7 test", pdf_name="letter.pdf"))
    assert msg.get_content_type() == "multipart/mixed"
    attachment = next(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "letter.pdf"
    assert attachment.get_content() == b"%PDF-1.7 test"


@pytest.mark.parametrize("field", ["subject", "recipient_name", "sender_name"])
def test_line_breaks_in_headers_are_refused(field: str) -> None:
    kwargs = {"subject": "Your application", "text": "t", "html": "<p>t</p>"}
    env = envelope()
    if field == "subject":
        kwargs["subject"] = "Hi\r\nBcc: victim@example.com"
    else:
        env = envelope(**{field: "Zoë\nBcc: victim@example.com"})
    with pytest.raises(AddressError, match="line break"):
        build_message(env, **kwargs)


@pytest.mark.parametrize("address", [
    "a@example.com, b@example.com", "a@example.com;b@example.com", "not-an-address",
    "two@@example.com", "a@example.com\r\nBcc: b@example.com", "",
])
def test_recipient_must_be_one_valid_address(address: str) -> None:
    with pytest.raises(AddressError):
        build_message(envelope(recipient_email=address), subject="S", text="t", html="t")


def test_valid_address_normalises_the_domain() -> None:
    assert valid_address("Zoe@Example.NET") == "Zoe@example.net"


def test_html_part_escapes_the_subject_in_its_title() -> None:
    msg = parsed(build_message(envelope(), subject="<script>x</script>", text="t",
                               html="<p>t</p>"))
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_message_ids_are_unique() -> None:
    assert len({new_message_id("example.com") for _ in range(500)}) == 500
