"""Languages: the codes candidates, boilerplate versions and letters carry, and their names.

A language is stored as given ("fr", "fr-CA", "pt_BR") and compared by its primary subtag,
lower-cased ("fr"). recruiter ships its letters and word lists in ``SHIPPED``.
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from ..models import Organization

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
