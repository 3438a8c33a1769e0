"""Letterhead PDFs: layout, splitting, page sizes, fonts and the restrictive URL fetcher."""

from __future__ import annotations

import dataclasses
import gc
import os
import re
from pathlib import Path

import pytest
from pdftools import page_count, page_size_points, page_words
from pdftools import pdf_text as _pdf_text
from weasyprint import CSS, HTML

from recruiter.errors import PdfError
from recruiter.paths import LETTERS_DIR
from recruiter.services import workers
from recruiter.services.pdf import (
    LetterAssetFetcher,
    PdfLetter,
    _chunks,
    render_pdf,
    render_pdfs,
    render_pdfs_parallel,
    render_print_bundle,
    url_fetcher,
)


def letter(key: str = "a", *, paragraphs: int = 3, name: str = "Zoë Lefebvre",
           sender_name: str = "", language: str = "en") -> PdfLetter:
    body = "".join(f"<p>Paragraph {i} for {name}: thank you for the time you gave us and "
                   "for the care you put into your application.</p>" for i in range(paragraphs))
    return PdfLetter(
        key=key, organization_name="Harbour Air Logistics",
        organization_address=("1055 West Hastings Street", "Vancouver BC  V6E 2E9"),
        date="22 November 2026", recipient=(name, "3120 Kingsway", "Vancouver BC  V5R 5K2"),
        subject="Your application for Operations Coordinator", body_html=body,
        sender_name=sender_name, sender_title="Operations Manager" if sender_name else "",
        language=language)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    return _pdf_text(pdf, tmp_path, layout=True)


class SpyFetcher(LetterAssetFetcher):
    """Records every URL WeasyPrint asks for and whether it was refused."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bool]] = []

    def fetch(self, url, headers=None):  # noqa: ANN001, ANN201, D102
        try:
            response = super().fetch(url, headers)
        except ValueError:
            self.calls.append((url, False))
            raise
        self.calls.append((url, True))
        return response


# The fetcher -----------------------------------------------------------------------------------

def test_fetcher_refuses_passwd_in_an_img() -> None:
    spy = SpyFetcher()
    pdf = HTML(string='<p>x</p><img src="file:///etc/passwd">', url_fetcher=spy).write_pdf()
    assert ("file:///etc/passwd", False) in spy.calls
    assert b"root:" not in pdf


def test_fetcher_refuses_passwd_in_a_css_url() -> None:
    spy = SpyFetcher()
    css = CSS(string='p { background: url("file:///etc/passwd") } '
                     '@font-face { font-family: X; src: url(file:///etc/passwd) }',
              url_fetcher=spy)
    pdf = HTML(string='<p style="font-family: X">x</p>', url_fetcher=spy).write_pdf(
        stylesheets=[css])
    refused = [url for url, ok in spy.calls if not ok]
    assert refused and all(url == "file:///etc/passwd" for url in refused)
    assert not any(ok for _, ok in spy.calls)
    assert b"root:" not in pdf


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "file://evil.example.com/letters/letterhead.css",
    "http://127.0.0.1/logo.png",
    "https://example.com/logo.png",
    "ftp://example.com/x",
    f"{LETTERS_DIR.resolve().as_uri()}/../pyproject.toml",
])
def test_fetcher_refuses_everything_but_letter_assets(url: str) -> None:
    with pytest.raises(ValueError, match="Refused"):
        url_fetcher.fetch(url)


def test_fetcher_serves_letter_assets_and_data_uris() -> None:
    css = url_fetcher.fetch((LETTERS_DIR / "letterhead.css").resolve().as_uri())
    assert b"@page" in css.read()
    assert url_fetcher.fetch("data:text/plain;base64,aGVsbG8=").read() == b"hello"


def test_fetcher_refuses_a_symlink_out_of_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    root.mkdir()
    (root / "logo.png").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="not a letter asset"):
        LetterAssetFetcher(root).fetch((root / "logo.png").as_uri())


def test_letter_body_cannot_pull_local_files(tmp_path: Path) -> None:
    hostile = PdfLetter(**{**letter().__dict__, "body_html":
                           '<p>Hi</p><img src="file:///etc/passwd">'
                           '<p style="background:url(file:///etc/hostname)">x</p>'})
    text = pdf_text(render_pdf(hostile), tmp_path)
    assert "Hi" in text and "root:" not in text


# Layout and splitting --------------------------------------------------------------------------

def test_batch_is_split_per_letter_by_marker_not_by_count(tmp_path: Path) -> None:
    letters = [letter("one", name="Ana Silva"), letter("two", paragraphs=40, name="Bo Lindqvist"),
               letter("three", name="Chidi Obi")]
    one, two, three = render_pdfs(letters)
    assert page_count(one, tmp_path) == 1
    assert page_count(two, tmp_path) >= 2
    assert page_count(three, tmp_path) == 1
    texts = [pdf_text(pdf, tmp_path) for pdf in (one, two, three)]
    for text, own, others in zip(texts, ["Ana Silva", "Bo Lindqvist", "Chidi Obi"],
                                 [("Bo", "Chidi"), ("Ana", "Chidi"), ("Ana", "Bo")], strict=True):
        assert own in text
        assert not any(other in text for other in others)


def test_page_numbers_only_when_a_letter_runs_past_one_page(tmp_path: Path) -> None:
    """A one-page letter has no folio; a longer one says "Page X of N" on every page."""
    short, long = render_pdfs([letter("s"), letter("l", paragraphs=40)])
    assert "Page 1 of" not in pdf_text(short, tmp_path)
    long_text = pdf_text(long, tmp_path)
    pages = page_count(long, tmp_path)
    assert f"Page 1 of {pages}" in long_text
    assert f"Page {pages} of {pages}" in long_text
    assert all(f"Page {n} of {pages}" in long_text for n in range(1, pages + 1))


@pytest.mark.parametrize(("size", "points"), [("A4", (595, 842)), ("letter", (612, 792))])
def test_page_sizes(size: str, points: tuple[int, int], tmp_path: Path) -> None:
    assert page_size_points(render_pdf(letter(), page_size=size), tmp_path) == points


def test_unknown_page_size_is_refused() -> None:
    with pytest.raises(PdfError, match="Unknown page size 'A5'"):
        render_pdf(letter(), page_size="A5")


def test_letterhead_holds_address_date_subject_and_recipient(tmp_path: Path) -> None:
    text = pdf_text(render_pdf(letter()), tmp_path)
    for expected in ("Harbour Air Logistics", "1055 West Hastings Street", "22 November 2026",
                     "Zoë Lefebvre", "3120 Kingsway",
                     "Your application for Operations Coordinator"):
        assert expected in text


def test_signature_block_only_when_a_sender_is_given(tmp_path: Path) -> None:
    assert "Operations Manager" not in pdf_text(render_pdf(letter()), tmp_path)
    signed = pdf_text(render_pdf(letter(sender_name="Jordan Reyes")), tmp_path)
    assert "Jordan Reyes" in signed and "Operations Manager" in signed


@pytest.mark.parametrize("name", [
    "Nguyễn Thị Hương", "Γιώργος Παπαδόπουλος", "Анастасия Кузнецова", "Łukasz Żółć",
    "محمد الأحمد", "שרה כהן",
])
def test_fonts_cover_international_names(name: str, tmp_path: Path) -> None:
    text = pdf_text(render_pdf(letter(name=name)), tmp_path)
    # pdftotext only gives the name back when every glyph was found in an embedded font.
    words = name.split()
    assert all(word in text for word in words), text


def test_right_to_left_letters_are_laid_out_rtl() -> None:
    from recruiter.services.pdf_layout import _direction

    assert _direction("محمد الأحمد، شكراً لك") == "rtl"
    assert _direction("Dear Zoë, thank you") == "ltr"


def test_keys_must_be_unique_and_safe() -> None:
    with pytest.raises(PdfError, match="appears twice"):
        render_pdfs([letter("a"), letter("a")])
    with pytest.raises(PdfError, match="must be letters"):
        render_pdfs([letter('a"><script>')])


def test_print_bundle_holds_every_letter_and_pads_for_duplex(tmp_path: Path) -> None:
    letters = [letter("a"), letter("b", paragraphs=40), letter("c")]
    singles = [page_count(pdf, tmp_path) for pdf in render_pdfs(letters)]
    assert page_count(render_print_bundle(letters), tmp_path) == sum(singles)
    padded = sum(n + n % 2 for n in singles[:-1]) + singles[-1]
    assert page_count(render_print_bundle(letters, duplex=True), tmp_path) == padded
    with pytest.raises(PdfError, match="no letters"):
        render_print_bundle([])


def test_empty_batch_gives_no_pdfs() -> None:
    assert render_pdfs([]) == []


_NAMES = [
    "Ana Silva", "Bo Lindqvist", "Chidi Obi", "Dana Kowalczyk", "Emeka Nwosu", "Farah Haddad",
    "Gustavo Pereira", "Hana Novakova", "Ilse Vermeer", "Jonas Berg", "Kaito Sato",
    "Leila Rahimi", "Mateo Rossi", "Nadia Petrova", "Oskar Nyberg", "Priya Raman",
    "Quentin Marchal", "Rosa Delgado", "Sven Aalto", "Tomasz Wrobel", "Ulla Jensen",
    "Viktor Horvath", "Wen Zhao", "Ximena Ortiz",
]


def test_parallel_batch_gives_each_letter_exactly_its_own_pages(tmp_path: Path) -> None:
    """Issue 7: over chunks and processes, each PDF holds its own pages and no other name."""
    # Long letters at a chunk's end, at the next one's start and after it, and at the very end.
    long = {3, 9, 10, 11, 23}
    letters = [letter(f"k{i}", name=name, paragraphs=40 if i in long else 3)
               for i, name in enumerate(_NAMES)]
    assert [len(part) for part in _chunks(letters, 2, 6)] == [10, 10, 4]
    try:
        pdfs = render_pdfs_parallel(letters, processes=2, chunk=6)
    finally:
        workers.shutdown()
    assert len(pdfs) == len(letters)
    for i, (name, data) in enumerate(zip(_NAMES, pdfs, strict=True)):
        pages = page_count(data, tmp_path)
        text = pdf_text(data, tmp_path)
        assert (pages >= 2) == (i in long), (name, pages)
        assert text.count("Your application for Operations Coordinator") == 1, name
        assert name in text
        assert [other for other in _NAMES if other != name and other in text] == [], name
        if pages == 1:
            assert "Page 1 of" not in text, name
        else:
            assert all(f"Page {n} of {pages}" in text for n in range(1, pages + 1)), name
    serial = render_pdfs(letters)
    assert [page_count(x, tmp_path) for x in serial] == [page_count(x, tmp_path) for x in pdfs]


def test_parallel_batch_refuses_a_key_that_appears_in_two_chunks() -> None:
    """Keys are checked over the whole batch, not only within each chunk."""
    letters = [letter(f"k{i}") for i in range(20)] + [letter("k0")]
    with pytest.raises(PdfError, match="appears twice"):
        render_pdfs_parallel(letters, processes=2, chunk=10)


def test_print_bundle_numbers_the_long_letters_only(tmp_path: Path) -> None:
    """In the print bundle, only the letter that runs past one page carries page numbers."""
    text = pdf_text(render_print_bundle([letter("a", name="Ana Silva"),
                                         letter("b", paragraphs=40, name="Bo Lindqvist"),
                                         letter("c", name="Chidi Obi")]), tmp_path)
    pages = text.split("\f")
    assert "Page" not in pages[0] and "Page" not in pages[-2]
    assert "Page 1 of" in pages[1]


# What keeps a letter cheap to lay out (issue 7) --------------------------------------------------

def test_batch_markup_lets_the_letters_share_their_styles() -> None:
    """No id or lang of its own on a letter's section, so its styles can be shared.

    The page marker sits on the section's first child; a letter in another language than the
    document's still gets its own lang.
    """
    from recruiter.services.pdf_layout import _item, _template

    letters = [letter("a"), letter("b"), letter("c", language="fr")]
    source = _template().render(items=[_item(x) for x in letters], title="t", lang="en",
                                size="a4")
    sections = re.findall(r"<section[^>]*>\s*<span[^>]*>", source)
    assert len(sections) == 3
    for section, key in zip(sections, "abc", strict=True):
        assert re.search(r'<section class="letter"[^>]*\bid=', section) is None
        assert section.endswith(f'<span class="letter-start" id="recruiter-letter-{key}">')
    assert ' lang="' not in sections[0] and ' lang="' not in sections[1]
    assert ' lang="fr"' in sections[2]
    assert "<br>" not in source.split('class="recipient"')[1].split("</p>")[0]


def test_trimmed_user_agent_stylesheet_is_in_use() -> None:
    """The installed WeasyPrint's stylesheet still has the rules recruiter leaves out.

    If this fails after a WeasyPrint upgrade, letters still render with the whole stylesheet,
    only slower: update ``UNUSED_RULES`` in recruiter/adapters/weasyprint_ua.py.
    """
    from recruiter.adapters.weasyprint_ua import LetterHTML, trimmed_stylesheet

    trimmed = trimmed_stylesheet()
    assert trimmed is not None
    assert LetterHTML(string="<p>x</p>")._ua_stylesheets() == [trimmed]  # noqa: SLF001


def test_folio_stays_at_the_right_margin(tmp_path: Path) -> None:
    """The footer keeps its right alignment without the user-agent margin-box rules."""
    words = page_words(render_pdf(letter("l", paragraphs=40)), tmp_path, page=1)
    assert [word for *_, word in words[-4:]][:3] == ["Page", "2", "of"]  # "Page 2 of N"
    folio_end = max(right for _, _, right, _ in words[-4:])
    assert abs(folio_end - (210 - 20)) < 0.5  # A4 width less the 20 mm margin


ARABIC = {"recipient": ("محمد عبد الله العلي", "شارع الملك فهد ١٢", "الرياض"),
          "subject": "شكرا لك", "language": "ar",
          "body_html": "<p>عزيزي محمد،</p><p>نشكرك على اهتمامك بالوظيفة.</p>"}


@pytest.mark.parametrize("right_to_left", [False, True], ids=["ltr", "rtl"])
def test_letterhead_and_window_stay_in_place_for_either_direction(tmp_path: Path,
                                                                  right_to_left: bool) -> None:
    """An Arabic letter keeps the letterhead and the window where they are, date beside.

    The letterhead is the employer's paper and the window is the envelope's, so neither turns
    round, and the date stays beside the window, not over the address. A return line too long
    for the window wraps between its parts instead of being cut.
    """
    long_address = ("1055 West Hastings Street, Suite 300", "Vancouver BC  V6E 2E9")
    sample = dataclasses.replace(letter("w"), organization_address=long_address,
                                 **(ARABIC if right_to_left else {}))
    words = page_words(render_pdf(sample), tmp_path)
    name = [w for w in words if w[3] == "Harbour" and w[1] < 30]  # the letterhead's name
    assert name and abs(name[0][0] - 25) < 1  # at the left margin
    window = [w for w in words if 45 < w[1] < 90]  # the window row: 45 to 90 mm from the top
    date = [w for w in window if w[3] in ("22", "November", "2026")]
    address = [w for w in window if w not in date]
    assert address and all(20 <= left and right <= 105 for left, _, right, _ in address)
    assert len(date) == 3 and min(left for left, *_ in date) > 105
    for word in ("Logistics", "Suite", "300", "V6E", "2E9"):  # the return line, whole
        assert any(w[3].strip("·,") == word for w in address), word
    if right_to_left:
        assert any(re.search("[\u0600-\u06ff\ufb50-\ufeff]", w[3]) for w in address)
    else:
        assert any(w[3] == "Zoë" for w in address)


def test_pdf_workers_freeze_their_warm_objects_out_of_the_collector() -> None:
    """Each worker freezes what its warm-up left, so the collection after a chunk is short."""
    try:
        assert workers.pool(2).submit(gc.get_freeze_count).result() > 10_000
    finally:
        workers.shutdown()


def test_a_dead_worker_fails_its_batch_and_the_next_batch_gets_a_fresh_pool() -> None:
    """A worker that dies breaks the pool: the batch fails with our error, the next one runs."""
    from concurrent.futures.process import BrokenProcessPool

    failure = PdfError("A PDF worker stopped unexpectedly.")
    try:
        with pytest.raises(PdfError, match="stopped unexpectedly") as caught:
            workers.run_chunks(os._exit, [1, 1], 2, failure=failure)  # the worker exits
        assert isinstance(caught.value.__cause__, BrokenProcessPool)
        assert workers.run_chunks(list, [(1, 2), (3,)], 2, failure=failure) == [1, 2, 3]
    finally:
        workers.shutdown()
