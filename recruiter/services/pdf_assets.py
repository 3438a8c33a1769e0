"""What WeasyPrint may fetch for a letter, and which archival PDF variant it writes.

Fetched: ``data:`` URIs and the letter assets, nothing else. Written: RECRUITER_PDF_VARIANT
(PDF/A-2a by default) with its sRGB output intent.
"""

from __future__ import annotations

import io
import mimetypes
import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import current_app, has_app_context
from weasyprint.css import ColorProfile
from weasyprint.urls import URLFetcher, URLFetcherResponse

from recruiter.errors import PdfError
from recruiter.paths import LETTERS_DIR

MAX_ASSET_BYTES = 10 * 1024 * 1024
# PDF/A-2a (tagged, XMP metadata, sRGB output intent, file ID) by default; "none" is the
# plain PDF of before.
PDF_VARIANTS = ("pdf/a-2a", "pdf/a-2b", "pdf/ua-1", "none")
DEFAULT_PDF_VARIANT = "pdf/a-2a"
# Not WeasyPrint's own "srgb" key: for that one it opens its ICC file once per PDF, parses it
# again, and leaves the file to the garbage collector (a ResourceWarning). Same profile.
_SRGB = "recruiter-srgb"


def pdf_variant(value: str | None = None) -> str:
    """The PDF variant: ``value``, else the app's PDF_VARIANT, else RECRUITER_PDF_VARIANT."""
    if value is None and has_app_context():  # pool workers and the bench have none
        value = current_app.config.get("PDF_VARIANT")
    if value is None:
        value = os.environ.get("RECRUITER_PDF_VARIANT")
    variant = (value or DEFAULT_PDF_VARIANT).strip().lower()
    if variant not in PDF_VARIANTS:
        raise PdfError(f"Unknown PDF variant {value!r}: use one of {', '.join(PDF_VARIANTS)}.")
    return variant


class _FileProfile(ColorProfile):
    """A colour profile embedded as its file's very bytes.

    LittleCMS's re-serialisation (WeasyPrint's way) changes after a profile's first use, so a
    letter's bytes would depend on its place in the process's run.
    """

    shared = True  # the same bytes in every PDF: adapters/pydyf_once compresses them once

    def __init__(self, data: bytes, src: str) -> None:
        super().__init__(io.BytesIO(data), src, "relative-colorimetric", (["r"], ["g"], ["b"]))
        self._data = data

    @property
    def content(self) -> bytes:
        return self._data


@cache
def _srgb_profile() -> ColorProfile:
    return _FileProfile((files("weasyprint.pdf") / "sRGB2014.icc").read_bytes(), "sRGB2014.icc")


def color_profiles(variant: str) -> dict[str, ColorProfile]:
    """The colour profiles a document of this variant starts with (render's argument)."""
    return {_SRGB: _srgb_profile()} if variant.startswith("pdf/a") else {}


def write_options(variant: str) -> dict[str, Any]:
    """WeasyPrint's options for this variant, for both ``render`` and ``write_pdf``."""
    if variant == "none":
        return {}
    return {"pdf_variant": variant, **({"output_intent": _SRGB} if variant.startswith("pdf/a")
                                       else {})}


def bcp47(language: str) -> str:
    """``en_CA`` as the BCP 47 tag ``en-CA`` (``zh_hant_tw``: ``zh-Hant-TW``)."""
    first, *rest = [p for p in (language or "").replace("_", "-").split("-") if p] or ["en"]
    return "-".join([first.lower(), *(p.upper() if len(p) == 2 else p.title() if len(p) == 4
                                      else p.lower() for p in rest)])


class LetterAssetFetcher(URLFetcher):
    """A WeasyPrint fetcher that serves ``data:`` URIs and files inside one folder only."""

    def __init__(self, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        # The parent only ever sees data: URLs; file: is served below, everything else refused.
        super().__init__(allowed_protocols=("data",), allow_redirects=False, **kwargs)
        self._root = root

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """Return the resource, or raise ``ValueError`` so WeasyPrint skips it."""
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return self._fetch_file(url)
        raise ValueError(f"Refused to fetch {url[:200]!r}: only letter assets are allowed.")

    def __call__(self, url: str, timeout: int = 10, ssl_context: Any = None) -> Any:
        """Fetch ``url``; the timeout and SSL arguments exist for old callers only."""
        return self.fetch(url)

    def _fetch_file(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"Refused to fetch {url[:200]!r}: remote file URL.")
        root = os.path.realpath(self._root if self._root is not None else LETTERS_DIR)
        path = os.path.realpath(url2pathname(parts.path))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            raise ValueError(f"Refused to fetch {url[:200]!r}: not a letter asset.")
        if os.path.getsize(path) > MAX_ASSET_BYTES:
            raise ValueError(f"Refused to fetch {url[:200]!r}: the file is too large.")
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return URLFetcherResponse(
            Path(path).as_uri(), Path(path).read_bytes(), {"Content-Type": mime})


url_fetcher = LetterAssetFetcher()
