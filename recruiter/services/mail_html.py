"""The HTML part of a letter's email: a whole document, in the letter's language, light only.

``lang`` is the letter's locale as a BCP 47 tag (``en_CA`` is written ``en-CA``), so screen
readers and hyphenation use the letter's language. The letter is declared light only
(``color-scheme`` and ``supported-color-schemes``) and says its background and text colours on
the body and on the letter's container, so a client in dark mode neither inverts it into
dark-on-dark nor leaves dark text on its own dark background.
"""

from __future__ import annotations

import re
from html import escape

BACKGROUND = "#ffffff"
FOREGROUND = "#1f2933"  # the letter's text colour since the first HTML email
_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
_COLOURS = f"background-color: {BACKGROUND}; color: {FOREGROUND};"


def bcp47(locale: str | None) -> str:
    """A Babel/POSIX locale as a BCP 47 language tag: ``en_CA`` → ``en-CA``; else ``en``."""
    tag = (locale or "").strip().replace("_", "-").partition(".")[0].partition("@")[0]
    if not _TAG.fullmatch(tag):
        return "en"
    language, *rest = tag.split("-")
    return "-".join([language.lower()] + [p.upper() if len(p) == 2 else p for p in rest])


def html_document(subject: str, body_html: str, language: str | None) -> str:
    """The letter's HTML body as a whole document, in ``language`` (a locale or BCP 47 tag)."""
    return (
        f"<!doctype html><html lang=\"{bcp47(language)}\" style=\"{_COLOURS}\"><head>"
        "<meta charset=\"utf-8\">"
        "<meta name=\"color-scheme\" content=\"light\">"
        "<meta name=\"supported-color-schemes\" content=\"light\">"
        f"<style>:root {{ color-scheme: light; }} body {{ {_COLOURS} }}</style>"
        f"<title>{escape(subject)}</title></head>"
        f"<body bgcolor=\"{BACKGROUND}\" style=\"{_COLOURS} margin: 0; padding: 0;\">"
        f"<div style=\"{_COLOURS} font-family: Georgia, 'Times New Roman', serif; "
        "font-size: 16px; line-height: 1.5; max-width: 38em; margin: 0 auto; padding: 1em;\">"
        f"{body_html}</div></body></html>"
    )
