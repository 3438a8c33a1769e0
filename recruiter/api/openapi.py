"""The OpenAPI 3.1 document, made from the endpoints' own declarations, and its reference page.

pydantic writes JSON Schema 2020-12, which is OpenAPI 3.1's own schema dialect, so the models
that validate a request are the schemas the document shows: they cannot drift apart.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata
from typing import Any

from flask import Response, jsonify, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .core import HEADER_DOCS, OPERATIONS, Operation, bp
from .problems import PROBLEM, Problem

REF = "#/components/schemas/{model}"
PATH_ID = {"type": "string", "pattern": "^[1-9][0-9]{0,9}$"}
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
               400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               409: "Conflict", 412: "Precondition Failed", 415: "Unsupported Media Type",
               422: "Unprocessable Content", 428: "Precondition Required",
               429: "Too Many Requests"}
DESCRIPTION = """\
Everything a hiring manager does in recruiter, for an applicant tracking system.

* **Authentication**: `Authorization: Bearer TOKEN`, a token of one organization made by an
  admin (Settings, API tokens) or with `recruiter tokens create`. Read tokens may only GET.
  What a token does is audited under its name. `POST /bounces`, where mail relays post,
  also takes HTTP Basic with the token as the password (`https://bounces:TOKEN@host/...`).
* **Errors** are RFC 9457 `application/problem+json`; `errors[].field` names what to change.
* **Pagination**: lists take `limit` (1 to 500) and `cursor`, and answer `next_cursor`
  (null on the last page).
* **Retries**: every POST takes an `Idempotency-Key`; the same key and body get the first
  answer again (`Idempotent-Replayed: true`) and never act twice.
* **Formats**: ids are strings, times are UTC ISO 8601 with a `Z`.
"""

# Endpoints that read a body of someone else's design as it comes, not one model: the relays'
# bounce events (api/bounces.py). Their callers can only put credentials in a URL: Basic too.
RAW_BODIES: dict[str, dict[str, Any]] = {"receive_bounces": {
    "required": True,
    "description": "The relay's own webhook body, unchanged: Postmark's bounce webhook "
                   "(`RecordType`), SendGrid's Event Webhook (an array), Mailgun's webhook "
                   "(`event-data`), or an SNS message (`Type`, `TopicArn`; SNS sends it as "
                   "`text/plain`) carrying an Amazon SES notification, or with raw message "
                   "delivery the SES notification itself (`notificationType`).",
    "content": {media: {"schema": {"anyOf": [
        {"type": "object", "title": "Postmark, Mailgun, SNS or SES"},
        {"type": "array", "title": "SendGrid", "items": {"type": "object"}}]}}
        for media in ("application/json", "text/plain")}}}
BASIC_TOO = {"receive_bounces"}


def openapi_path(rule: str) -> tuple[str, list[str]]:
    """Flask's ``/positions/<int(...):position_id>`` as ``/positions/{position_id}``."""
    names: list[str] = []

    def swap(match: re.Match) -> str:
        names.append(match.group(1))
        return "{" + match.group(1) + "}"

    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", swap, rule), names


def _models() -> list[tuple[type[BaseModel], str]]:
    wanted: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for op in OPERATIONS:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        if op.response is not None:
            wanted[(op.response, "serialization")] = None
    return list(wanted)


def _parameters(op: Operation, path_names: list[str]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [{"name": name, "in": "path", "required": True,
                                     "schema": PATH_ID} for name in path_names]
    if op.query is not None:
        schema = op.query.model_json_schema()
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": name in required,
                           "description": prop.pop("description", ""), "schema": prop})
    for header in op.headers:
        params.append({"name": header, "in": "header", "required": False,
                       "description": HEADER_DOCS[header],
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    return params


def _problem(status: int) -> dict[str, Any]:
    return {"description": STATUS_TEXT.get(status, "Error"),
            "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}}}


def _operation(op: Operation, path_names: list[str], refs: dict) -> dict[str, Any]:
    doc = (op.function.__doc__ or "").strip()
    summary, _, description = doc.partition("\n")
    success: dict[str, Any] = {"description": STATUS_TEXT.get(op.status, "OK")}
    content: dict[str, Any] = {}
    if op.response is not None:
        content["application/json"] = {"schema": refs[(op.response, "serialization")]}
    for media, kind in op.media.items():
        content[media] = {"schema": {"type": "string", "contentMediaType": media,
                                     "description": kind}}
    if content:
        success["content"] = content
    statuses = {401, 429, *op.errors}
    if not op.reads:  # a read token may not
        statuses.add(403)
    if op.body is not None or op.query is not None or "Idempotency-Key" in op.headers:
        statuses.add(422)
    if op.body is not None:
        statuses.add(415)
    operation: dict[str, Any] = {
        "operationId": op.function.__name__, "tags": [op.tag], "summary": summary.strip(),
        "parameters": _parameters(op, path_names),
        "responses": {str(op.status): success,
                      **{str(code): _problem(code) for code in sorted(statuses)}},
    }
    if description.strip():
        operation["description"] = re.sub(r"\n\s+", "\n", description.strip())
    if op.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    if op.function.__name__ in RAW_BODIES:
        operation["requestBody"] = RAW_BODIES[op.function.__name__]
    if op.function.__name__ in BASIC_TOO:
        operation["security"] = [{"bearer": []}, {"basic": []}]
    return operation


@cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (made once per process: the code does not change)."""
    refs, defs = models_json_schema(_models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        path, names = openapi_path(bp.url_prefix + op.rule)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, names, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "recruiter API", "description": DESCRIPTION,
                 "version": f"1 (recruiter {metadata.version('recruiter')})"},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}),
                       "securitySchemes": {
                           "bearer": {"type": "http", "scheme": "bearer"},
                           "basic": {"type": "http", "scheme": "basic",
                                     "description": "Any user name; the token is the "
                                                    "password. Only where an endpoint "
                                                    "lists it."}}},
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The document itself: open to all, it holds nothing of any organization."""
    return jsonify(document())


@bp.get("/reference")
def reference() -> str:
    """The document as a page to read, made here: no script, nothing fetched from elsewhere."""
    return render_template("api/reference.html", doc=document(), markdown=_markdown)


def _markdown(text: str) -> Markup:
    """The document's own descriptions (our words, not a user's) as HTML."""
    return Markup(MarkdownIt("commonmark", {"html": False}).render(text))
