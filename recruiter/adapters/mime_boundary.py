"""A MIME boundary chosen when the message is built, as the email generator would choose it.

Left to itself, ``email.generator`` picks a multipart's boundary when it writes the message,
and checks it against the message's text with a regular expression compiled for that one
boundary. A batch chooses the boundary up front instead (``EmailMessage.make_alternative
(boundary=...)``) and checks it with a substring test, which is stricter: a boundary absent
from the text can be in no encoded part (quoted-printable writes "=" as "=3D" and base64 has
no "=" inside).

Relies on ``email.generator.Generator._make_boundary()``, a private classmethod that takes
no argument (or ``text=None``) and returns ``"=" * 15 + 19 digits + "=="``. Checked against
CPython 3.11 and 3.12 (pyproject's ``requires-python = ">=3.11"``). If a Python release
removes it or changes its signature, ``choose()`` returns None and the generator picks the
boundary when writing, the public path: the same message, only slower, and
``tests/test_adapters.py`` fails to say so. With ``enabled = False`` it always returns None.
"""

from __future__ import annotations

from email.generator import Generator

CHECKED_VERSIONS = "CPython 3.11, 3.12"
enabled = True


def choose(*texts: str) -> str | None:
    """A boundary found in none of ``texts``, or None to let the generator pick it."""
    make = getattr(Generator, "_make_boundary", None)
    if not enabled or make is None:
        return None
    while True:
        try:
            boundary = make()
        except TypeError:  # its signature changed
            return None
        if not isinstance(boundary, str):
            return None
        if not any(boundary in text for text in texts):
            return boundary
