"""The start page and the health probe."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response:
    """Send members to their positions and everyone else to sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("positions.index"))
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def health() -> dict[str, str]:
    """A liveness probe for load balancers."""
    return {"status": "ok"}
