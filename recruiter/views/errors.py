"""Friendly error pages."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import NotFound

API = "/api/v1"


def register(app: Flask) -> None:
    """Render HTTP errors and NotFound with the site's layout."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        if request.path == API or request.path.startswith(API + "/"):
            # Also for what never reached the API's blueprint (a wrong method or address).
            from ..api.core import problem

            return problem(exc.code or 500, exc.name, exc.description or exc.name)
        if exc.code == 403:  # says which role may, when known, and nothing of the server
            return render_template("errors/403.html", error=exc), 403
        return render_template("errors/error.html", error=exc), exc.code

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):  # noqa: ANN202
        return render_template("errors/error.html", error=None), 404
