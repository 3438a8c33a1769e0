"""WeasyPrint's user-agent stylesheet without 21 rules that letters never use.

WeasyPrint styles, for every page, the 16 page-margin boxes, and for every element, five
footnote and note pseudo-elements. A letter uses one margin box (whose alignment
letterhead.css sets itself) and no footnote or note (the sanitiser lets no style through), yet
computing those styles was about 9% of a letter's CPU time.

Relies on (WeasyPrint 70.0, the pinned ``>=70,<71``; no public API replaces the UA sheet):

- ``HTML._ua_stylesheets()``, the private hook WeasyPrint's cascade asks for the UA sheets
  (WeasyPrint's own tests override it);
- ``weasyprint.html.UA`` (the sheet's source), ``UA_STYLESHEET`` (the parsed sheet the hook
  returns) and ``UA_COUNTER_STYLE``;
- the source holding exactly ``UNUSED_RULE_COUNT`` rules that ``UNUSED_RULES`` matches.

If WeasyPrint changes any of these, ``trimmed_stylesheet()`` returns None and ``LetterHTML``
keeps the stock stylesheet: letters stay correct, about 9% slower, and
``tests/test_adapters.py`` fails to say so. With ``enabled = False`` it is plain ``HTML``.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

from weasyprint import CSS, HTML
from weasyprint import html as _weasyprint_html

CHECKED_VERSION = "70.0"
enabled = True

UNUSED_RULES = re.compile(
    r"^  @(?:top|bottom|left|right)-[a-z-]+ +\{[^}]*\}\n|^::(?:footnote|note)-[a-z]+ \{[^}]*\}\n",
    re.MULTILINE)
UNUSED_RULE_COUNT = 21


@cache
def trimmed_stylesheet() -> CSS | None:
    """WeasyPrint's user-agent stylesheet without those rules, or None if it has changed."""
    source = getattr(_weasyprint_html, "UA", None)
    counter_style = getattr(_weasyprint_html, "UA_COUNTER_STYLE", None)
    if not isinstance(source, str) or counter_style is None:
        return None
    trimmed, count = UNUSED_RULES.subn("", source)
    if count != UNUSED_RULE_COUNT:
        return None  # another WeasyPrint: keep its stylesheet whole rather than guess
    # Parsed as an author sheet, WeasyPrint's own source warns that it redefines the
    # predefined counter styles "disc" and "decimal" (they stay defined: PDFs are identical).
    # Its warnings about its own stylesheet are kept out of the log.
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return CSS(string=trimmed, counter_style=counter_style)
    finally:
        logger.setLevel(level)


class LetterHTML(HTML):
    """A WeasyPrint document with the trimmed user-agent stylesheet, when there is one."""

    def _ua_stylesheets(self, *args: Any, **kwargs: Any) -> list[CSS]:
        sheets = super()._ua_stylesheets(*args, **kwargs)
        trimmed = trimmed_stylesheet()
        stock = getattr(_weasyprint_html, "UA_STYLESHEET", None)
        if trimmed is None or stock is None:
            return sheets
        return [trimmed if sheet is stock else sheet for sheet in sheets]


def document(**kwargs: Any) -> HTML:
    """``HTML(**kwargs)``, with the trimmed user-agent stylesheet unless ``enabled`` is off."""
    return LetterHTML(**kwargs) if enabled else HTML(**kwargs)


def warm_up() -> None:
    """Parse the trimmed stylesheet now (once per process) rather than in the first letter."""
    if enabled:
        trimmed_stylesheet()
