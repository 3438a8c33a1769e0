"""Archival letter PDFs: PDF/A-2a by default (RECRUITER_PDF_VARIANT), read back with pikepdf.

Tagged (/MarkInfo, a structure tree), XMP metadata (PDF/A part and conformance, title,
creator, creation date), an sRGB output intent, a file /ID and a BCP 47 /Lang, for a Latin,
an accented and a right-to-left letter, one by one and in the print bundle. ``none`` writes
the plain PDF of before; the text a reader extracts is the same either way.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from pdftools import pdf_text

from recruiter.errors import PdfError
from recruiter.services import pdf_layout
from recruiter.services.pdf import (
    PdfLetter,
    bcp47,
    pdf_variant,
    render_pdf,
    render_pdfs,
    render_pdfs_parallel,
    render_print_bundle,
)

ORG = "Harbour Air Logistics"
LATIN = PdfLetter(
    key="latin", organization_name=ORG,
    organization_address=("1055 West Hastings Street", "Vancouver BC  V6E 2E9"),
    date="22 November 2026", recipient=("Jordan Smith", "3120 Kingsway"),
    subject="Your application for Operations Coordinator", sender_name="Jordan Reyes",
    body_html="<p>Dear Jordan,</p><p>Thank you for the time you gave us.</p>",
    language="en_CA")
FRENCH = dataclasses.replace(
    LATIN, key="french", language="fr", recipient=("François Bélanger", "12 rue de l'Église"),
    subject="Votre candidature reçue", body_html="<p>Cher François,</p><p>Merci pour "
    "l'intérêt que vous avez porté à notre société ; ça nous a touchés.</p>")
ARABIC = dataclasses.replace(
    LATIN, key="arabic", language="ar", recipient=("محمد عبد الله العلي", "الرياض"),
    subject="شكرا لك على اهتمامك", body_html="<p>عزيزي محمد،</p><p>نشكرك على اهتمامك.</p>")
SAMPLE = [(LATIN, "en-CA"), (FRENCH, "fr"), (ARABIC, "ar")]
XMP = {"pdfaid": "http://www.aiim.org/pdfa/ns/id/", "pdfuaid": "http://www.aiim.org/pdfua/ns/id/",
       "dc": "http://purl.org/dc/elements/1.1/", "xmp": "http://ns.adobe.com/xap/1.0/"}


@pytest.fixture(autouse=True)
def _default_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECRUITER_PDF_VARIANT", raising=False)


def _open(pdf: bytes) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(pdf))


def _catalog_keys(pdf: bytes) -> set[str]:
    with _open(pdf) as doc:
        return set(doc.Root.keys())


def _xmp(doc: pikepdf.Pdf) -> dict[str, object]:
    with doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        return {key: meta[key] for key in meta}


def _key(prefix: str, name: str) -> str:
    return f"{{{XMP[prefix]}}}{name}"


def assert_pdfa_2a(pdf: bytes, *, title: str, lang: str) -> None:
    """Everything PDF/A-2a asks of a letter that can be checked without a validator."""
    doc = _open(pdf)
    root = doc.Root
    assert root.MarkInfo.Marked is True
    assert "/StructTreeRoot" in root and len(root.StructTreeRoot.K) > 0
    assert str(root.Lang) == lang
    intents = root.OutputIntents
    assert len(intents) == 1 and intents[0].S == "/GTS_PDFA1"
    assert "sRGB" in str(intents[0].OutputConditionIdentifier)
    profile = intents[0].DestOutputProfile.read_bytes()
    assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "  # an ICC RGB profile
    ids = doc.trailer.ID
    assert len(ids) == 2 and len(bytes(ids[0])) > 0
    xmp = _xmp(doc)
    assert xmp[_key("pdfaid", "part")] == "2"
    assert xmp[_key("pdfaid", "conformance")] == "A"
    assert xmp[_key("dc", "title")] == title
    assert xmp[_key("dc", "creator")] == [ORG]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", xmp[_key("xmp", "CreateDate")])
    assert str(doc.docinfo.Author) == ORG and str(doc.docinfo.Title) == title


@pytest.mark.parametrize(("letter", "lang"), SAMPLE, ids=["latin", "french", "arabic"])
def test_letters_are_pdfa_2a_by_default(letter: PdfLetter, lang: str) -> None:
    assert_pdfa_2a(render_pdf(letter), title=letter.subject, lang=lang)


def test_every_letter_of_a_batch_is_pdfa_2a_with_its_own_title_and_language() -> None:
    pdfs = render_pdfs([letter for letter, _ in SAMPLE])
    for pdf, (letter, lang) in zip(pdfs, SAMPLE, strict=True):
        assert_pdfa_2a(pdf, title=letter.subject, lang=lang)


def test_print_bundle_is_pdfa_2a() -> None:
    bundle = render_print_bundle([letter for letter, _ in SAMPLE], duplex=True)
    assert_pdfa_2a(bundle, title="Letters (3)", lang="en-CA")


@pytest.mark.parametrize(("letter", "lang"), SAMPLE, ids=["latin", "french", "arabic"])
def test_pdftotext_reads_the_same_text_as_from_the_plain_pdf(letter: PdfLetter, lang: str,
                                                            tmp_path: Path) -> None:
    archival = pdf_text(render_pdf(letter), tmp_path, layout=True)
    plain = pdf_text(render_pdf(letter, variant="none"), tmp_path, layout=True)
    assert archival == plain
    assert ORG in archival and "Jordan Reyes" in archival
    if letter.language != "ar":  # pdftotext -layout gives right-to-left runs in visual order
        assert letter.subject in archival and letter.recipient[0] in archival


def test_none_writes_the_plain_pdf_of_before() -> None:
    doc = _open(render_pdf(FRENCH, variant="none"))
    for key in ("/MarkInfo", "/StructTreeRoot", "/Metadata", "/OutputIntents"):
        assert key not in doc.Root, key
    assert "/ID" not in doc.trailer
    assert str(doc.Root.Lang) == "fr"
    assert "/Author" not in doc.docinfo


def test_the_environment_variable_chooses_the_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECRUITER_PDF_VARIANT", "none")
    assert "/MarkInfo" not in _catalog_keys(render_pdf(LATIN))
    monkeypatch.setenv("RECRUITER_PDF_VARIANT", "PDF/A-2b")
    doc = _open(render_pdf(LATIN))
    assert _xmp(doc)[_key("pdfaid", "conformance")] == "B"
    assert "/OutputIntents" in doc.Root and "/StructTreeRoot" not in doc.Root


def test_pdf_ua_1_is_tagged_without_pdfa_claims() -> None:
    doc = _open(render_pdf(ARABIC, variant="pdf/ua-1"))
    assert doc.Root.MarkInfo.Marked is True and "/StructTreeRoot" in doc.Root
    xmp = _xmp(doc)
    assert xmp[_key("pdfuaid", "part")] == "1"
    assert _key("pdfaid", "part") not in xmp
    assert str(doc.Root.Lang) == "ar"


def test_parallel_workers_get_the_variant_of_the_caller() -> None:
    letters = [dataclasses.replace(LATIN, key=f"k{i}") for i in range(24)]
    for pdf in render_pdfs_parallel(letters, processes=2, chunk=6, variant="pdf/a-2a"):
        assert_pdfa_2a(pdf, title=LATIN.subject, lang="en-CA")
    plain = render_pdfs_parallel(letters[:20], processes=2, chunk=10, variant="none")
    assert all("/MarkInfo" not in _catalog_keys(pdf) for pdf in plain)


def test_an_unknown_variant_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PdfError, match="pdf/a-2a"):
        render_pdf(LATIN, variant="pdf/x-4")
    monkeypatch.setenv("RECRUITER_PDF_VARIANT", "pdfa")
    with pytest.raises(PdfError):
        pdf_variant()


def test_languages_are_written_in_bcp_47() -> None:
    assert [bcp47(x) for x in ("en_CA", "fr", "pt_br", "zh_hant_tw", "", "ES-419")] == \
        ["en-CA", "fr", "pt-BR", "zh-Hant-TW", "en", "es-419"]


def test_same_letters_same_time_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit copy is deterministic: the file /ID is a digest, the date is the render's."""
    monkeypatch.setattr(pdf_layout, "_now", lambda: "2026-12-03T06:00:00Z")
    assert render_pdf(FRENCH) == render_pdf(FRENCH)


def test_libqpdf_finds_no_syntax_problems() -> None:
    """The check of libqpdf (in pikepdf) that ``qpdf --check`` runs: letters and the bundle."""
    pdfs = [*render_pdfs([letter for letter, _ in SAMPLE]),
            render_print_bundle([letter for letter, _ in SAMPLE], duplex=True)]
    for pdf in pdfs:
        with _open(pdf) as doc:
            assert doc.check_pdf_syntax() == []


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf is not installed")
def test_qpdf_finds_no_errors(tmp_path: Path) -> None:
    pdfs = [*render_pdfs([letter for letter, _ in SAMPLE]),
            render_print_bundle([letter for letter, _ in SAMPLE])]
    for i, pdf in enumerate(pdfs):
        path = tmp_path / f"{i}.pdf"
        path.write_bytes(pdf)
        result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
