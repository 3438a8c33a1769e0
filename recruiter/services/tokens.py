"""API tokens: made once and shown once, kept as SHA-256, revoked for good, audit-logged.

A token is ``rct_`` and 43 URL-safe characters: 256 random bits, so a plain SHA-256 is a safe
way to keep it (a slow password hash guards guessable secrets; this one cannot be guessed).
Its first characters stay readable as the prefix, to tell tokens apart in a list.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import TOKEN_SCOPES, ApiToken, Member, Organization
from . import audit
from .text import check_single_line

PREFIX = "rct_"
SHOWN = 12  # characters of a token that lists show


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, org: Organization, name: str, scope: str, *,
                 by: Member | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never stored and cannot be shown again."""
    name = check_single_line((name or "").strip(), "token name")
    if not name or len(name) > 100:
        raise RecruiterError("Give the token a name of 1 to 100 characters, such as the system "
                             "that will use it.")
    if scope not in TOKEN_SCOPES:
        raise RecruiterError(f"The scope must be one of {', '.join(TOKEN_SCOPES)}, not {scope!r}.")
    secret = PREFIX + secrets.token_urlsafe(32)
    # The member the token acts as: what it does is audited under its own name.
    member = Member(organization_id=org.id, kind="token", name=f"API token “{name}”",
                    email=f"token-{secrets.token_hex(8)}@api.invalid",
                    role="manager" if scope == "write" else "auditor", password_hash="!")
    token = ApiToken(organization_id=org.id, name=name, scope=scope, prefix=secret[:SHOWN],
                     secret_sha256=_sha(secret), created_by_id=by.id if by else None,
                     member=member)
    session.add(token)
    session.flush()
    audit.record(session, org.id, "token.created", actor=by, subject=token,
                 payload={"scope": scope})
    return token, secret


def tokens_of(session: Session, org: Organization) -> list[ApiToken]:
    """The organization's tokens, newest first, revoked ones included."""
    return list(session.scalars(select(ApiToken).where(ApiToken.organization_id == org.id)
                                .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, org: Organization, which: str, *,
                 by: Member | None = None) -> ApiToken:
    """Revoke the organization's token with this id or prefix; it never works again."""
    which = (which or "").strip()
    found = [t for t in tokens_of(session, org) if str(t.id) == which or t.prefix == which]
    if len(found) != 1:
        raise RecruiterError(f"No token of {org.name} has the id or prefix {which!r}; "
                             "`recruiter tokens list` shows them.")
    token = found[0]
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        if token.member is not None:
            token.member.active = False
        session.flush()
        audit.record(session, org.id, "token.revoked", actor=by, subject=token)
    return token


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """The live token with this secret, its use recorded; None for any other string."""
    if not secret.startswith(PREFIX):
        return None
    wanted = _sha(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.secret_sha256 == wanted))
    # The lookup is by hash, so its timing says nothing about the secret; compared again in
    # constant time all the same.
    if token is None or token.revoked_at is not None or not hmac.compare_digest(
            token.secret_sha256, wanted):
        return None
    token.last_used_at = datetime.now(UTC)
    return token
