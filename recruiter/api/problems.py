"""Problems: every error of the API as an RFC 9457 ``application/problem+json`` document.

``errors[]`` names each field to blame (``applications[17].email``) and where it was sent
(``body``, ``query`` or ``header``); ``detail`` repeats the first few, for a person reading a log.
"""

from __future__ import annotations

import json

from flask import Response
from pydantic import BaseModel, ValidationError

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class ApiError(Exception):
    """A problem to answer with; ``field`` names what the client should change."""

    def __init__(self, status: int, title: str, detail: str, *, field: str | None = None,
                 location: str = "body", headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers
        self.errors = [{"field": field, "in": location, "detail": detail}] if field else None


def problem(status: int, title: str, detail: str, *, errors: list[dict] | None = None,
            **headers: str) -> Response:
    """An RFC 9457 problem document as a response."""
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        document["errors"] = errors
    response = Response(json.dumps(document), status=status, mimetype=PROBLEM)
    response.headers.update(headers)
    return response


def _field(location: tuple) -> str:
    """('applications', 3, 'email') -> 'applications[3].email'."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def invalid(exc: ValidationError, where: str) -> ApiError:
    """A 422 naming every field pydantic refused."""
    errors = []
    for error in exc.errors(include_url=False):
        location = tuple(p for p in error["loc"] if p not in ("function-after",))
        if error["type"] == "json_invalid":
            errors.append({"field": "body", "in": where,
                           "detail": "The body is not valid JSON."})
            continue
        errors.append({"field": _field(location), "in": where, "detail": error["msg"]})
    detail = "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:5])
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more (see errors)"
    error = ApiError(422, "Unprocessable Content", detail)
    error.errors = errors
    return error
