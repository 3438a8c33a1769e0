"""A font's subset for a set of glyphs made once per process, not once per letter.

Every letter's PDF embeds its three fonts cut down to the glyphs it uses, and HarfBuzz's cut
costs 0.6 to 2.7 ms a font whatever the number of glyphs. The letterhead's fonts (the sans of
the organization's name and address, the bold of the subject) draw the same glyphs in most
letters of a batch, so the same subset was cut again for each. Here a font's subsets are kept
by glyph set, the last few per font face, and used again when the same face (byte for byte)
needs the same glyphs with the same options: the PDF is byte for byte the same.

It applies only inside ``active()`` (recruiter's own PDF writing), so other WeasyPrint callers
in the process, such as the benches' naive loops, keep WeasyPrint's own behaviour.

Relies on (WeasyPrint 70.0, the pinned ``>=70,<71``): the private
``weasyprint.pdf.fonts.Font.subset(to_unicode, hinting)``, whose only effect is to set
``file_content`` from ``file_content``, the glyph ids of ``to_unicode``, ``hinting`` and
whether ``missing`` is empty; and ``Font.hash`` and ``Font.index`` naming the face.
``tests/test_pdf_speedups.py`` fails if these change. With ``enabled = False``, or if the
method is not there, letters are subset as WeasyPrint does it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from weasyprint.pdf import fonts as _fonts

CHECKED_VERSION = "70.0"
enabled = True
PER_FACE = 8  # subsets kept per font face, the most recently used

_active: contextvars.ContextVar[bool] = contextvars.ContextVar("font_subsets", default=False)
_lock = threading.Lock()
# (face hash, face index) -> (the whole font file, {glyph set and options: subset bytes})
_faces: dict[tuple[str, int], tuple[bytes, OrderedDict[tuple[Any, ...], bytes]]] = {}
_stock = getattr(getattr(_fonts, "Font", None), "subset", None)
hits = misses = 0  # for the bench's report


def _subset(font: Any, to_unicode: dict[int, str], hinting: bool) -> None:
    """``Font.subset``, from the cache when this face was cut to these glyphs before."""
    global hits, misses
    if not (enabled and _active.get() and to_unicode):
        return _stock(font, to_unicode, hinting)
    face, whole = (font.hash, font.index), font.file_content
    key = (tuple(sorted(to_unicode)), bool(hinting), bool(font.missing))
    with _lock:
        known = _faces.get(face)
        if known is not None and known[0] == whole and key in known[1]:
            known[1].move_to_end(key)
            font.file_content = known[1][key]
            hits += 1
            return None
    _stock(font, to_unicode, hinting)
    if font.file_content is whole:
        return None  # not cut (WeasyPrint logged why): nothing worth keeping
    with _lock:
        misses += 1
        known = _faces.get(face)
        if known is None or known[0] != whole:
            known = _faces[face] = (whole, OrderedDict())
        known[1][key] = font.file_content
        while len(known[1]) > PER_FACE:
            known[1].popitem(last=False)
    return None


def installed() -> bool:
    """Whether WeasyPrint's ``Font.subset`` now goes through this module."""
    return getattr(getattr(_fonts, "Font", None), "subset", None) is _subset


def install() -> None:
    """Route ``Font.subset`` through the cache (once; only if the method is there)."""
    if _stock is not None and not installed():
        _fonts.Font.subset = _subset


@contextlib.contextmanager
def active() -> Iterator[None]:
    """Use the cache for the PDFs written inside this block (in this thread or task)."""
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)
