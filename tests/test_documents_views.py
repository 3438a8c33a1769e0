"""CVs and cover letters on the web: upload, download, removal, roles, limits, purge, renderer.

The file checks and the ZIP's matching are in test_documents.py.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from test_documents import application_of, make_pdf, make_zip

from recruiter.extensions import db as _db
from recruiter.models import AuditEvent, Document, DocumentContent, Letter, Position
from recruiter.services import retention
from recruiter.services.documents import Limits, Upload, save_documents
from recruiter.services.pdf_layout import PdfLetter, render_pdf

CV = "Rebuilt the shift roster of a 24-hour distribution centre"


def _upload(client: FlaskClient, application_id: int, name: str, data: bytes,
            kind: str = "cv"):  # noqa: ANN202
    return client.post(f"/applications/{application_id}/documents", data={
        "kind": kind, "page": "1", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data", follow_redirects=True)


def _documents(db) -> list[Document]:  # noqa: ANN001
    db.rollback()
    return list(db.scalars(select(Document).order_by(Document.id)))


def _events(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    db.rollback()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def test_an_uploaded_cv_is_shown_beside_the_note(client: FlaskClient, db, login,  # noqa: ANN001
                                                  make_position) -> None:
    """A manager uploads; the notes page shows its text in a focusable region named for them."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    page = _upload(client, okafor.id, "okafor-daniel-cv.pdf", make_pdf(CV))
    assert "Saved okafor-daniel-cv.pdf as the CV of Daniel Okafor. It is for reading here " \
           "only: it is never sent." in page.text
    card = page.text.split(f'id="a-{okafor.id}"', 1)[1].split("</li>", 1)[0]
    assert 'tabindex="0" role="region" aria-label="CV of Daniel Okafor"' in card
    assert CV in card and "okafor-daniel-cv.pdf" in card
    assert f'href="/applications/{okafor.id}/cv" download' in card
    [document] = _documents(db)
    assert (document.kind, document.media_type, document.uploaded_by_id) == (
        "cv", "application/pdf", manager.id)
    [uploaded] = _events(db, "document.uploaded")
    assert uploaded.payload == {"application_id": okafor.id, "kind": "cv",
                                "media_type": "application/pdf", "size": document.size,
                                "sha256": document.sha256, "via": "upload"}
    assert "okafor" not in str(uploaded.payload).lower()  # no name, no text in the audit


def test_the_original_is_a_sandboxed_download(client: FlaskClient, db, login,  # noqa: ANN001
                                              make_position) -> None:
    """Attachment, its own media type, nosniff, a CSP sandbox, and never cached."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    html = b"<html><script>alert(1)</script></html>"
    _upload(client, okafor.id, "Daniel Okafor - Cover letter.txt", html, kind="cover_letter")
    response = client.get(f"/applications/{okafor.id}/cover-letter")
    assert response.status_code == 200 and response.data == html
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert 'filename="Daniel Okafor - Cover letter.txt"' in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert client.get(f"/applications/{okafor.id}/cv").status_code == 404  # none uploaded


def test_the_page_shows_the_start_and_the_rest_comes_as_plain_text(  # noqa: ANN001
        client: FlaskClient, db, login, make_position) -> None:
    """A long CV: the card has its start and a link; the link gives all of it, inertly."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    long = "".join(f"Line {n}: <b>planned</b> routes.\n" for n in range(200))
    page = _upload(client, okafor.id, "okafor.txt", long.encode())
    card = page.text.split(f'id="a-{okafor.id}"', 1)[1].split("</li>", 1)[0]
    assert "Line 0: &lt;b&gt;planned&lt;/b&gt;" in card and "Line 199" not in card
    assert f'href="/applications/{okafor.id}/cv/text" data-document-more>Read the whole ' \
           "text" in card
    whole = client.get(f"/applications/{okafor.id}/cv/text")
    assert whole.status_code == 200 and whole.mimetype == "text/plain"
    assert whole.text == long.strip()
    assert whole.headers["Content-Security-Policy"].startswith("sandbox;")
    assert whole.headers["X-Content-Type-Options"] == "nosniff"


def test_removing_deletes_text_and_bytes_and_is_audited(client: FlaskClient, db, login,  # noqa: ANN001
                                                        make_position) -> None:
    """The row and its bytes go; the audit keeps the hash, not the name."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    _upload(client, okafor.id, "okafor.pdf", make_pdf(CV))
    sha = _documents(db)[0].sha256
    page = client.post(f"/applications/{okafor.id}/cv/remove", data={"page": "1"},
                       follow_redirects=True)
    assert "Removed okafor.pdf, the CV of Daniel Okafor." in page.text
    assert CV not in page.text
    assert _documents(db) == []
    assert db.scalar(select(func.count()).select_from(DocumentContent)) == 0
    [removed] = _events(db, "document.removed")
    assert removed.payload["sha256"] == sha and removed.actor_id == manager.id


@pytest.mark.parametrize("app", [{"RECRUITER_DOCUMENT_MAX_BYTES": "3000",
                                  "RECRUITER_DOCUMENT_QUOTA_BYTES": "5000"}], indirect=True)
def test_the_file_limit_and_the_quota_are_settings(app: Flask, client: FlaskClient, db,  # noqa: ANN001
                                                   login, make_position) -> None:
    """RECRUITER_DOCUMENT_MAX_BYTES=3000 per file, RECRUITER_DOCUMENT_QUOTA_BYTES=5000 in all."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    zoe = application_of(db, position, "Zoë", "Lefebvre")
    too_big = _upload(client, okafor.id, "okafor.txt", b"x" * 3100)
    assert "okafor.txt: at 3 KB it is larger than the 2 KB allowed per file." in too_big.text
    assert "up to 2 KB" in too_big.text  # the form says the limit beforehand
    assert "Saved okafor.txt" in _upload(client, okafor.id, "okafor.txt", b"x" * 2900).text
    over = _upload(client, zoe.id, "lefebvre.txt", b"y" * 2900)
    assert "lefebvre.txt: your organization's CVs and cover letters would take 5 KB, more " \
           "than its 4 KB quota." in unescape(over.text)
    assert [d.file_name for d in _documents(db)] == ["okafor.txt"]  # nothing half-written


def test_auditors_see_no_cv_and_cannot_touch_one(app: Flask, client: FlaskClient, db,  # noqa: ANN001
                                                 login, make_member, make_position) -> None:
    """CVs are never sent, so the auditor's notes page has none, and every route is a 403."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    _upload(client, okafor.id, "okafor.pdf", make_pdf(CV))
    admin_page = None
    for role in ("admin", "auditor"):
        login(role, org=manager.organization)
        page = client.get(f"/positions/{position.id}/notes")
        if role == "admin":
            admin_page = page.text
            continue
        assert page.status_code == 200 and CV not in page.text
        assert 'data-testid="documents"' not in page.text and "Add CVs from a ZIP" not in page.text
        for method, url in (("GET", f"/applications/{okafor.id}/cv"),
                            ("GET", f"/applications/{okafor.id}/cv/text"),
                            ("POST", f"/applications/{okafor.id}/cv/remove"),
                            ("POST", f"/applications/{okafor.id}/documents"),
                            ("GET", f"/positions/{position.id}/documents/import"),
                            ("POST", f"/positions/{position.id}/documents/import/confirm")):
            assert client.open(url, method=method).status_code == 403, url
    assert admin_page is not None and CV in admin_page
    assert len(_documents(db)) == 1


def test_the_zip_import_previews_then_saves_every_match(client: FlaskClient, db, login,  # noqa: ANN001
                                                        make_position) -> None:
    """Upload, see which file goes to whom and what is left out, confirm, see them saved."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    data = make_zip({"okafor-daniel-cv.pdf": make_pdf(CV),
                     "zoe.lefebvre@example.net.txt": b"Night manager",
                     "unknown-person.pdf": make_pdf("?")})
    page = client.post(f"/positions/{position.id}/documents/import",
                       data={"archive": (io.BytesIO(data), "cvs.zip")},
                       content_type="multipart/form-data")
    assert page.status_code == 200
    assert "3 files in the ZIP: 2 matched, <strong>1 left out</strong>." in page.text
    assert "No candidate of this position has the name or email in this file name." in page.text
    assert _documents(db) == []
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page.text)
    assert token is not None
    saved = client.post(f"/positions/{position.id}/documents/import/confirm",
                        data={"token": token.group(1)}, follow_redirects=True)
    assert "Saved 2 documents beside the notes." in saved.text and CV in saved.text
    assert sorted(d.file_name for d in _documents(db)) == ["okafor-daniel-cv.pdf",
                                                           "zoe.lefebvre@example.net.txt"]
    assert {e.payload["via"] for e in _events(db, "document.uploaded")} == {"zip"}
    again = client.post(f"/positions/{position.id}/documents/import/confirm",
                        data={"token": token.group(1)}, follow_redirects=True)
    assert "That preview has expired. Upload the ZIP again." in again.text


def test_the_notes_page_never_loads_bytes_or_whole_texts(app: Flask, client: FlaskClient,  # noqa: ANN001
                                                         db, login, make_position) -> None:
    """Every statement of the page: no document_content, the text only as a bounded substr."""
    manager = login("manager")
    position = make_position(org=manager.organization)
    uploads = [Upload(a, "cv", f"cv-{a.id}.txt", ("word " * 4000).encode())
               for a in db.scalars(select(Position).where(Position.id == position.id)).one()
               .applications]
    save_documents(db, uploads, by=manager, limits=Limits())
    db.commit()
    statements: list[str] = []
    listen = lambda conn, cursor, sql, *args: statements.append(sql)  # noqa: E731
    event.listen(_db.engine, "before_cursor_execute", listen)
    try:
        page = client.get(f"/positions/{position.id}/notes")
    finally:
        event.remove(_db.engine, "before_cursor_execute", listen)
    assert page.status_code == 200 and "Read the whole text" in page.text
    reads = [s for s in statements if "document" in s]
    assert reads and not [s for s in reads if "document_content" in s]
    whole = [s for s in reads if re.search(r"document\.text\b", re.sub(
        r"substr\(document\.text, [^)]*\)", "", s))]
    assert not whole, whole


def _filled_long_ago(db, position: Position) -> None:  # noqa: ANN001
    db.get(Position, position.id).filled_at = datetime.now(UTC) - timedelta(days=800)
    db.commit()


def test_the_purge_and_an_erasure_delete_documents(db, make_member, make_position) -> None:  # noqa: ANN001
    """Past retention, CVs go with the rest, counted in the audit without a name."""
    admin = make_member("admin")
    position = make_position(org=admin.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    zoe = application_of(db, position, "Zoë", "Lefebvre")
    save_documents(db, [Upload(okafor, "cv", "okafor.txt", b"Okafor's CV"),
                        Upload(okafor, "cover_letter", "letter.txt", b"Dear team"),
                        Upload(zoe, "cv", "zoe.txt", b"Zoe's CV")], by=admin, limits=Limits())
    _filled_long_ago(db, position)
    erased = retention.request_erasure(db, admin.organization, "zoe.lefebvre@example.net", admin)
    db.commit()
    assert erased.status == "done"
    assert [d.file_name for d in _documents(db)] == ["okafor.txt", "letter.txt"]
    assert _events(db, "erasure.done")[-1].payload["documents"] == 1
    report = retention.purge(db)
    db.commit()
    assert report.documents == 2 and _documents(db) == []
    assert db.scalar(select(func.count()).select_from(DocumentContent)) == 0
    purged = _events(db, "retention.purge")[-1].payload
    assert purged["documents"] == 2 and "okafor" not in str(purged).lower()


def test_the_letter_renderer_never_fetches_a_document(app: Flask, client: FlaskClient, db,  # noqa: ANN001
                                                      login, make_position,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A note that points at the CV's URL renders a PDF without fetching or reading it."""
    from recruiter.services import documents
    from recruiter.services.pdf_assets import url_fetcher

    manager = login("manager")
    position = make_position(org=manager.organization)
    okafor = application_of(db, position, "Daniel", "Okafor")
    _upload(client, okafor.id, "okafor.pdf", make_pdf(CV))
    url = f"http://localhost/applications/{okafor.id}/cv"
    okafor = application_of(db, position, "Daniel", "Okafor")
    okafor.note = f'Your CV is at <img src="{url}"> and ![cv]({url}) {url}'
    db.commit()
    asked: list[tuple[str, bool]] = []
    real = url_fetcher.fetch

    def spy(target, headers=None):  # noqa: ANN001, ANN202
        try:
            response = real(target, headers)
        except ValueError:
            asked.append((target, False))
            raise
        asked.append((target, True))
        return response

    def never(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the letter read a document's bytes")

    monkeypatch.setattr(url_fetcher, "fetch", spy)
    monkeypatch.setattr(documents, "original_bytes", never)
    client.get(f"/positions/{position.id}/letters")  # drafts the letters
    letter = db.scalar(select(Letter).where(Letter.application_id == okafor.id))
    pdf = client.get(f"/letters/{letter.id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert asked == []  # the note is text, not markup: nothing to fetch
    # Were it markup (a boilerplate's image), the renderer's fetcher would refuse it.
    render_pdf(PdfLetter(key="x", organization_name="Harbour Air", organization_address=(),
                         date="3 December 2026", recipient=("Daniel Okafor",), subject="CV",
                         body_html=f'<p><img src="{url}" alt="cv"></p>',
                         sender_name="Jordan Reyes"), variant="none")
    assert asked == [(url, False)]
