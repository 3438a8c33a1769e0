"""Uploads kept between a preview and its confirmation: the CSV import and the ZIP of CVs.

One file per preview in the instance's ``imports`` folder, named by organization, position and
an unguessable token; previews nobody confirmed go after a day (here at the next upload, and
in the daily purge, services/retention.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import abort, current_app

from ..models import Position
from ..services.retention import PREVIEW_MAX_AGE

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def pending_upload(position: Position, token: str, suffix: str) -> Path:
    """Where the upload ``token`` of ``position`` waits (``suffix``: "csv" or "zip")."""
    if not _TOKEN.fullmatch(token):
        abort(400)
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(exist_ok=True)
    stale = time.time() - PREVIEW_MAX_AGE.total_seconds()
    for old in folder.glob(f"*.{suffix}"):  # previews nobody confirmed
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    return folder / f"{position.organization_id}-{position.id}-{token}.{suffix}"
