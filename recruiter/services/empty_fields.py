"""Empty merge fields: told apart from plain strings so that printing one can be caught.

A blank city printed as "your search in  goes well" is a broken letter, but a template that
tests the field first (``{% if candidate.city %}``, ``or``, ``| default``) is fine. So empty
values enter the template as :class:`Empty`, which behaves like "" everywhere except output,
where rendering's finalizer marks it ⟦candidate.city⟧ (preview) or refuses it (send).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2.filters import do_default


class Empty(str):
    """A merge field that is empty for this candidate.

    It is falsy and equal to "" in tests and comparisons, so ``{% if candidate.city %}`` and
    ``candidate.city or 'your area'`` guard it; printing it is what the finalizer catches.
    """

    field: str

    def __new__(cls, field: str) -> Empty:  # noqa: D102
        self = super().__new__(cls, "")
        self.field = field
        return self


def mark_empty(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The context dict with each empty string replaced by an :class:`Empty` of its name."""
    return {name: mark_empty(value, f"{prefix}{name}.") if isinstance(value, dict)
            else Empty(prefix + name) if value == "" else value
            for name, value in values.items()}


def keeps_empty(func):  # noqa: ANN001, ANN202
    """A string filter that hands an empty field on as it is, so printing still catches it."""
    at = 1 if hasattr(func, "jinja_pass_arg") else 0  # the environment comes first

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > at and type(args[at]) is Empty:
            return args[at]
        return func(*args, **kwargs)
    return wrapper


def default_filter(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """``default`` that also stands in for an empty field: ``{{ candidate.city | d('') }}``."""
    if type(value) is Empty:
        return default_value
    return do_default(value, default_value, boolean)
