"""Splitting one full-name cell into the first and last name a letter greets and sorts by.

``nameparser`` does the work: family-name particles (van der, de la, bin, ibn), O' and Mc,
titles (Dr., Prof.), suffixes (Jr., III), nicknames in quotes and the "Last, First" form.
Our rules on top of it:

- The first name is every given name: nameparser's first *and* middle names. "María José de
  la Cruz" is greeted "Dear María José," (a Spanish compound given name), and "Mary Ann Smith"
  "Dear Mary Ann,". A middle name that is not part of the greeting is the rarer case, so such
  rows are flagged for a look in the import preview, where the greeting can be corrected.
- Titles are dropped: "Dr. Amina Yusuf" is Amina Yusuf. The letter is personal, not formal.
- Suffixes are not part of the last name (the sort key). A candidate has no column for them,
  so they are dropped too; the preview flags the row.
- Names written in Chinese, Japanese or Korean script are kept whole as the last name (the
  family name comes first, often without a space, so any split would be a guess); with no
  first name the letter greets the full name.
- One word is a first name ("Madonna"), as before.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nameparser import HumanName
from nameparser.config import Constants

# Our own copy of nameparser's word lists, never its shared module-wide one: nameparser knows
# the family-name particles bin and ibn only in Latin letters.
CONSTANTS = Constants()
CONSTANTS.prefixes.add("بن", "بنت", "ابن")

_CJK = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


@dataclass(frozen=True)
class SplitName:
    """A full name split for storage; ``check`` says why a person should look at it."""

    first_name: str
    last_name: str
    check: str = ""


def _is_cjk(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(_CJK) for ch in text if ch.isalpha())


def _is_latin(text: str) -> bool:
    return all(unicodedata.name(ch, "").startswith("LATIN") for ch in text if ch.isalpha())


def _plain_word(word: str) -> bool:
    """A word nameparser would read as itself: no title, suffix, particle or conjunction."""
    lower = word.lower()
    return (word.replace("-", "").replace("'", "").isalpha() and _is_latin(word)
            and not any(lower in words for words in _SPECIAL))


_SPECIAL = (CONSTANTS.titles, CONSTANTS.suffix_acronyms, CONSTANTS.suffix_not_acronyms,
            CONSTANTS.prefixes, CONSTANTS.conjunctions)


def split_full_name(full: str) -> SplitName:
    """(first, last) of one full-name cell, and a reason to check it when the split guessed."""
    full = " ".join(full.split())
    if not full:
        return SplitName("", "")
    if _is_cjk(full):
        return SplitName("", full, "kept whole: the letter greets the full name")
    words = full.split(" ")
    # "Maya Chen", most of any file, needs no parser: nameparser costs ~0.2 ms a name, which
    # is a second per 5,000 rows, and the preview parses the file on every update.
    if len(words) == 2 and all(map(_plain_word, words)):
        return SplitName(words[0], words[1])
    parsed = HumanName(full, constants=CONSTANTS)
    first = " ".join(p for p in (parsed.first, parsed.middle) if p)
    last = parsed.last
    if not first and not last:  # only a title or a suffix: keep what was written
        return SplitName(full, "", "no first or last name was recognised")
    reasons = []
    if parsed.title:
        reasons.append(f"title \u201c{parsed.title}\u201d left out")
    if parsed.suffix:
        reasons.append(f"suffix \u201c{parsed.suffix}\u201d left out")
    if parsed.middle:
        reasons.append("several given names")
    if parsed.nickname:
        reasons.append(f"nickname \u201c{parsed.nickname}\u201d")
    if not last:
        reasons.append("a single name")
    if not _is_latin(full):
        reasons.append("not in Latin script")
    return SplitName(first, last, "; ".join(reasons))


def greeting_name(salutation: str, first_name: str, last_name: str) -> str:
    """What follows "Dear": the salutation, else the first name, else the full name."""
    if salutation:
        return salutation
    return first_name or " ".join(p for p in (first_name, last_name) if p)


# Letters NFKD leaves whole: spelled out so that "Øst" and "Łukasz" keep their first letter.
_SPELLED = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
                          "Ø": "O", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L",
                          "þ": "th", "Þ": "TH", "ı": "i", "ħ": "h", "Ħ": "H"})


def name_slug(*names: str, ascii_only: bool = True) -> str:
    """Names as one lower-case file-name part: ``Lefèbvre``, ``Zoé`` → ``lefebvre-zoe``.

    With ``ascii_only=False`` the letters stay as written (``lefèbvre-zoé``), for the UTF-8
    file name of a download. Empty when the names hold no letter or digit at all.
    """
    text = unicodedata.normalize("NFKC", " ".join(names)).casefold()
    if ascii_only:
        text = unicodedata.normalize("NFKD", text.translate(_SPELLED))
        text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[\W_]+", "-", text).strip("-")
