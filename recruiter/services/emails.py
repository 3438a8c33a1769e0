"""Normalising candidate email addresses as ``validate_email`` does, faster for a whole file.

validate_email spends most of its time on the domain (IDNA), and a file has few domains. An
address whose part before the @ is plain ASCII gets its domain checked once per file; every
other address, and every address with a problem, goes through validate_email whole, so the
result and the message are always validate_email's own.
"""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

try:
    from email_validator.rfc_constants import (
        CASE_INSENSITIVE_MAILBOX_NAMES,
        DOT_ATOM_TEXT,
        EMAIL_MAX_LENGTH,
        LOCAL_PART_MAX_LENGTH,
    )
except ImportError:  # a future email_validator: every address takes the whole check
    DOT_ATOM_TEXT = None


@lru_cache(maxsize=1024)
def _domain(domain: str) -> tuple[str, str] | None:
    """(domain, ASCII domain) as validate_email normalises them, or None when invalid."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def normalize_email(address: str) -> str:
    """``validate_email(address, check_deliverability=False).normalized``, checked faster."""
    local, at, domain = address.rpartition("@")
    if (DOT_ATOM_TEXT is not None and at and DOT_ATOM_TEXT.match(local)
            and len(local) <= LOCAL_PART_MAX_LENGTH
            and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES):
        domains = _domain(domain)
        if domains is not None:
            normalized = f"{local}@{domains[0]}"
            if max(len(text.encode()) for text in (address, normalized,
                                                   f"{local}@{domains[1]}")) <= EMAIL_MAX_LENGTH:
                return normalized
    return validate_email(address, check_deliverability=False).normalized
