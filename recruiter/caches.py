"""The per-process caches the browser's pages and the API share, kept on the app.

Each is a ``services.versions.VersionedCache``: a value per position under the versions it was
made from, so a change anywhere is a miss on the next read, in every process.
"""

from __future__ import annotations

from flask import current_app

from .services.position_index import PositionIndex
from .services.review import ReviewCache
from .services.versions import VersionedCache


def review_cache() -> ReviewCache:
    """The letter reviews of positions (services/review.py)."""
    return current_app.extensions.setdefault("recruiter.review", ReviewCache())


def index_cache() -> VersionedCache[PositionIndex]:
    """The name order and note counts of positions (services/position_index.py)."""
    return current_app.extensions.setdefault("recruiter.position_index", VersionedCache())

