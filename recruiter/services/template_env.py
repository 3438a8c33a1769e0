"""The Jinja sandboxes letters render in: one per mode (send or preview) and value escaping.

Send mode refuses an unfilled field; preview marks it ⟦so⟧. Only an allow-list of filters and
tests exists, with the limits of ``sandbox.py`` on top, and values headed for Markdown are
escaped so candidate text stays literal text.
"""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal
from functools import cache
from typing import Any

from babel.numbers import format_decimal
from jinja2 import ChainableUndefined, StrictUndefined, UndefinedError
from jinja2.sandbox import SecurityError

from .empty_fields import Empty, default_filter, keeps_empty
from .sandbox import LimitedSandbox, capped_replace, check_output, limited_join, safe_range

MISSING_MARK = "\u27e6{}\u27e7"  # ⟦name⟧, found again by checks.UNFILLED_FIELD_RE


class _PreviewUndefined(ChainableUndefined):
    """Renders a missing field as a visible ⟦marker⟧ instead of failing."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:  # never soften a sandbox refusal
            self._fail_with_undefined_error()
        if (self._undefined_name or "").startswith("_"):  # no merge field looks like this
            raise SecurityError(f"{self._undefined_name!r} is not a merge field")
        return MISSING_MARK.format(self._undefined_name or "?")

    __html__ = __str__

    def __getattr__(self, name: str) -> _PreviewUndefined:
        if name.startswith("_"):
            raise SecurityError(f"{name!r} is not a merge field")
        return self

    __getitem__ = __getattr__


def _finalize(preview: bool, md: bool):  # noqa: ANN202
    def finalize(value: Any) -> Any:
        if type(value) is Empty:
            if not preview:
                raise UndefinedError(f"{value.field} is empty for this candidate")
            return MISSING_MARK.format(value.field)
        check_output(value)
        return _md_escape(value) if md else value
    return finalize


_MD_SPECIAL = {ord(c): "\\" + c for c in "\\`*_{}[]()<>#+-.!|~&"}


def _md_escape(value: Any) -> Any:
    """Escape Markdown syntax in a value so candidate text stays literal text."""
    if isinstance(value, str):
        return value.translate(_MD_SPECIAL)
    return value


# The Babel locale of the letter being rendered, for ``|number`` (rendering.py sets it around
# each letter): the environments are shared by every letter, whatever its language.
NUMBER_LOCALE: ContextVar[str] = ContextVar("letter_number_locale", default="en")


def number_filter(value: Any) -> Any:
    """``{{ applicant_count | number }}``: a number as the letter's language writes it."""
    if type(value) is Empty or isinstance(value, bool) \
            or not isinstance(value, int | float | Decimal):
        return value
    return format_decimal(value, locale=NUMBER_LOCALE.get())


_FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default", "d", "join", "length",
            "count", "first", "last", "round", "int", "string", "truncate", "wordcount", "abs",
            "list", "sort", "unique", "reverse")


@cache
def _environment(mode: str) -> LimitedSandbox:
    """One sandbox per mode ("send", "preview") and value escaping ("md", "text")."""
    preview, md = mode.split("-")
    env = LimitedSandbox(
        undefined=_PreviewUndefined if preview == "preview" else StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize(preview == "preview", md == "md"),
    )
    env.filters = {name: env.filters[name] for name in _FILTERS}
    env.filters["replace"] = capped_replace
    env.filters["join"] = limited_join(env.filters["join"])
    for name in ("upper", "lower", "title", "capitalize", "trim", "string", "truncate",
                 "replace"):
        env.filters[name] = keeps_empty(env.filters[name])
    env.filters["default"] = env.filters["d"] = default_filter
    env.filters["number"] = number_filter
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number",
                                                     "string", "even", "odd", "eq", "ne")}
    env.globals = {"range": safe_range}
    return env
