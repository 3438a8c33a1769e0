"""The audit pages: what each candidate received, the export, retention and erasure (issue 5)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PASSWORD
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from recruiter.models import (
    Application,
    AuditEvent,
    Candidate,
    Delivery,
    ErasureRequest,
    Letter,
    Member,
    Organization,
    Position,
)
from recruiter.queue import queue
from recruiter.services import approval, sending
from recruiter.services import letters as letters_service
from recruiter.views.audit_data import html_part

EMAILS = 28  # the Vancouver batch: 29 letters, one of them by post


@dataclass
class Sent:
    """An organization whose Vancouver batch went out, and the letters to look at."""

    org: Organization
    admin: Member
    position: Position
    letter: Letter  # an emailed letter
    post_letter: Letter


@pytest.fixture
def sent(db, make_org, make_member, make_position) -> Sent:  # noqa: ANN001
    """The Vancouver batch approved, frozen, released at once and written to the file outbox."""
    org = make_org()
    admin = make_member("admin", org=org)
    position = make_position(org=org)
    letters = letters_service.refresh_letters(db, position)
    count = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    approval.approve_all(db, position, admin, expected_count=count,
                                acknowledge_warnings=True)
    org.sender_email = "hiring@harbourair.example.com"
    sending.freeze_batch(db, position, admin, hold_until_accepted=False)
    db.commit()
    ids = list(db.scalars(select(Delivery.id).join(Letter).join(Application).where(
        Application.position_id == position.id, Delivery.channel == "email")))
    assert len(ids) == EMAILS
    queue().enqueue(ids)  # QUEUE_IMMEDIATE: sent here and now
    db.expire_all()
    by_channel = {d.channel: d.letter for d in db.scalars(
        select(Delivery).join(Letter).join(Application)
        .where(Application.position_id == position.id).order_by(Delivery.id))}
    return Sent(org, admin, position, by_channel["email"], by_channel["post"])


def _as(client: FlaskClient, method: str, url: str, **kwargs):  # noqa: ANN003, ANN202
    """One request; the tests share an app context, where Flask-Login caches the user on g."""
    g.pop("_login_user", None)
    return client.open(url, method=method, **kwargs)


def _sign_in(client: FlaskClient, member: Member) -> Member:
    """Log the client in as an existing member."""
    response = _as(client, "POST", "/login", data={"email": member.email,
                                                   "password": PASSWORD})
    assert response.status_code == 302
    return member


def _text(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def _pages(sent: Sent) -> list[str]:
    """Every audit page and download about the sent batch."""
    p, x = sent.position.id, sent.letter.id
    return ["/audit", "/audit?page=2", f"/audit/positions/{p}",
            f"/audit/positions/{p}?page=1&events=2", f"/audit/letters/{x}",
            f"/audit/letters/{x}/email", f"/audit/letters/{x}/source",
            f"/audit/letters/{sent.post_letter.id}",
            f"/audit/letters/{sent.post_letter.id}/letter.pdf", "/audit/settings"]


def _events(db, org: Organization) -> list[AuditEvent]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id)
                           .order_by(AuditEvent.seq)))


def test_an_auditor_reads_every_audit_page_and_the_export(client, login, sent) -> None:  # noqa: ANN001
    """Every GET page and the evidence ZIP are 200 for an auditor; the ZIP holds 28 emails."""
    login("auditor", org=sent.org)
    for url in _pages(sent):
        with _as(client, "GET", url) as response:
            assert response.status_code == 200, url
    with _as(client, "POST", f"/audit/positions/{sent.position.id}/export.zip") as response:
        archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".eml")]) == EMAILS
    assert len([n for n in names if n.endswith(".pdf")]) == 1  # the postal letter's
    assert {"manifest.json", "index.csv", "SHA256SUMS", "VERIFY.txt"} <= set(names)
    for line in archive.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    nav = _as(client, "GET", "/audit").text
    assert '<a href="/audit" aria-current="page">Audit</a>' in nav


def test_an_auditor_cannot_change_retention_or_erase(db, client, login, sent) -> None:  # noqa: ANN001
    """Settings and erasure are 403 for an auditor and nothing changes."""
    login("auditor", org=sent.org)
    before = len(_events(db, sent.org))
    assert _as(client, "POST", "/audit/settings", data={"months": "24"}).status_code == 403
    assert _as(client, "POST", "/audit/erasure",
               data={"email": "someone@example.org"}).status_code == 403
    page = _as(client, "GET", "/audit/settings").text
    assert 'action="/audit/settings"' not in page and 'action="/audit/erasure"' not in page
    db.expire_all()
    assert db.get(Organization, sent.org.id).retention_months == 12
    assert db.scalar(select(func.count()).select_from(ErasureRequest)) == 0
    assert len(_events(db, sent.org)) == before


def test_a_manager_cannot_open_the_audit_pages(client, login, sent) -> None:  # noqa: ANN001
    """Managers write letters; the audit area, its checks and its changes are 403 for them."""
    login("manager", org=sent.org)
    for url in _pages(sent):
        with _as(client, "GET", url) as response:
            assert response.status_code == 403, url
    for url in ("/audit/verify", "/audit/settings", "/audit/erasure",
                f"/audit/positions/{sent.position.id}/export.zip"):
        assert _as(client, "POST", url, data={"months": "3"}).status_code == 403, url
    assert 'href="/audit"' not in _as(client, "GET", "/positions").text


def test_a_member_of_another_organization_gets_404(client, login, make_org, sent) -> None:  # noqa: ANN001
    """Every object lookup is scoped to the member's organization."""
    login("admin", org=make_org("Elsewhere Ltd"))
    p, x = sent.position.id, sent.letter.id
    for url in (f"/audit/positions/{p}", f"/audit/letters/{x}", f"/audit/letters/{x}/email",
                f"/audit/letters/{x}/source", f"/audit/letters/{x}/letter.pdf"):
        with _as(client, "GET", url) as response:
            assert response.status_code == 404, url
    with _as(client, "POST", f"/audit/positions/{p}/export.zip") as response:
        assert response.status_code == 404
    overview = _as(client, "GET", "/audit").text
    assert sent.position.title not in overview and "No letters have been frozen yet" in overview


def test_the_letter_page_shows_the_message_id_hashes_approval_and_attempt(
        db, client, login, sent) -> None:  # noqa: ANN001
    """Message-ID, both SHA-256, the template version, the approver and the attempt are shown."""
    login("auditor", org=sent.org)
    letter = sent.letter
    page = _as(client, "GET", f"/audit/letters/{letter.id}").text
    text = _text(page)
    assert html.escape(letter.frozen.message_id) in page
    assert letter.frozen.eml_sha256 in page
    assert letter.frozen.pdf_sha256 is None and "PDF SHA-256" not in text  # an email's copy
    assert text.count("matches the stored bytes and the chain") == 1
    assert f"version {letter.boilerplate_version.number}" in text
    assert f"revision {letter.note_revision}" in text
    assert "Approved by Admin" in text
    assert "Attempts (1)" in text
    attempts = page[page.index('data-testid="attempts"'):]
    assert re.search(r'<td[^>]*class="num">1</td>.*?status-sent', attempts, re.S)
    assert "written to" in text  # the server's reply
    assert f'src="/audit/letters/{letter.id}/email"' in page


def test_the_email_source_and_pdf_are_exactly_what_was_stored(client, login, sent) -> None:  # noqa: ANN001
    """The raw source is the stored .eml byte for byte; the frame shows its HTML part."""
    login("auditor", org=sent.org)
    letter = sent.letter
    source = _as(client, "GET", f"/audit/letters/{letter.id}/source")
    assert source.data == letter.frozen.eml
    assert source.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert source.headers["Content-Disposition"].startswith("attachment")
    frame = _as(client, "GET", f"/audit/letters/{letter.id}/email")
    assert frame.text == html_part(letter.frozen.eml)
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    # An email letter freezes to its .eml alone: no PDF was frozen, so none is served as one.
    assert _as(client, "GET", f"/audit/letters/{letter.id}/letter.pdf").status_code == 404
    post = sent.post_letter
    assert post.frozen.eml is None
    pdf = _as(client, "GET", f"/audit/letters/{post.id}/letter.pdf")
    assert pdf.data == post.frozen.pdf and pdf.mimetype == "application/pdf"
    assert _as(client, "GET", f"/audit/letters/{post.id}/email").status_code == 404
    page = _as(client, "GET", f"/audit/letters/{post.id}").text
    assert "goes by post" in page and "matches the stored bytes and the chain" in page


def test_the_position_page_shows_who_got_what_and_the_timeline(client, login, sent) -> None:  # noqa: ANN001
    """A row per letter with channel, state and Message-ID; the timeline names each event."""
    login("auditor", org=sent.org)
    page = _as(client, "GET", f"/audit/positions/{sent.position.id}").text
    summary = page[page.index('data-testid="summary"'):page.index('id="timeline"')]
    assert summary.count("status-sent") == EMAILS and summary.count("status-queued") == 1
    assert html.escape(sent.letter.frozen.message_id) in summary
    timeline = page[page.index('id="timeline"'):]
    # With one letter.approved event per letter (issue 12) the timeline takes three pages.
    for events in (2, 3):
        later = _as(client, "GET", f"/audit/positions/{sent.position.id}?events={events}").text
        timeline += later[later.index('id="timeline"'):]
    assert "letter.approved" in timeline
    assert "letters.approved_all" in timeline and "batch.frozen" in timeline
    assert "letter.frozen" in timeline and "delivery.attempt" in timeline
    assert f'href="/audit/letters/{sent.letter.id}"' in timeline


def test_exports_are_not_reachable_by_get(db, client, login, sent) -> None:  # noqa: ANN001
    """A GET of an export is refused and writes no audit event (no cross-site event writing)."""
    login("auditor", org=sent.org)
    before = len(_events(db, sent.org))
    for url in (f"/audit/positions/{sent.position.id}/export.zip",
                f"/positions/{sent.position.id}/letters.zip"):
        assert _as(client, "GET", url).status_code == 405, url
    assert len(_events(db, sent.org)) == before


def test_the_browser_export_is_audit_logged(db, client, login, sent) -> None:  # noqa: ANN001
    """Exporting records an export.position event by the member, before the download."""
    auditor = login("auditor", org=sent.org)
    before = _events(db, sent.org)
    with _as(client, "POST", f"/audit/positions/{sent.position.id}/export.zip") as response:
        assert response.status_code == 200 and response.mimetype == "application/zip"
        assert "evidence-position-" in response.headers["Content-Disposition"]
        assert int(response.headers["Content-Length"]) == len(response.data)
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("manifest.json"))
    assert manifest["exported_by"] == auditor.email
    after = _events(db, sent.org)
    assert len(after) == len(before) + 1
    event = after[-1]
    assert (event.action, event.actor_id) == ("export.position", auditor.id)
    assert (event.subject_type, event.subject_id) == ("position", sent.position.id)


def test_changing_the_retention_period_is_audit_logged(db, client, login, sent) -> None:  # noqa: ANN001
    """An admin sets 1..120 months; the change goes into the chain with both values."""
    admin = _sign_in(client, sent.admin)
    for bad in ("0", "121", "twelve", ""):
        page = _as(client, "POST", "/audit/settings", data={"months": bad})
        assert page.status_code == 200 and 'class="error"' in page.text, bad
    before = len(_events(db, sent.org))
    response = _as(client, "POST", "/audit/settings", data={"months": "24"},
                   follow_redirects=True)
    assert "now kept 24 months" in response.text
    db.expire_all()
    assert db.get(Organization, sent.org.id).retention_months == 24
    events = _events(db, sent.org)
    assert len(events) == before + 1
    assert (events[-1].action, events[-1].actor_id) == ("org.retention", admin.id)
    assert events[-1].payload == {"from_months": 12, "to_months": 24}


def test_an_erasure_while_retention_applies_is_restricted(db, client, login, sent) -> None:  # noqa: ANN001
    """Within retention the request is recorded as restricted; the email is never shown."""
    _sign_in(client, sent.admin)
    email = sent.letter.application.candidate.email
    response = _as(client, "POST", "/audit/erasure", data={"email": email},
                   follow_redirects=True)
    assert "Restricted. Kept until" in response.text
    assert email not in response.text
    [request] = db.scalars(select(ErasureRequest)).all()
    assert request.status == "restricted"
    assert request.email_sha256[:12] in response.text
    assert _events(db, sent.org)[-1].action == "erasure.restricted"


def test_an_erasure_after_retention_purges_and_the_letter_says_so(
        db, client, login, sent) -> None:  # noqa: ANN001
    """Past retention the person is erased; their letter then shows when and under what rule."""
    _sign_in(client, sent.admin)
    db.get(Position, sent.position.id).filled_at = datetime.now(UTC) - timedelta(days=800)
    db.commit()
    letter_id, candidate = sent.letter.id, sent.letter.application.candidate
    email, name = candidate.email, candidate.full_name
    response = _as(client, "POST", "/audit/erasure", data={"email": email.upper()},
                   follow_redirects=True)
    assert "Done. Erased on request." in response.text
    db.expire_all()
    assert db.get(Candidate, candidate.id).purged_at is not None
    page = _as(client, "GET", f"/audit/letters/{letter_id}").text
    text = _text(page)
    assert "Purged on" in text and "under erasure request" in text
    assert name not in text and email not in text and "<iframe" not in page
    assert db.get(Letter, letter_id).frozen.eml_sha256 in page  # the proof stays
    for part in ("email", "source"):
        assert _as(client, "GET", f"/audit/letters/{letter_id}/{part}").status_code == 410
    summary = _as(client, "GET", f"/audit/positions/{sent.position.id}").text
    assert "Purged candidate" in summary and name not in summary


def test_checking_the_chain_reads_only_and_names_a_broken_letter(db, client, login, sent) -> None:  # noqa: ANN001
    """An auditor may run the check; it writes nothing, and a changed byte is reported."""
    login("auditor", org=sent.org)
    before = len(_events(db, sent.org))
    response = _as(client, "POST", "/audit/verify", follow_redirects=True)
    assert f"Intact: all {before} audit events" in response.text
    assert len(_events(db, sent.org)) == before
    letter = db.get(Letter, sent.letter.id)
    letter.frozen.eml = letter.frozen.eml[:-1] + bytes([letter.frozen.eml[-1] ^ 1])
    db.commit()
    text = _text(_as(client, "POST", "/audit/verify", follow_redirects=True).text)
    assert f"The audit trail is broken. letter {letter.id}: its stored email bytes" in text
    assert len(_events(db, sent.org)) == before


def test_the_position_page_pages_its_letters_in_order(client, login, sent, monkeypatch) -> None:  # noqa: ANN001
    """Every frozen letter appears once across the pages, in id order."""
    from recruiter.views import audit

    monkeypatch.setattr(audit, "LETTERS_PER_PAGE", 10)
    login("auditor", org=sent.org)
    seen: list[int] = []
    for number in (1, 2, 3):
        page = _as(client, "GET", f"/audit/positions/{sent.position.id}?page={number}").text
        summary = page[page.index('data-testid="summary"'):page.index('id="timeline"')]
        ids = [int(i) for i in re.findall(r'<th scope="row"><a href="/audit/letters/(\d+)"',
                                          summary)]
        assert len(ids) == (10 if number < 3 else EMAILS + 1 - 20)
        seen += ids
    assert seen == sorted(seen) and len(set(seen)) == EMAILS + 1
    assert sent.letter.id in seen and sent.post_letter.id in seen


def test_the_position_page_leaves_the_stored_bytes_in_the_database(client, login, sent) -> None:  # noqa: ANN001
    """The list shows hashes: no letter's stored PDF or email is read to draw the page."""
    from sqlalchemy import event, inspect

    from recruiter.extensions import db as _db

    login("auditor", org=sent.org)
    url, message_id = f"/audit/positions/{sent.position.id}", sent.letter.frozen.message_id
    _db.session.remove()  # every letter the page shows is loaded by the page itself
    loaded: list[Letter] = []

    def load(target, context) -> None:  # noqa: ANN001
        loaded.append(target)

    event.listen(Letter, "load", load)
    try:
        page = _as(client, "GET", url)
    finally:
        event.remove(Letter, "load", load)
    assert page.status_code == 200 and html.escape(message_id) in page.text
    assert len(loaded) >= EMAILS + 1
    assert not [x.id for x in loaded if {"pdf", "eml"} & inspect(x).dict.keys()]
