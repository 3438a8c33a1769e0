"""Every object of an archival PDF serialised once, not twice, and the sRGB profile once a process.

A PDF with a file identifier (every PDF/A variant) makes pydyf serialise each object twice:
once to write it, and once more to hash the whole file for the identifier's second half
(``PDF.write``: ``b''.join(obj.data for obj in self.objects)``). A stream's ``data`` compresses
it again each time (zlib level 9: the page, the font subsets, the colour profile, the XMP), and
each of the structure tree's hundred small dictionaries is rebuilt from Python objects. That
second pass was 7% of a PDF/A-2a letter's instructions, more than PDF/A-2a still adds now
(bench/README.md, "PDF batch").

``serialise_once``, given to WeasyPrint's public ``write_pdf(finisher=...)`` hook (called once
the PDF's objects are complete, before pydyf writes them), replaces each object by its serialised
bytes, so both passes read the same bytes, computed once. The file is byte for byte the same.
The sRGB profile's stream, the same in every letter, is compressed once per process.

Relies on (pydyf 0.13.0, which WeasyPrint 70 pins as ``pydyf>=0.11.0``): ``PDF.write`` reading
objects only through ``PDF.objects`` and each object's documented ``number``, ``generation``,
``free``, ``offset``, ``data``, ``indirect`` and ``compressible``, and no object changing once
the finisher has run. ``tests/test_pdf_speedups.py`` checks that the bytes match the public
path. With ``enabled = False``, ``finisher()`` gives None: pydyf's own way.
"""

from __future__ import annotations

from typing import Any

import pydyf

CHECKED_VERSION = "0.13.0"
enabled = True

_shared: dict[tuple[bytes, bytes], bytes] = {}  # a shared stream's bytes, by content and dict


class Serialised(pydyf.Object):
    """A PDF object frozen as the bytes pydyf would write for it."""

    def __init__(self, source: pydyf.Object, data: bytes) -> None:
        super().__init__()
        self.number, self.generation = source.number, source.generation
        self.free, self.offset = source.free, source.offset
        self._data = data
        self._compressible = source.compressible

    @property
    def data(self) -> bytes:
        """The bytes pydyf computed for the object, once."""
        return self._data

    @property
    def compressible(self) -> bool:
        """Whether pydyf may put the object in an object stream, as for the original."""
        return self._compressible


def _data(obj: pydyf.Object, shared: list[bytes]) -> bytes:
    """The object's bytes; those of a stream of shared content (a profile) from the cache."""
    if not (isinstance(obj, pydyf.Stream) and len(obj.stream) == 1
            and any(obj.stream[0] is content for content in shared)):
        return obj.data
    key = (obj.stream[0], pydyf.Dictionary(obj.extra).data + b"%d" % bool(obj.compress))
    data = _shared.get(key)
    if data is None:
        data = _shared[key] = obj.data
    return data


def serialise_once(document: Any, pdf: pydyf.PDF) -> None:
    """Replace every object of ``pdf`` by its bytes (a WeasyPrint ``finisher``)."""
    shared = [profile.content for profile in document.color_profiles.values()
              if getattr(profile, "shared", False)]
    objects = pdf.objects
    for index, obj in enumerate(objects):
        if obj.free != "f" and not isinstance(obj, Serialised):
            objects[index] = Serialised(obj, _data(obj, shared))


def finisher() -> Any:
    """``serialise_once``, or None (pydyf's own way) when ``enabled`` is off."""
    return serialise_once if enabled else None
