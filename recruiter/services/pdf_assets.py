"""What WeasyPrint may fetch for a letter: ``data:`` URIs and the letter assets, nothing else."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint.urls import URLFetcher, URLFetcherResponse

from recruiter.paths import LETTERS_DIR

MAX_ASSET_BYTES = 10 * 1024 * 1024


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
