"""Friendly error pages."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from ..errors import NotFound


def register(app: Flask) -> None:
    """Render HTTP errors and NotFound with the site's layout."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        return render_template("errors/error.html", error=exc), exc.code

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):  # noqa: ANN202
        return render_template("errors/error.html", error=None), 404
