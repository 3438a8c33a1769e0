"""The door of /api/v1: a live token of the organization, its scope, and its rate limit.

Only ``Authorization: Bearer`` authenticates here (and HTTP Basic with the token as the
password on the paths in ``BASIC``, for relays that can only put credentials in a URL); a
session cookie does not, and CSRF does not apply. Each token has its own rate limit. The
OpenAPI document is open to all: it describes the API and holds nothing of any organization.
"""

from __future__ import annotations

import hashlib

from flask import Response, g, request

from ..extensions import db, limiter
from ..services.tokens import authenticate
from .core import OPERATIONS, bp, problem

READS = ("GET", "HEAD", "OPTIONS")
RATE = "600 per minute"
PUBLIC = (f"{bp.url_prefix}/openapi.json", f"{bp.url_prefix}/reference")
BASIC: set[str] = set()  # paths that also take HTTP Basic, the token as password (bounces.py)


def _token_key() -> str:
    """The rate limit's key: the token presented (hashed), not the address it came from."""
    return "api:" + hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()


limiter.limit(RATE, key_func=_token_key, exempt_when=lambda: request.path in PUBLIC)(bp)


def _reads() -> bool:
    """The request changes nothing: a GET, or a POST its endpoint declares a read (an export)."""
    if request.method in READS:
        return True
    name = (request.endpoint or "").removeprefix(f"{bp.name}.")
    return any(op.reads and op.function.__name__ == name and op.method == request.method
               for op in OPERATIONS)


@bp.before_app_request
def _authenticate() -> Response | None:
    """Every request under /api/v1, whether or not an endpoint answers it, shows its token."""
    if not (request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/")):
        return None
    if request.path in PUBLIC:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    basic = request.path in BASIC  # relays that can only put credentials in the URL
    if basic and scheme.lower() == "basic":
        secret = request.authorization.password if request.authorization else ""
    elif scheme.lower() != "bearer":
        secret = ""
    token = authenticate(db.session, (secret or "").strip()) if secret else None
    if token is None:
        db.session.rollback()
        also = " (or HTTP Basic with the token as the password)" if basic else ""
        return problem(401, "Unauthorized", f"Send `Authorization: Bearer TOKEN`{also} with a "
                       "live token of your organization (`recruiter tokens create`).",
                       # Basic first where relays (SNS) answer a challenge with it
                       **{"WWW-Authenticate": ('Basic realm="recruiter", ' if basic else "")
                          + 'Bearer realm="recruiter"'})
    db.session.commit()  # when it was last used
    g.api_token = token
    if token.scope != "write" and not _reads():
        return problem(403, "Forbidden", "This token may only read; make a write token for "
                       "changes.")
    return None
