"""Who may do what: login and role checks shared by every blueprint."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask_login import current_user, login_required
from werkzeug.exceptions import Forbidden

F = TypeVar("F", bound=Callable[..., Any])

# Who may take each action, as the 403 page says it ("This page is for admins.").
WHO_MAY = {"admin": "admins", "edit": "managers and admins",
           "audit": "auditors and admins", "read": "members"}


class RoleRequired(Forbidden):
    """A 403 that knows which action was needed, so the page can say who may do it."""

    description = "Your role does not allow this."

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action

    @property
    def needed(self) -> str | None:
        """The roles that may, in words ("managers and admins"), when known."""
        return WHO_MAY.get(self.action)


def requires(action: str) -> Callable[[F], F]:
    """Log in first, then allow only members whose role permits ``action``."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.can(action):
                raise RoleRequired(action)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def org_id() -> int:
    """The signed-in member's organization; every query is scoped to it."""
    return int(current_user.organization_id)
