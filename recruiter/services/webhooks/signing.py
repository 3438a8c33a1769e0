"""Signing webhook requests the Standard Webhooks way (https://www.standardwebhooks.com).

Three headers: ``webhook-id`` (the event's id, the same on every retry, for de-duplication),
``webhook-timestamp`` (unix seconds) and ``webhook-signature``, ``v1,`` and the base64
HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the secret's bytes. Receivers can use any
Standard Webhooks library, or ``verify`` below (the README shows the same few lines).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
TOLERANCE = 300  # seconds a timestamp may be off, either way, against replays


class SignatureError(ValueError):
    """A request whose signature, timestamp or headers do not check out."""


def new_secret() -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of 24 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key the HMAC uses: the base64 after the ``whsec_`` prefix, decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one request."""
    message = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, event_id: str, body: bytes, now: float | None = None
            ) -> dict[str, str]:
    """The three signature headers for one request, timestamped ``now``."""
    timestamp = int(time.time() if now is None else now)
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, event_id, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes,
           tolerance: int = TOLERANCE, now: float | None = None) -> str:
    """Check a received request; returns its webhook-id, or raises SignatureError.

    ``headers`` may be any case-insensitive mapping (or a plain dict in lower case).
    """
    try:
        event_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise SignatureError("missing or malformed webhook-id, -timestamp or -signature") \
            from exc
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("the timestamp is too far from now")
    expected = sign(secret, event_id, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signatures):
        raise SignatureError("no signature matches")
    return event_id
