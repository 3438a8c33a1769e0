"""Letters as email: multipart/alternative, one validated recipient, no header injection."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.generator import Generator

import pytest

from recruiter.errors import AddressError
from recruiter.services import mail as mail_service
from recruiter.services.mail import (
    Envelope,
    Mail,
    Outgoing,
    RenderedEmail,
    build_message,
    build_messages,
    new_message_id,
    render_emails,
    valid_address,
)
from recruiter.services.rendering import (
    Boilerplate,
    CandidateFields,
    LetterContext,
    render_letter,
)
from recruiter.services.shipped import shipped_for_stage


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


# --- batches (issue 7): the same messages as one build_message per letter --------------------

NAMES = ["Nguyễn Thị Minh Khai", "Zoë O'Brien-Ångström", "Daniel Okafor",
         'Ann "Nan" Lee, Jr.', "Maximiliane Alexandra Wilhelmina von Hohenzollern-Sigmaringen",
         "李小龍"]
_BOUNDARY = re.compile(rb"===============\d+==(?:\.\d+)?")


def summary(raw: bytes) -> tuple:
    msg = message_from_bytes(raw, policy=policy.default)
    return (msg["Subject"], msg["From"], msg["To"], msg["Message-ID"], msg["Date"],
            msg["Auto-Submitted"], msg.get_content_type(),
            [(p.get_content_type(), p["Content-Transfer-Encoding"]) for p in msg.iter_parts()],
            msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content())


def mails() -> list[Mail]:
    out = []
    for i, name in enumerate(NAMES):
        first = name.split()[0]
        text = (f"Dear {first},\n\n" + "Thank you for applying. " * (1 + 4 * (i % 2))
                + "\n\nJordan Reyes\n")  # short lines (7bit/8bit) and long ones (QP)
        out.append(Mail(envelope(recipient_name=name, recipient_email=f"c{i}@example.net",
                                 sender_name="Harbour Air Logistics — Hiring"),
                        subject="Your application for Opérations Coordinator" + " at HAL" * i,
                        text=text, html=f"<p>Dear {first},</p>\n<p>{text[10:]}</p>"))
    return out


def test_batch_messages_parse_back_like_one_by_one() -> None:
    """build_messages gives each letter build_message's message, apart from the boundary."""
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    letters = mails() * 3  # the second round keeps the headers met again, the third reuses them
    batch = build_messages(letters, date=now)
    for mail, raw in zip(letters, batch, strict=True):
        alone = build_message(mail.envelope, subject=mail.subject, text=mail.text,
                              html=mail.html, date=now).as_bytes()
        assert summary(raw) == summary(alone)
        assert _BOUNDARY.sub(b"B", raw) == _BOUNDARY.sub(b"B", alone)
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    names = [message_from_bytes(raw, policy=policy.default)["To"].addresses[0].display_name
             for raw in batch]
    assert names == NAMES * 3
    assert len({_BOUNDARY.search(raw).group() for raw in batch}) == len(batch)


def test_batch_headers_keep_only_values_met_again() -> None:
    """A per-letter header is not kept by the batch; one met again is, and then shared."""
    factory = mail_service._BatchHeaders()  # noqa: SLF001
    first = factory("To", "c0@example.net")
    second = factory("To", "c0@example.net")
    assert second == first and second is not first
    assert factory("To", "c0@example.net") is second
    for i in range(3 * mail_service._SEEN_VALUES):  # noqa: SLF001
        assert factory("Message-ID", f"<{i}@example.com>") == f"<{i}@example.com>"
    assert len(factory._made) == 1  # noqa: SLF001
    assert len(factory._seen) <= mail_service._SEEN_VALUES  # noqa: SLF001
    assert factory("To", "c0@example.net") is second


def test_batch_boundary_is_never_in_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boundary that occurs in the letter is drawn again, as the generator would."""
    taken = "===============1111111111111111111=="
    draws = iter([taken, "===============2222222222222222222=="])
    monkeypatch.setattr(Generator, "_make_boundary", classmethod(lambda cls: next(draws)))
    raw = build_messages([Mail(envelope(), subject="S", text=f"--{taken}\n", html="<p>t</p>")
                          ])[0]
    assert b'boundary="===============2222222222222222222=="' in raw
    assert summary(raw)[-2].splitlines() == [f"--{taken}"]


def test_batch_refuses_header_injection_and_bad_recipients() -> None:
    """The batch validates every letter as build_message does."""
    with pytest.raises(AddressError, match="line break"):
        build_messages([Mail(envelope(recipient_name="Zoë\nBcc: x@example.com"),
                             subject="S", text="t", html="t")])
    with pytest.raises(AddressError):
        build_messages([Mail(envelope(recipient_email="a@example.com, b@example.com"),
                             subject="S", text="t", html="t")])


def outgoing() -> list[Outgoing]:
    source = shipped_for_stage("applied").source
    items = []
    for i, name in enumerate(NAMES):
        first, last = name.split()[0], name.split()[-1]
        context = LetterContext(
            candidate=CandidateFields(first_name=first, last_name=last, full_name=name),
            note=f"Your note, {first}: the inventory dashboard stood out.",
            differentiator="hands-on aviation operations experience",
            position_title="Operations Coordinator", position_location="Vancouver, BC",
            organization_name="Harbour Air Logistics", sender_name="Jordan Reyes",
            sender_title="Operations Manager", applicant_count=30, today=date(2026, 11, 22))
        items.append(Outgoing(source, context, envelope(
            recipient_name=name, recipient_email=f"c{i}@example.net")))
    return items


def naive(item: Outgoing) -> tuple[str, bytes]:
    rendered = render_letter(item.boilerplate, item.context)
    return rendered.content_hash, build_message(
        item.envelope, subject=rendered.subject, text=rendered.text, html=rendered.html,
        date=datetime(2026, 11, 22, 9, 30, tzinfo=UTC)).as_bytes()


def test_render_emails_matches_render_letter_and_build_message() -> None:
    """render_emails renders in send mode and builds the same emails, in order."""
    items = outgoing()
    results = render_emails(items, date=datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    for item, result in zip(items, results, strict=True):
        content_hash, alone = naive(item)
        assert (result.content_hash, result.error) == (content_hash, None)
        assert result.recipient == item.envelope.recipient_email
        assert summary(result.eml) == summary(alone)
        assert _BOUNDARY.sub(b"B", result.eml) == _BOUNDARY.sub(b"B", alone)


def test_render_emails_reports_each_failure_without_raising() -> None:
    """A letter that does not render or has a bad address is named; the others are built."""
    good, post, bad_address, *_ = outgoing()
    broken = Outgoing(Boilerplate(subject="S", body="{{ salary }}"), good.context,
                      good.envelope)
    post = Outgoing(post.boilerplate, post.context, None)
    bad_address = Outgoing(bad_address.boilerplate, bad_address.context,
                           envelope(recipient_email="not-an-address"))
    results = render_emails([good, broken, post, bad_address])
    assert results[0].eml and results[0].error is None
    assert results[1].content_hash is None and "not filled" in results[1].error
    assert results[2] == RenderedEmail(naive(outgoing()[1])[0])  # by post: rendered only
    assert results[3].content_hash == naive(outgoing()[2])[0] and results[3].eml is None
    assert "exactly one email address" in results[3].error


def test_render_emails_over_processes_matches_one_process(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Spread over worker processes in chunks, every letter comes back in its place."""
    monkeypatch.setattr(mail_service, "PARALLEL_MIN", 2)
    items = outgoing() * 2
    serial = render_emails(items, processes=1)
    parallel = render_emails(items, processes=2, chunk=3)
    assert [(r.content_hash, r.recipient, summary(r.eml)) for r in parallel] == \
        [(r.content_hash, r.recipient, summary(r.eml)) for r in serial]


@pytest.mark.parametrize("builder", ["one", "batch"])
def test_internationalized_addresses_make_valid_to_headers(builder) -> None:  # noqa: ANN001
    """An IDN domain is written in its ASCII form; a non-ASCII mailbox as SMTPUTF8 UTF-8.

    Never as an encoded word inside the address (``idn@=?utf-8?q?ex=C3=A4mple?=.com``).
    """
    from recruiter.services.mail import Envelope, Mail, build_message, build_messages

    def to_line(recipient: str) -> bytes:
        envelope = Envelope("Jordan Reyes", "hiring@harbourair.example.com", "Zoë Lefebvre",
                            recipient, "<letter-1@harbourair.example.com>")
        data = (build_message(envelope, subject="Your application", text="Hi", html="<p>Hi</p>")
                .as_bytes() if builder == "one" else
                build_messages([Mail(envelope, "Your application", "Hi", "<p>Hi</p>")])[0])
        return next(line for line in data.splitlines() if line.startswith(b"To:"))

    idn = to_line("idn@exämple.com")
    assert idn.endswith(b"<idn@xn--exmple-cua.com>") and b"?q?ex" not in idn
    parsed = message_from_bytes(b"To: " + idn[4:] + b"\r\n\r\n", policy=policy.strict)
    assert parsed["To"].addresses[0].addr_spec == "idn@xn--exmple-cua.com"
    utf8 = to_line("jöran@exämple.com")
    assert "<jöran@xn--exmple-cua.com>".encode() in utf8 and b"=?" not in utf8
