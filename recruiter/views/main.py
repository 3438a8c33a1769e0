"""The home page."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    """The start page."""
    return render_template("main/index.html")


@bp.get("/healthz")
def health() -> dict[str, str]:
    """A liveness probe for load balancers."""
    return {"status": "ok"}
