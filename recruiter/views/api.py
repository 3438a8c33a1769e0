"""The JSON API, version 1 (begun): a token of the organization in, JSON out.

Only ``Authorization: Bearer`` authenticates here; a session cookie does not, and CSRF does not
apply. Errors are RFC 9457 ``application/problem+json``. Each token has its own rate limit.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from ..extensions import csrf, db, limiter
from ..models import Organization
from ..services.tokens import authenticate

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
READS = ("GET", "HEAD", "OPTIONS")
RATE = "600 per minute"


def _token_key() -> str:
    """The rate limit's key: the token presented (hashed), not the address it came from."""
    return "api:" + hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()


limiter.limit(RATE, key_func=_token_key)(bp)


def problem(status: int, title: str, detail: str, **headers: str) -> Response:
    """An RFC 9457 problem document."""
    response = jsonify({"type": "about:blank", "title": title, "status": status,
                        "detail": detail})
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers)
    return response


@bp.before_app_request
def _authenticate() -> Response | None:
    """Every request under /api/v1, whether or not an endpoint answers it, shows its token."""
    if not (request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/")):
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = authenticate(db.session, secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        db.session.rollback()
        return problem(401, "Unauthorized", "Send `Authorization: Bearer TOKEN` with a live "
                       "token of your organization (`recruiter tokens create`).",
                       **{"WWW-Authenticate": 'Bearer realm="recruiter"'})
    db.session.commit()  # when it was last used
    g.api_token = token
    if request.method not in READS and token.scope != "write":
        return problem(403, "Forbidden", "This token may only read; make a write token for "
                       "changes.")
    return None


@bp.get("/organization")
def organization() -> Response:
    """The token's organization: its name, sender and rules."""
    org = db.session.get(Organization, g.api_token.organization_id)
    body: dict[str, Any] = {
        "id": str(org.id), "name": org.name, "address": org.address.splitlines(),
        "sender_name": org.sender_name, "sender_title": org.sender_title,
        "sender_email": org.sender_email, "timezone": org.timezone, "locale": org.locale,
        "send_rate_per_minute": org.send_rate_per_minute,
        "retention_months": org.retention_months,
        "created_at": org.created_at.isoformat().replace("+00:00", "Z"),
    }
    return jsonify(body)
