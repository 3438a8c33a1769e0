"""CVs and cover letters (issue 17, point 2): what is accepted, limits, the ZIP's matching.

The views, roles, purge and the letter renderer are in test_documents_views.py; the browser's
ZIP import in test_browser_documents.py. Fixture files are made here for the Vancouver demo's
candidates: PDFs by WeasyPrint, .docx by hand (a ZIP with word/document.xml).
"""

from __future__ import annotations

import io
import zipfile
from functools import cache

import pytest
from sqlalchemy import func, select

from recruiter.models import Application, Candidate, Document, DocumentContent
from recruiter.services.documents import Limits, Upload, documents_for, save_documents
from recruiter.services.documents_text import DOCX, PDF, TEXT, DocumentError, check_file
from recruiter.services.documents_zip import MAX_MEMBERS, preview_zip, save_zip

TEN_MB = 10 * 1024 * 1024
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@cache
def make_pdf(text: str) -> bytes:
    """A real one-page PDF with ``text`` in it (WeasyPrint, no fetching)."""
    from weasyprint import HTML

    return HTML(string=f"<h1>Curriculum vitae</h1><p>{text}</p>").write_pdf()


def make_docx(*paragraphs: str, doctype: bool = False) -> bytes:
    """A minimal Word document: one w:p per paragraph."""
    body = "".join(f'<w:p><w:r><w:t>{p}</w:t></w:r></w:p>' for p in paragraphs)
    head = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' if doctype else ""
    xml = f'<?xml version="1.0"?>{head}<w:document xmlns:w="{W}"><w:body>{body}</w:body>' \
          "</w:document>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", xml)
    return buffer.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    """A ZIP of these files, by name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def application_of(db, position, first: str, last: str) -> Application:  # noqa: ANN001
    """The position's application of the named Vancouver candidate."""
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first,
        Candidate.last_name == last))


# --- what is accepted ----------------------------------------------------------------------

def test_pdf_docx_and_text_are_accepted_and_read() -> None:
    """Each accepted kind gives its media type and the words it holds."""
    pdf = check_file("okafor-daniel-cv.pdf", make_pdf("Shift roster rebuilt"), TEN_MB)
    assert pdf.media_type == PDF and "Shift roster rebuilt" in pdf.text
    docx = check_file("Daniel Okafor - Cover letter.docx",
                      make_docx("Dear hiring team,", "I rebuilt a roster."), TEN_MB)
    assert docx.media_type == DOCX and docx.text == "Dear hiring team,\nI rebuilt a roster."
    text = check_file("cv.txt", "Zoë Lefebvre\r\nNight manager".encode(), TEN_MB)
    assert text.media_type == TEXT and text.text == "Zoë Lefebvre\nNight manager"
    latin = check_file("cv.txt", "Chloé Dubois".encode("cp1252"), TEN_MB)
    assert latin.text == "Chloé Dubois"


@pytest.mark.parametrize(("name", "data", "message"), [
    ("cv-okafor.exe", b"MZ\x90\x00binary", "cv-okafor.exe: only PDF, Word (.docx) or text files."),
    ("cv-okafor.pdf", b"MZ\x90\x00binary", "cv-okafor.pdf: the name says a PDF, but the file is "
                                           "something else; only PDF, Word (.docx) or text "
                                           "files."),
    ("cv.docx", b"%PDF-1.7 renamed", "cv.docx: the name says a Word (.docx) document, but the "
                                     "file is a PDF"),
    ("cv.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "cv.doc: an older Word (.doc) file. Save "
                                                        "it as .docx or PDF"),
    ("cv.txt", b"", "cv.txt: the file is empty."),
    ("cv.txt", b"text\x00with a NUL", "cv.txt: the name says a text file, but the file is "
                                      "something else"),
    ("cv.pdf", b"%PDF-1.4\nnot really a pdf", "cv.pdf: this PDF cannot be read"),
])
def test_other_files_are_refused_naming_the_file(name: str, data: bytes, message: str) -> None:
    """By the bytes, not only the extension; each refusal starts with the file's name."""
    with pytest.raises(DocumentError) as refused:
        check_file(name, data, TEN_MB)
    assert str(refused.value).startswith(message)


def test_a_docx_with_a_doctype_is_refused_unexpanded() -> None:
    """Word never writes a DTD: one that could expand entities is refused, not parsed."""
    with pytest.raises(DocumentError, match="cv.docx: this Word document cannot be read"):
        check_file("cv.docx", make_docx("&a;&a;", doctype=True), TEN_MB)


def test_a_file_over_the_limit_is_refused_with_both_sizes() -> None:
    """The message gives the file's size and the limit."""
    with pytest.raises(DocumentError, match=r"^big.txt: at 2 KB it is larger than the 1 KB "
                                            r"allowed per file\.$"):
        check_file("big.txt", b"x" * 2048, 1024)


# --- the ZIP -------------------------------------------------------------------------------

def test_the_zip_preview_matches_by_email_and_by_name(db, make_position) -> None:  # noqa: ANN001
    """Email, name in any order and accents; cover letters by their name; why others are not."""
    position = make_position()
    data = make_zip({
        "okafor-daniel-cv.pdf": make_pdf("Daniel's roster"),
        "cvs/Daniel Okafor - Cover letter.docx": make_docx("Dear team"),
        "zoe.lefebvre@example.net.pdf": make_pdf("Night manager"),
        "sofia ramirez resume.txt": b"Sofia's CV",
        "nobody-here-cv.pdf": make_pdf("?"),
        "chen.exe": b"MZ",
        "__MACOSX/._okafor-daniel-cv.pdf": b"resource fork",
        "cvs/": b"",
    })
    preview, uploads = preview_zip(db, position, data, Limits())
    by_file = {e.name: e for e in preview.entries}
    assert set(by_file) == {"okafor-daniel-cv.pdf", "Daniel Okafor - Cover letter.docx",
                            "zoe.lefebvre@example.net.pdf", "sofia ramirez resume.txt",
                            "nobody-here-cv.pdf", "chen.exe"}
    matched = {e.name: (e.application.candidate.full_name, e.kind) for e in preview.matched}
    assert matched == {"okafor-daniel-cv.pdf": ("Daniel Okafor", "cv"),
                       "Daniel Okafor - Cover letter.docx": ("Daniel Okafor", "cover_letter"),
                       "zoe.lefebvre@example.net.pdf": ("Zoë Lefebvre", "cv"),
                       "sofia ramirez resume.txt": ("Sofía Ramírez", "cv")}
    by_email = by_file["zoe.lefebvre@example.net.pdf"]
    assert by_email.reason == "Matched by the email in the file name."
    assert by_file["nobody-here-cv.pdf"].status == "unmatched"
    assert by_file["chen.exe"].status == "unmatched"  # no candidate is only "Chen"
    assert len(uploads) == 4
    assert db.scalar(select(func.count()).select_from(Document)) == 0  # a preview saves nothing


def test_ambiguous_and_twin_files_are_left_out_with_a_reason(db, make_position) -> None:  # noqa: ANN001
    """Two candidates fit one name, or two files are one candidate's CV: none of them is kept."""
    position = make_position(csv=(
        b"first_name,last_name,email,outcome\n"
        b"Maya,Chen,maya.chen@example.com,hired\n"
        b"Daniel,Okafor,daniel.okafor@example.org,declined\n"
        b"Daniel,Okafor,d.okafor@example.net,declined\n"
        b"Grace,Kim,grace.kim@example.com,declined\n"))
    data = make_zip({"okafor daniel.pdf": make_pdf("one of two"),
                     "d.okafor@example.net.pdf": make_pdf("by email: fine"),
                     "kim-grace-cv.pdf": make_pdf("first"), "Grace Kim CV (2).txt": b"second",
                     "../../etc/evil-kim-grace.pdf": make_pdf("x")})
    preview, uploads = preview_zip(db, position, data, Limits())
    status = {e.name: (e.status, e.reason) for e in preview.entries}
    assert status["okafor daniel.pdf"][0] == "ambiguous"
    assert "Fits 2 candidates (Daniel Okafor, Daniel Okafor)" in status["okafor daniel.pdf"][1]
    assert status["d.okafor@example.net.pdf"][0] == "matched"
    assert status["kim-grace-cv.pdf"] == status["Grace Kim CV (2).txt"] == (
        "ambiguous", "kim-grace-cv.pdf and Grace Kim CV (2).txt are both the CV of Grace Kim. "
        "Keep one in the ZIP.")
    assert status["evil-kim-grace.pdf"] == ("refused", "An unsafe path: it is not read.")
    assert [u.name for u in uploads] == ["d.okafor@example.net.pdf"]


def test_a_zip_too_big_or_too_full_is_refused_whole(db, make_position,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Too many entries, or more bytes unpacked than allowed: a clear message, nothing read."""
    position = make_position()
    many = make_zip({f"file-{i}.txt": b"x" for i in range(MAX_MEMBERS + 1)})
    preview, uploads = preview_zip(db, position, many, Limits())
    assert preview.error.startswith(f"The ZIP holds {MAX_MEMBERS + 1} entries; at most "
                                    f"{MAX_MEMBERS} are read.") and not uploads
    monkeypatch.setattr("recruiter.services.documents_zip.MAX_TOTAL", 1000)
    bomb = make_zip({"okafor-daniel-cv.txt": b"a" * 5000})  # compresses to a few bytes
    preview, uploads = preview_zip(db, position, bomb, Limits())
    assert preview.error.startswith("The ZIP unpacks to 4 KB; at most 1 KB are read.")
    preview, _ = preview_zip(db, position, b"not a zip", Limits())
    assert preview.error == "This is not a ZIP file. Choose a .zip of PDF, .docx or text files."


def test_saving_a_zip_is_all_or_nothing_within_the_quota(db, make_position) -> None:  # noqa: ANN001
    """Over the quota together: nothing is saved; within it, every matched file at once."""
    position = make_position()
    data = make_zip({"okafor-daniel-cv.txt": b"a" * 600, "lefebvre-zoe-cv.txt": b"b" * 600})
    with pytest.raises(DocumentError, match=r"^These 2 files: your organization's CVs and "
                                            r"cover letters would take 1 KB, more than its "
                                            r"1 KB quota\."):
        save_zip(db, position, data, by=None, limits=Limits(TEN_MB, 1100))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Document)) == 0
    saved = save_zip(db, position, data, by=None, limits=Limits(TEN_MB, 1300))
    db.commit()
    assert sorted(d.text for d in saved) == ["a" * 600, "b" * 600]
    assert db.scalar(select(func.count()).select_from(DocumentContent)) == 2


def test_a_second_upload_replaces_the_first_and_the_quota_counts_it_once(
        db, make_position) -> None:  # noqa: ANN001
    """The replaced file's bytes leave the quota; one row per application and kind."""
    position = make_position()
    okafor = application_of(db, position, "Daniel", "Okafor")
    for text in (b"first " * 100, b"second " * 100):
        save_documents(db, [Upload(okafor, "cv", "cv.txt", text)], by=None,
                       limits=Limits(TEN_MB, 800))
        db.commit()
    shown = documents_for(db, [okafor.id], excerpt_chars=6)[okafor.id]
    assert [(s.kind, s.excerpt, s.cut) for s in shown] == [("cv", "second", True)]
    assert db.scalar(select(func.count()).select_from(DocumentContent)) == 1
