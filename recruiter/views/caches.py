"""The per-process caches the pages share, kept on the app (services/versions.py)."""

from __future__ import annotations

from flask import current_app

from ..services.position_index import PositionIndex
from ..services.versions import VersionedCache


def index_cache() -> VersionedCache[PositionIndex]:
    """The name order and note counts of positions (services/position_index.py)."""
    return current_app.extensions.setdefault("recruiter.position_index", VersionedCache())
