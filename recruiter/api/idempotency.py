"""``Idempotency-Key`` on POST: the same key and body get the first answer, never a second act.

The first answer is kept in the same transaction as the work it reports, so a repeat sees
either nothing (and acts) or the finished answer. Two requests racing with one key meet at the
unique constraint: the loser is told to retry and then gets the winner's answer. Answers are
kept per token; a key reused with another body or path is refused (422), as is an answer that
was an error (only successes are kept, so a corrected request can be sent with the same key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Response, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import IdempotentRequest
from .problems import ApiError

HEADER = "Idempotency-Key"
MAX_KEY = 255


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def replay_or_run(run: Callable[[], Response]) -> Response:
    """Answer a repeated key from what was kept; otherwise run and keep a successful answer."""
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(422, "Unprocessable Content", f"{HEADER}: 1 to {MAX_KEY} printable "
                       "characters.", field=HEADER, location="header")
    token_id = g.api_token.id
    fingerprint = _fingerprint()
    kept = db.session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.token_id == token_id, IdempotentRequest.key == key))
    if kept is not None:
        if kept.request_sha256 != fingerprint:
            raise ApiError(422, "Unprocessable Content", f"This {HEADER} was used for another "
                           "request; use a new key for a new request.", field=HEADER,
                           location="header")
        response = Response(kept.body, status=kept.status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        if kept.location:
            response.headers["Location"] = kept.location
        return response
    response = run()
    if response.status_code < 300 and response.mimetype == "application/json":
        db.session.add(IdempotentRequest(token_id=token_id, key=key, request_sha256=fingerprint,
                                         status=response.status_code,
                                         body=response.get_data(as_text=True),
                                         location=response.headers.get("Location")))
        try:
            db.session.flush()
        except IntegrityError:
            raise ApiError(409, "Conflict", f"Another request with this {HEADER} is under way; "
                           "retry it in a moment for its answer.",
                           headers={"Retry-After": "1"}) from None
    return response
