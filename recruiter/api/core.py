"""The API's conventions in one place: endpoints declared with pydantic models, problems.

An endpoint is a plain function declared with :func:`endpoint`: the request's body, query and
headers are validated against pydantic models before it runs, it returns a model (or a
:class:`Reply`, or a finished response for files), and the same declaration feeds the OpenAPI
document (``openapi.py``). One request is one transaction: the wrapper commits after the
function returns and rolls back when it raises. Every error is RFC 9457
``application/problem+json``, naming the field when one is to blame.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any

from flask import Blueprint, Response, g, request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)
from werkzeug.routing import BaseConverter

from ..errors import Conflict, NotFound, RecruiterError
from ..extensions import csrf, db
from ..models import Application, Delivery, Letter, Position
from ..services.outcomes import OutcomeNeedsConfirmation
from ..services.text import check_single_line
from .idempotency import replay_or_run
from .problems import ApiError, invalid, problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
ID = "<api_id:{}>"


class IdConverter(BaseConverter):
    """An id in a path: 1 to 10 digits; one past the columns' range is 0, which no row has."""

    regex = r"[1-9][0-9]{0,9}"

    def to_python(self, value: str) -> int:  # noqa: D102
        number = int(value)
        return number if number <= 2**31 - 1 else 0

    def to_url(self, value: object) -> str:  # noqa: D102
        return str(value)


bp.record_once(lambda state: state.app.url_map.converters.setdefault("api_id", IdConverter))


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value: str) -> str:
    """Refuse what no column can keep: NUL and other control characters besides tab and LF."""
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise ValueError("must not contain control characters (line breaks are \\n)")
    return value


def _line(value: str) -> str:
    try:
        return check_single_line(value, "value")
    except RecruiterError as exc:
        raise ValueError(str(exc)) from None


Text = Annotated[str, AfterValidator(_text)]
Line = Annotated[str, AfterValidator(_line)]
Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str)]


class Model(BaseModel):
    """Request and response bodies: unknown fields are refused, so a typo is named."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Reply:
    """A model with a status and headers other than 200 and none."""

    body: BaseModel | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    """One endpoint as the OpenAPI document describes it."""

    method: str
    rule: str
    function: Callable
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    media: dict[str, str]  # other response media types, e.g. {"application/pdf": "binary"}
    headers: tuple[str, ...]  # request headers it reads, e.g. ("If-Match",)
    reads: bool  # changes nothing, though it is a POST: a read token may call it


OPERATIONS: list[Operation] = []
HEADER_DOCS = {
    "If-Match": "The ETag of the note as last read; a stale one is refused with 412.",
    "Idempotency-Key": "Any unique string up to 255 characters: the same key with the same "
                       "body returns the first answer instead of acting twice.",
}


# Every id in a path names a row of the token's organization: checked before anything else,
# so another organization's id is a 404 whatever the body, and no endpoint can forget it.
OWNED: dict[str, type] = {"position_id": Position, "application_id": Application,
                          "letter_id": Letter, "delivery_id": Delivery}


def _check_owned(path: dict[str, Any]) -> None:
    for name, value in path.items():
        row = db.session.get(OWNED[name], value)
        if row is None or row.organization_id != organization_id():
            raise NotFound(f"No such {name.removesuffix('_id')} in your organization.")


def _query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid(exc, "query") from None


def _body(model: type[BaseModel]) -> BaseModel:
    if not request.is_json:
        raise ApiError(415, "Unsupported Media Type",
                       "Send the body as JSON with `Content-Type: application/json`.")
    try:
        return model.model_validate_json(request.get_data() or b"null")
    except ValidationError as exc:
        raise invalid(exc, "body") from None


def answer(result: Any, status: int) -> Response:
    """The function's result as a response: a model, a Reply, or a response as it is."""
    if isinstance(result, Response):
        return result
    reply = result if isinstance(result, Reply) else Reply(result, status)
    if reply.body is None:
        response = Response(status=reply.status)
    else:
        response = Response(reply.body.model_dump_json(), status=reply.status,
                            mimetype="application/json")
    response.headers.update(reply.headers)
    return response


def endpoint(method: str, rule: str, *, tag: str, body: type[BaseModel] | None = None,
             query: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
             status: int = 200, errors: tuple[int, ...] = (404,),
             media: dict[str, str] | None = None, headers: tuple[str, ...] = (),
             reads: bool = False) -> Callable:
    """Declare an API endpoint: validated in, serialised out, one transaction, documented.

    ``reads``: a POST that changes nothing a read token may not see (an export asked for by
    POST so that it is recorded and never cached or prefetched).
    """
    if method == "POST":
        headers = (*headers, "Idempotency-Key")

    unowned = set(re.findall(r"<[^:<>]+:(\w+)>", rule)) - set(OWNED)
    assert not unowned, f"{rule}: add {unowned} to OWNED, so another organization's id is a 404"

    def decorate(function: Callable) -> Callable:
        @wraps(function)
        def view(**path: Any) -> Response:
            def run() -> Response:
                _check_owned(path)
                kwargs = dict(path)
                if query is not None:
                    kwargs["query"] = _query(query)
                if body is not None:
                    kwargs["body"] = _body(body)
                return answer(function(**kwargs), status)

            return replay_or_run(run) if method == "POST" else run()

        assert all(op.function.__name__ != function.__name__ for op in OPERATIONS), \
            f"two endpoints are named {function.__name__}: the name is the operationId"
        bp.add_url_rule(rule, endpoint=function.__name__, view_func=view, methods=[method])
        OPERATIONS.append(Operation(method, rule, function, tag, body, query, response, status,
                                    errors, media or {}, headers, reads or method == "GET"))
        return view
    return decorate


def handle(exc: Exception) -> Response:
    """The problem document for an error raised by an endpoint or a service under it."""
    db.session.rollback()
    if isinstance(exc, ApiError):
        return problem(exc.status, exc.title, exc.detail, errors=exc.errors,
                       **(exc.headers or {}))
    if isinstance(exc, NotFound):
        return problem(404, "Not Found", str(exc) or "No such object in your organization.")
    if isinstance(exc, OutcomeNeedsConfirmation):
        return problem(409, "Conflict", str(exc))
    if isinstance(exc, Conflict):
        return problem(409, "Conflict", str(exc))
    return problem(422, "Unprocessable Content", str(exc))


bp.register_error_handler(ApiError, handle)
bp.register_error_handler(RecruiterError, handle)


@bp.after_request
def _commit(response: Response) -> Response:
    """One request, one transaction: kept when the answer is a success."""
    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()
    return response


def actor():  # noqa: ANN201 - a Member; typed loosely to keep models out of this import
    """The member the request's token acts as."""
    return g.api_token.member


def organization_id() -> int:
    """The token's organization: the only one the request can see."""
    return g.api_token.organization_id


class Page(Model):
    """Keyset pagination: ``next_cursor`` is null on the last page."""

    next_cursor: str | None


class PageQuery(Model):
    """``limit`` rows after ``cursor`` (from the previous page's ``next_cursor``)."""

    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200)

    def after(self) -> int:
        """The key the page starts after (0 for the first page)."""
        if not self.cursor:
            return 0
        try:
            value = json.loads(base64.urlsafe_b64decode(self.cursor.encode() + b"=="))["after"]
            if isinstance(value, int) and value >= 0:
                return value
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
            pass
        raise ApiError(422, "Unprocessable Content", "cursor: not a cursor this API gave out.",
                       field="cursor", location="query")


def cursor_after(rows: list, limit: int, key: Callable[[Any], int]) -> str | None:
    """The cursor of the page after ``rows`` (fetched with limit + 1), or None when last."""
    if len(rows) <= limit:
        return None
    payload = json.dumps({"after": key(rows[limit - 1])}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")
