"""Languages: the codes candidates, boilerplate versions and letters carry, and their names.

A language is stored as given ("fr", "fr-CA", "pt_BR") and compared by its primary subtag,
lower-cased ("fr"). recruiter ships its letters and word lists in ``SHIPPED``.
"""

from __future__ import annotations

import re

from babel import Locale, UnknownLocaleError

from ..models import Organization, Position

SHIPPED = ("en", "fr", "es", "de")


def primary(code: str | None) -> str:
    """The primary subtag, lower-cased: "fr-CA" and "fr_ca" are "fr"; empty is ""."""
    return (code or "").strip().replace("_", "-").split("-")[0].lower()


def org_language(org: Organization) -> str:
    """The organization's own language: its locale's primary subtag, "en" when it has none."""
    return primary(org.locale) or "en"


def letter_locale(language: str, org: Organization) -> str:
    """The Babel locale a letter in ``language`` writes its date and numbers in.

    The organization's region goes with the language when Babel knows the pair (a French
    letter from an en_CA organization is dated as fr_CA writes dates), else the language.
    """
    language = primary(language) or org_language(org)
    region = (org.locale or "").replace("-", "_").partition("_")[2]
    for candidate in (f"{language}_{region}" if region else "", language):
        if candidate:
            try:
                Locale.parse(candidate)
            except (UnknownLocaleError, ValueError):
                continue
            return candidate
    return "en"


def display_name(code: str, in_language: str = "en") -> str:
    """The language's name as a person reads it ("French"; in French, "français")."""
    try:
        name = Locale.parse(primary(code) or "en").get_display_name(primary(in_language) or "en")
    except (UnknownLocaleError, ValueError):
        return code
    return name or code


def normalise(code: str | None) -> str:
    """A language cell as stored: trimmed, "FR" is "fr", "fr_ca" is "fr-CA"; empty is ""."""
    parts = (code or "").strip().replace("_", "-").split("-")
    if not parts[0]:
        return ""
    rest = [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower()
            for p in parts[1:]]
    return "-".join([parts[0].lower(), *rest])


def same(a: str | None, b: str | None) -> bool:
    """Whether two codes name one language (their primary subtags match)."""
    return primary(a) == primary(b)


# French spacing: a narrow no-break space before ; ! ? and a no-break space before : and
# inside « ». A URL (scheme://, www.), a time (10:30) or a ratio keeps its colon; a space that
# is already there becomes the right one, and text that is already right stays as it is.
_NNBSP, _NBSP = "\u202f", "\u00a0"
_URL_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S+", re.IGNORECASE)
_TIGHT_RE = re.compile(r"(?<=\S)[ \u00a0\u202f]*([;!?])")
_COLON_RE = re.compile(r"(?<=\S)[ \u00a0\u202f]*:(?!\d)|(?<=[^\s\d])[ \u00a0\u202f]*:(?=\d)")
_OPEN_RE = re.compile(r"«[ \u00a0\u202f]*")
_CLOSE_RE = re.compile(r"[ \u00a0\u202f]*»")


def _french(text: str) -> str:
    text = _TIGHT_RE.sub(lambda m: _NNBSP + m.group(1), text)
    # "!?" or "?!" keep one space before the pair, none inside it.
    text = re.sub(f"([;!?]){_NNBSP}(?=[;!?])", r"\1", text)
    text = _COLON_RE.sub(_NBSP + ":", text)
    text = _OPEN_RE.sub("«" + _NBSP, text)
    return _CLOSE_RE.sub(_NBSP + "»", text)


def typography(text: str, language: str | None) -> str:
    """Candidate-facing text with the punctuation spacing of ``language`` (French only)."""
    if primary(language) != "fr" or not text:
        return text
    out, at = [], 0
    for url in _URL_RE.finditer(text):
        out.append(_french(text[at:url.start()]))
        out.append(url.group())
        at = url.end()
    out.append(_french(text[at:]))
    return "".join(out)


def _in(own: str, translations: dict | None, language: str | None, org: Organization) -> str:
    if primary(language) in ("", org_language(org)):
        return own or ""
    for code, text in (translations or {}).items():
        if primary(code) == primary(language):
            return str(text or "").strip()
    return ""


def differentiator_in(position: Position, language: str | None, org: Organization) -> str:
    """The position's differentiator in ``language`` ("" when it has none in it).

    In the organization's language it is ``differentiator``; else its translation.
    """
    return _in(position.differentiator, position.differentiator_in, language, org)


def sender_title_in(org: Organization, language: str | None) -> str:
    """The sender's title in ``language``: as in ``differentiator_in``."""
    return _in(org.sender_title, org.sender_title_in, language, org)


def missing_translations(position: Position, language: str | None,
                         org: Organization) -> list[str]:
    """What a letter in ``language`` lacks that the organization's language has.

    "differentiator" and "sender title", in that order.
    """
    missing = []
    if (position.differentiator or "").strip() and not differentiator_in(position, language,
                                                                         org):
        missing.append("differentiator")
    if (org.sender_title or "").strip() and not sender_title_in(org, language):
        missing.append("sender title")
    return missing
