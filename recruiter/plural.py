"""Count and noun agree: "1 letter", "2 letters", for templates and flashed messages.

Babel's ``NullTranslations.ngettext`` chooses the form (English has one singular, 1, and one
plural form for every other count, 0 included); a catalogue can take its place should the
interface ever be translated. Flask-Babel is not used: this is all it would do here.
"""

from __future__ import annotations

from babel.support import NullTranslations

_TRANSLATIONS = NullTranslations()


def plural(count: int, singular: str, plural_form: str, *, with_count: bool = True) -> str:
    """``"1 letter"`` or ``"2 letters"``; with ``with_count=False`` only the word ("has")."""
    word = _TRANSLATIONS.ngettext(singular, plural_form, int(count))
    return f"{count} {word}" if with_count else word
