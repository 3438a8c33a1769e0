"""One check for an email address setting, shared by the organization's and a position's."""

from __future__ import annotations

from typing import Any

from ..errors import RecruiterError
from .mail import valid_address


def check_address(value: Any, label: str, *, required: bool = False) -> str:
    """The address as typed (stripped), "" when empty and allowed, or a RecruiterError.

    Every message names ``label`` ("reply-to address"), so the page can show it beside the
    field and the command line and the API say which value was refused.
    """
    value = str(value or "").strip()
    if not value:
        if required:
            raise RecruiterError(f"The {label} is required: letters cannot be sent without it.")
        return value
    if len(value) > 320:
        raise RecruiterError(f"The {label} is longer than 320 characters.")
    try:
        valid_address(value, label)
    except RecruiterError as exc:
        message = str(exc)
        reason = (message.partition(" is not valid: ")[2]
                  or "it " + message.removeprefix(f"The {label} ").rstrip("."))
        raise RecruiterError(f"The {label} {value!r} is not a valid address: "
                             f"{reason.rstrip('.')}.") from exc
    return value  # as typed: the page has always kept it so; sending normalizes it


def check_position_reply_to(value: Any) -> str:
    """A position's own Reply-To, checked as the organization's is; "" means the organization's."""
    return check_address(value, "position's reply-to address")
