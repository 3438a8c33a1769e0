"""VERP: each email delivery's own envelope sender, so that its bounce names it.

When the organization has a bounce domain, a delivery leaves with the envelope sender
(SMTP ``MAIL FROM``, the bounce's ``To`` and the letter's ``Return-Path``)
``bounces+<token>@<bounce domain>``; the header ``From`` stays the organization's sender. The
token is 160 random bits, never derived from an id, so nobody can forge a bounce for a letter
they did not receive. It is lower-case base32 (``[a-z2-7]``, 32 characters): a receiving
server that changes the case of the local part still returns a token we can read.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..models import Delivery

TOKEN_BYTES = 20  # 160 bits
TOKEN_LENGTH = 32  # base32 characters for TOKEN_BYTES, no padding
PREFIX = "bounces"
_ADDRESS = re.compile(rf"\b{PREFIX}\+([a-z2-7]{{{TOKEN_LENGTH}}})@([a-z0-9.-]+)", re.I)


def new_token() -> str:
    """A fresh random token: 32 lower-case base32 characters."""
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()


def verp_address(token: str, bounce_domain: str) -> str:
    """The envelope sender of the delivery holding ``token``."""
    return f"{PREFIX}+{token}@{bounce_domain.strip().lower()}"


def token_in(text: str | None, bounce_domain: str | None = None) -> str | None:
    """The token of the first VERP address in ``text`` (at ``bounce_domain``, when given)."""
    for match in _ADDRESS.finditer(text or ""):
        domain = match.group(2).lower().rstrip(".")
        if not bounce_domain or domain == bounce_domain.strip().lower():
            return match.group(1).lower()
    return None


def give_tokens(session: Session, delivery_ids: Sequence[int]) -> dict[int, str]:
    """A new token for each of these deliveries, written (by id) in the caller's transaction.

    Called for claimed deliveries that have none yet, before the claim commits: a token is
    stored before the first attempt and kept for every later one.
    """
    tokens = {delivery_id: new_token() for delivery_id in delivery_ids}
    if tokens:
        session.execute(update(Delivery), [{"id": delivery_id, "bounce_token": token}
                                           for delivery_id, token in tokens.items()])
    return tokens
