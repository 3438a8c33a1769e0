"""One rule for single-line text (names, titles, addresses, subjects) wherever it enters.

A line break in a name becomes a second header line in an email; a control character or a
bidirectional override (U+202E turns "Maya" into "ayaM" on screen while the bytes stay the
same) makes what a person reads differ from what is stored and sent. Forms, the CSV import and
the command line all ask ``single_line_problem``.
"""

from __future__ import annotations

import re

from ..errors import RecruiterError

# Line breaks of every kind, the other C0 and C1 controls (a tab is allowed and folded), and
# the bidirectional embeddings, overrides and isolates. Right-to-left names need none of
# these: the plain marks U+200E and U+200F stay allowed.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_UNSAFE = re.compile("[" + _LINE_BREAKS + "\x00-\x08\x0e-\x1b\x1f\x7f\x80-\x84\x86-\x9f"
                     "\u202a-\u202e\u2066-\u2069]")
_BREAK = re.compile("[" + _LINE_BREAKS + "]")


def single_line_problem(value: str | None) -> str | None:
    """Why this text cannot be a single-line value, as the end of a sentence; None when fine."""
    if not value:
        return None
    found = _UNSAFE.search(value)
    if found is None:
        return None
    if _BREAK.match(found.group()):
        return "contains a line break; it must fit on one line"
    if "\u202a" <= found.group() <= "\u202e" or "\u2066" <= found.group() <= "\u2069":
        return (f"contains the invisible direction control U+{ord(found.group()):04X}, which "
                "would show the text differently from what is sent")
    return f"contains the control character U+{ord(found.group()):04X}, which is not allowed"


def check_single_line(value: str, field: str) -> str:
    """The value, or a RecruiterError naming the field."""
    problem = single_line_problem(value)
    if problem:
        raise RecruiterError(f"The {field} {problem}.")
    return value
