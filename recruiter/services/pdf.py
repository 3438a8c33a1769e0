"""Letterhead PDFs: the door the rest of recruiter uses, and big batches over worker processes.

The layout itself (one pass per batch, split per letter by page markers) is in
``pdf_layout.py``; what WeasyPrint may fetch is in ``pdf_assets.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from recruiter.errors import PdfError

from . import workers as _workers
from .pdf_assets import (
    DEFAULT_PDF_VARIANT,
    MAX_ASSET_BYTES,
    PDF_VARIANTS,
    LetterAssetFetcher,
    bcp47,
    pdf_variant,
    url_fetcher,
)
from .pdf_layout import (
    PAGE_SIZES,
    PdfLetter,
    _check_keys,
    _page_size,
    harfbuzz_subset_available,
    render_pdf,
    render_pdfs,
    render_print_bundle,
    warm_up,
)

__all__ = [
    "DEFAULT_PDF_VARIANT", "MAX_ASSET_BYTES", "PAGE_SIZES", "PARALLEL_CHUNK", "PDF_VARIANTS",
    "LetterAssetFetcher", "PdfLetter", "bcp47", "harfbuzz_subset_available", "pdf_variant",
    "render_pdf", "render_pdfs", "render_pdfs_parallel",
    "render_print_bundle", "url_fetcher", "warm_up",
]

PARALLEL_CHUNK = 25  # most letters per layout pass: small for memory and an even finish
MIN_CHUNK = 10  # fewer letters than two of these stay in the calling process

# Every pool worker parses the stylesheets and loads the fonts before its first task.
_workers.at_worker_start(warm_up)


def _render_chunk(args: tuple[list[PdfLetter], str, str]) -> list[bytes]:
    """Render one chunk in a worker (which has no app context: the variant comes along)."""
    letters, page_size, variant = args
    return render_pdfs(letters, page_size=page_size, variant=variant)


def _chunks(letters: Sequence[PdfLetter], workers: int, chunk: int) -> list[list[PdfLetter]]:
    """Equal chunks of at most ``chunk`` letters, a multiple of ``workers`` of them."""
    count = -(-len(letters) // max(1, chunk))
    count = -(-count // workers) * workers
    size = max(MIN_CHUNK, -(-len(letters) // count))
    return [list(letters[i:i + size]) for i in range(0, len(letters), size)]


def render_pdfs_parallel(letters: Sequence[PdfLetter], *, page_size: str = "A4",
                         processes: int | None = None, chunk: int = PARALLEL_CHUNK,
                         variant: str | None = None) -> list[bytes]:
    """``render_pdfs`` for big batches: chunks of letters laid out across processes.

    Each chunk is one layout pass, split per letter by marker; results come back in order.
    The workers (one per CPU by default) are forks of a fork server that has imported
    WeasyPrint; they warm up once and stay for later batches. Small batches stay here.
    """
    workers = _workers.count(processes)
    _page_size(page_size)
    variant = pdf_variant(variant)
    _check_keys(letters)
    if workers < 2 or len(letters) < 2 * MIN_CHUNK:
        return [pdf for i in range(0, len(letters), max(1, chunk))
                for pdf in render_pdfs(letters[i:i + chunk], page_size=page_size,
                                       variant=variant)]
    parts = _chunks(letters, workers, chunk)
    return _workers.run_chunks(
        _render_chunk, [(part, page_size, variant) for part in parts], workers,
        failure=PdfError("A PDF worker stopped unexpectedly; the letters were not rendered."))
