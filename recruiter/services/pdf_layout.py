"""Letterhead PDF layout: one layout pass per batch, split per letter by page markers.

``services/pdf.py`` is the door the rest of recruiter uses; it adds the worker pool.
"""

from __future__ import annotations

import copy
import ctypes.util
import dataclasses
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from weasyprint import CSS
from weasyprint.css.counters import CounterStyle
from weasyprint.document import Document, Page
from weasyprint.text.fonts import FontConfiguration

from recruiter.adapters import font_subsets, pydyf_once, weasyprint_ua
from recruiter.errors import PdfError
from recruiter.paths import LETTERS_DIR

from .pdf_assets import bcp47, color_profiles, pdf_variant, url_fetcher, write_options

PAGE_SIZES = {"a4": "A4", "letter": "letter"}
font_subsets.install()  # used only inside font_subsets.active(): recruiter's own PDFs

_MARKER = "recruiter-letter-"
_END = "recruiter-end-"
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_TAG_RE = re.compile(r"<[^>]*>")
_FOLIO_WORDS = {
    "en": ("Page", "of"), "fr": ("Page", "sur"), "de": ("Seite", "von"),
    "es": ("Página", "de"), "pt": ("Página", "de"), "it": ("Pagina", "di"),
    "nl": ("Pagina", "van"), "ar": ("صفحة", "من"), "he": ("עמוד", "מתוך"),
}


@dataclass(frozen=True)
class PdfLetter:
    """Everything the letterhead needs for one letter; all values are plain data."""

    key: str
    organization_name: str
    organization_address: tuple[str, ...]
    date: str
    recipient: tuple[str, ...]
    subject: str
    body_html: str
    sender_name: str
    sender_title: str = ""
    language: str = "en"


def _now() -> str:
    """The creation date written into the PDFs of one batch (W3C format, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def harfbuzz_subset_available() -> bool:
    """Tell whether libharfbuzz-subset is installed (it makes font subsetting ~20x faster)."""
    return ctypes.util.find_library("harfbuzz-subset") is not None


@cache
def _font_config() -> FontConfiguration:
    return FontConfiguration()


@cache
def _counter_style() -> CounterStyle:
    return CounterStyle()


@cache
def _stylesheets(size: str) -> tuple[CSS, ...]:
    """Parse the letterhead and page-size stylesheets once per process and size."""
    common = {"url_fetcher": url_fetcher, "font_config": _font_config(),
              "counter_style": _counter_style(), "base_url": _base_url()}
    return (
        CSS(filename=str(LETTERS_DIR / "letterhead.css"), **common),
        CSS(string=f"@page {{ size: {size}; }}", **common),
    )


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(LETTERS_DIR)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("letterhead.html")


def _base_url() -> str:
    return Path(LETTERS_DIR).resolve().as_uri() + "/"


def _page_size(page_size: str) -> str:
    try:
        return PAGE_SIZES[page_size.strip().lower()]
    except (KeyError, AttributeError):
        raise PdfError(f"Unknown page size {page_size!r}: use 'A4' or 'letter'.") from None


def _direction(text: str) -> str:
    """Return ``rtl`` when right-to-left letters outnumber left-to-right ones."""
    rtl = ltr = 0
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            rtl += 1
        elif kind == "L":
            ltr += 1
    return "rtl" if rtl > ltr else "ltr"


@lru_cache(maxsize=64)
def _org_direction(name: str, address: tuple[str, ...]) -> str:
    """The letterhead's direction: the organization's own, whatever the letter's language.

    The letterhead is the employer's printed paper, and the window row is where the envelope's
    window is: neither turns round for a right-to-left letter.
    """
    return _direction(" ".join((name, *address)))


def _item(letter: PdfLetter, pages: int | None = None) -> dict[str, Any]:
    lang = letter.language.replace("_", "-").split("-")[0].lower() or "en"
    body_text = html.unescape(_TAG_RE.sub(" ", letter.body_html))
    return {
        "letter": letter,
        "marker": _MARKER + letter.key,
        "end": _END + letter.key,
        "dir": _direction(body_text or " ".join(letter.recipient)),
        "recipient_dir": _direction(" ".join(letter.recipient)),
        "org_dir": _org_direction(letter.organization_name, letter.organization_address),
        "pages": pages,
        "folio_words": _FOLIO_WORDS.get(lang, _FOLIO_WORDS["en"]),
        "return_parts": (letter.organization_name, *letter.organization_address),
    }


def _check_keys(letters: Sequence[PdfLetter]) -> None:
    seen: set[str] = set()
    for letter in letters:
        if not _KEY_RE.fullmatch(letter.key or ""):
            raise PdfError(f"Letter key {letter.key!r} must be letters, digits, '_', '.', "
                           "':' or '-' (at most 128).")
        if letter.key in seen:
            raise PdfError(f"Letter key {letter.key!r} appears twice in one batch.")
        seen.add(letter.key)


def _render(letters: Sequence[PdfLetter], page_size: str, *, title: str, variant: str,
            pages: Sequence[int] | None = None, duplex: bool = False) -> Document:
    """Lay out all letters in one document, one section (page group) per letter.

    Without ``pages`` the letters get no folio. With it, each letter's page count from an
    earlier pass is written as plain text ("Page 2 of 3"): a ``target-counter`` total would
    make WeasyPrint lay out every page twice.
    """
    size = _page_size(page_size)
    _check_keys(letters)
    counts = pages if pages is not None else [None] * len(letters)
    letters = [dataclasses.replace(letter, language=bcp47(letter.language))
               if letter.language != bcp47(letter.language) else letter for letter in letters]
    source = _template().render(
        items=[_item(letter, n) for letter, n in zip(letters, counts, strict=True)],
        title=title, lang=letters[0].language if letters else "en",
        size="a4" if size == "A4" else "letter")
    stylesheets = list(_stylesheets(size))
    if duplex:
        # A letter with an odd page count gets a blank back page, so the next one starts recto.
        stylesheets.append(CSS(string="section.letter { break-before: recto; }"))
    try:
        return weasyprint_ua.document(string=source, base_url=_base_url(),
                                      url_fetcher=url_fetcher).render(
            stylesheets=stylesheets, font_config=_font_config(),
            counter_style=_counter_style(), color_profiles=color_profiles(variant),
            **write_options(variant))
    except Exception as exc:  # WeasyPrint and its libraries raise many kinds
        raise PdfError(f"The letter PDF could not be laid out ({exc}).") from exc


def _split(document: Document, letters: Sequence[PdfLetter], *,
           blanks: bool = False) -> list[list[Page]]:
    """Attribute every page to its letter by the section and end markers, never by count.

    With ``blanks``, a page between two letters that holds no marker is duplex padding and
    belongs to no letter.
    """
    starts = {_MARKER + letter.key: i for i, letter in enumerate(letters)}
    ends = {_END + letter.key: i for i, letter in enumerate(letters)}
    groups: list[list[Page]] = [[] for _ in letters]
    current: int | None = None
    ended = True
    for number, page in enumerate(document.pages, 1):
        found = {starts[name] for name in page.anchors if name in starts}
        if len(found) > 1:
            raise PdfError(f"Page {number} holds parts of two letters; the PDF was not split.")
        if found:
            index = found.pop()
            if index != current and not ended:
                raise PdfError(f"Page {number} starts a letter before the previous one ended.")
            current, ended = index, False
        elif current is not None and ended and blanks and not page.anchors:
            continue
        elif current is None or ended:
            raise PdfError(f"Page {number} belongs to no letter; the PDF was not split.")
        groups[current].append(page)
        if any(ends.get(name) == current for name in page.anchors):
            ended = True
    for letter, pages in zip(letters, groups, strict=True):
        if not pages or _END + letter.key not in pages[-1].anchors:
            raise PdfError(f"The pages of letter {letter.key!r} could not be found.")
    return groups


def _numbered(letters: Sequence[PdfLetter], page_size: str, counts: Sequence[int], *,
              title: str, variant: str, duplex: bool = False
              ) -> tuple[Document, list[list[Page]]]:
    """Lay the letters out again with their folios; a folio never changes the page count."""
    document = _render(letters, page_size, title=title, variant=variant, pages=counts,
                       duplex=duplex)
    groups = _split(document, letters, blanks=duplex)
    for letter, pages, count in zip(letters, groups, counts, strict=True):
        if len(pages) != count:
            raise PdfError(f"Letter {letter.key!r} changed from {count} to {len(pages)} pages "
                           "when numbered; the PDF was not written.")
    return document, groups


def _metadata(doc: Document, letter: PdfLetter, title: str, variant: str, created: str) -> None:
    """Title, author (the organization), BCP 47 language and creation date, in place."""
    doc.metadata = copy.copy(doc.metadata)
    doc.metadata.title = title
    doc.metadata.lang = bcp47(letter.language)
    if variant != "none":
        doc.metadata.authors = [letter.organization_name]
        doc.metadata.created = doc.metadata.modified = created


def _write(document: Document, pages: list[Page], letter: PdfLetter, variant: str,
           created: str) -> bytes:
    part = document.copy(pages)
    _metadata(part, letter, letter.subject, variant, created)
    try:
        with font_subsets.active():
            return part.write_pdf(finisher=pydyf_once.finisher(), **write_options(variant))
    except Exception as exc:
        raise PdfError(f"The PDF for letter {letter.key!r} could not be written ({exc}).") \
            from exc


def render_pdfs(letters: Sequence[PdfLetter], *, page_size: str = "A4",
                variant: str | None = None) -> list[bytes]:
    """Render many letters in one layout pass and return one PDF per letter, in order.

    The pass has no page numbers. Only the letters that ran past one page are laid out
    again, together, with "Page X of N" in the footer. ``variant``: see ``pdf_variant``.
    """
    if not letters:
        return []
    variant, created = pdf_variant(variant), _now()
    title = letters[0].subject
    document = _render(letters, page_size, title=title, variant=variant)
    groups = _split(document, letters)
    counts = [len(pages) for pages in groups]
    pdfs: list[bytes] = [b""] * len(letters)
    for i, (letter, pages) in enumerate(zip(letters, groups, strict=True)):
        if len(pages) == 1:
            pdfs[i] = _write(document, pages, letter, variant, created)
    del document, groups
    long = [i for i, count in enumerate(counts) if count > 1]
    if long:
        subset = [letters[i] for i in long]
        document, groups = _numbered(subset, page_size, [counts[i] for i in long], title=title,
                                     variant=variant)
        for i, letter, pages in zip(long, subset, groups, strict=True):
            pdfs[i] = _write(document, pages, letter, variant, created)
    return pdfs


def render_pdf(letter: PdfLetter, *, page_size: str = "A4", variant: str | None = None
               ) -> bytes:
    """Render one letter as a letterhead PDF."""
    return render_pdfs([letter], page_size=page_size, variant=variant)[0]


def render_print_bundle(letters: Sequence[PdfLetter], *, page_size: str = "A4",
                        duplex: bool = False, variant: str | None = None) -> bytes:
    """Render every letter into one print-ready PDF, each letter starting on a new sheet side."""
    if not letters:
        raise PdfError("There are no letters to print.")
    variant, created = pdf_variant(variant), _now()
    title = f"Letters ({len(letters)})"
    document = _render(letters, page_size, title=title, variant=variant, duplex=duplex)
    counts = [len(pages) for pages in _split(document, letters, blanks=duplex)]
    if any(count > 1 for count in counts):
        document, _ = _numbered(letters, page_size, counts, title=title, variant=variant,
                                duplex=duplex)
    _metadata(document, letters[0], title, variant, created)
    try:
        with font_subsets.active():
            return document.write_pdf(finisher=pydyf_once.finisher(), **write_options(variant))
    except Exception as exc:
        raise PdfError(f"The print bundle could not be written ({exc}).") from exc


def warm_up() -> None:
    """Parse the stylesheets and load the fonts, so the first real letter does not."""
    weasyprint_ua.warm_up()
    _stylesheets("A4")
    _stylesheets("letter")
    render_pdfs([PdfLetter(key="warm-up", organization_name="Warm-up", organization_address=(),
                           date="", recipient=("Zoë محمد",), subject="Warm-up",
                           body_html="<p><b>Zoë</b> محمد</p>", sender_name="")])
