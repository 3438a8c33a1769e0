"""The PDF write path's adapters must give the very bytes of the public path.

pydyf_once serialises every object once; font_subsets cuts a face's subset for a glyph set once.

A failure in a ``*_still_*`` test means a pydyf or WeasyPrint upgrade changed what an adapter
relies on: letters stay correct with its ``enabled = False``, only slower.
"""

from __future__ import annotations

import dataclasses
import inspect
import io

import pikepdf
import pydyf
import pytest
import weasyprint
from weasyprint import HTML
from weasyprint.pdf import fonts as weasyprint_fonts

from recruiter.adapters import font_subsets, pydyf_once
from recruiter.services import pdf_layout
from recruiter.services.pdf import PdfLetter, render_pdfs, render_print_bundle

BASE = PdfLetter(
    key="a", organization_name="Harbour Air Logistics",
    organization_address=("1055 West Hastings Street", "Vancouver BC  V6E 2E9"),
    date="22 November 2026", recipient=("Zoë Lefebvre", "3120 Kingsway"),
    subject="Your application", sender_name="Jordan Reyes",
    body_html="<p>Dear Zoë,</p><p>Thank you for your time.</p>", language="en_CA")
SAMPLE = [
    BASE,
    dataclasses.replace(BASE, key="b", body_html="".join(
        f"<p>Paragraph {i}: thank you for the care you put into it.</p>" for i in range(40))),
    dataclasses.replace(BASE, key="c", language="ar", subject="شكرا لك",
                        recipient=("محمد عبد الله العلي", "الرياض"),
                        body_html="<p>عزيزي محمد،</p><p>نشكرك على اهتمامك.</p>"),
]


def test_pydyf_still_writes_objects_through_the_attributes_the_adapter_keeps() -> None:
    where = (f"recruiter/adapters/pydyf_once.py (checked on pydyf {pydyf_once.CHECKED_VERSION}; "
             f"installed {pydyf.__version__})")
    source = inspect.getsource(pydyf.PDF.write)
    for name in ("self.objects", ".data", ".compressible", ".indirect", ".free", ".offset"):
        assert name in source, f"{where}: PDF.write no longer reads {name}"
    assert "obj.data for obj in self.objects" in source, \
        f"{where}: the identifier no longer hashes every object's data (drop the adapter?)"


@pytest.mark.parametrize("variant", ["pdf/a-2a", "pdf/a-2b", "pdf/ua-1", "none"])
def test_pdfs_are_byte_identical_to_the_public_path(monkeypatch: pytest.MonkeyPatch,
                                                   variant: str) -> None:
    """One page, three pages, Arabic, and a duplex bundle: the same bytes either way."""
    monkeypatch.setattr(pdf_layout, "_now", lambda: "2026-01-02T03:04:05Z")

    def render() -> list[bytes]:
        return (render_pdfs(SAMPLE, variant=variant)
                + [render_print_bundle(SAMPLE, duplex=True, variant=variant)])

    once = render()
    hits = font_subsets.hits
    again = render()  # the sRGB profile's stream and every font subset come from the caches
    assert font_subsets.hits > hits
    monkeypatch.setattr(pydyf_once, "enabled", False)
    assert render() == once, f"pydyf_once changed the {variant} PDF bytes"
    monkeypatch.setattr(font_subsets, "enabled", False)
    public = render()
    assert once == again == public, f"font_subsets changed the {variant} PDF bytes"


def test_the_file_identifier_hashes_the_written_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The /ID's halves are pydyf's: the hash of every object's bytes, read back by pikepdf."""
    monkeypatch.setattr(pdf_layout, "_now", lambda: "2026-01-02T03:04:05Z")
    first, second = render_pdfs(SAMPLE[:2])
    ids = []
    for data in (first, second):
        with pikepdf.open(io.BytesIO(data)) as doc:
            one, two = (bytes(part) for part in doc.trailer.ID)
            assert one == two and len(one) == 32
            ids.append(one)
    assert ids[0] != ids[1], "two different letters got the same file identifier"


def test_off_means_no_finisher(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pydyf_once.finisher() is pydyf_once.serialise_once
    monkeypatch.setattr(pydyf_once, "enabled", False)
    assert pydyf_once.finisher() is None


# --- font_subsets ------------------------------------------------------------------------------

def test_font_subsets_still_has_the_method_and_attributes_it_relies_on() -> None:
    where = (f"recruiter/adapters/font_subsets.py (checked on WeasyPrint "
             f"{font_subsets.CHECKED_VERSION}; installed {weasyprint.__version__})")
    assert font_subsets.installed(), f"{where}: Font.subset is not routed through the cache"
    stock = inspect.signature(font_subsets._stock)  # noqa: SLF001
    assert list(stock.parameters) == ["self", "to_unicode", "hinting"], where
    init = inspect.getsource(weasyprint_fonts.Font.__init__)
    for name in ("self.hash", "self.index", "self.file_content", "self.missing"):
        assert name in init, f"{where}: Font no longer sets {name}"
    cut = inspect.getsource(weasyprint_fonts.Font._harfbuzz_subset)  # noqa: SLF001
    assert "self.file_content = " in cut and "self.missing" in cut, where


def test_font_subsets_are_used_only_inside_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other WeasyPrint callers in the process (the benches' naive loops) are left alone."""
    before = (font_subsets.hits, font_subsets.misses)
    HTML(string="<p lang=en>Zoë, thank you.</p>").write_pdf()
    assert (font_subsets.hits, font_subsets.misses) == before


class _Face:
    """A stand-in for WeasyPrint's Font: what ``Font.subset`` reads and writes."""

    def __init__(self, content: bytes, missing: bool = False) -> None:
        self.hash, self.index, self.file_content = "ABCDEF", 0, content
        self.missing = {0x1F600: 65535} if missing else {}


def test_font_subsets_cut_once_per_face_glyphs_and_options(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cuts: list[tuple[bytes, tuple[int, ...], bool]] = []

    def cut(font: _Face, to_unicode: dict[int, str], hinting: bool) -> None:
        cuts.append((font.file_content, tuple(sorted(to_unicode)), hinting))
        font.file_content = b"subset of " + font.file_content + bytes(sorted(to_unicode))

    monkeypatch.setattr(font_subsets, "_stock", cut)
    monkeypatch.setattr(font_subsets, "_faces", {})
    monkeypatch.setattr(font_subsets, "PER_FACE", 2)

    def subset(content: bytes, glyphs: dict[int, str], *, hinting: bool = False,
               missing: bool = False) -> bytes:
        face = _Face(content, missing)
        with font_subsets.active():
            font_subsets._subset(face, glyphs, hinting)  # noqa: SLF001
        return face.file_content

    first = subset(b"font", {3: "a", 1: "b"})
    assert subset(b"font", {1: "b", 3: "a"}) == first and len(cuts) == 1  # same glyphs: kept
    assert subset(b"font", {1: "b"}) != first and len(cuts) == 2  # other glyphs
    subset(b"font", {1: "b", 3: "a"}, hinting=True)  # other options: cut again
    subset(b"font", {1: "b", 3: "a"}, missing=True)
    assert len(cuts) == 4
    assert subset(b"font", {1: "b", 3: "a"}) == first
    assert len(cuts) == 5  # only PER_FACE (2) subsets are kept, the oldest went first
    assert subset(b"other font", {1: "b", 3: "a"}) == b"subset of other font\x01\x03"
    assert len(cuts) == 6  # same face name, other bytes: never the old subset
    face = _Face(b"other font")
    font_subsets._subset(face, {1: "b", 3: "a"}, False)  # noqa: SLF001
    assert len(cuts) == 7  # outside active(): WeasyPrint's own way, every time
