"""The word lists: ``letters/checks/<language>.toml`` compiled into regular expressions."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from ...errors import RecruiterError
from ...paths import LETTERS_DIR

CHECKS_DIR = LETTERS_DIR / "checks"


@dataclass(frozen=True)
class _Category:
    name: str
    label: str
    check: str
    severity: str
    explanation: str
    terms: re.Pattern[str] | None
    allow: re.Pattern[str] | None
    rank: int  # earlier categories win when two matches cover the same words


@dataclass(frozen=True)
class _Retention:
    check: str
    severity: str
    explanation: str
    promises: re.Pattern[str]
    deletion: re.Pattern[str]


@dataclass(frozen=True)
class WordLists:
    """One language's compiled word lists.

    ``hire`` holds the ``[hire.<category>]`` sections: wording that, in the differentiator,
    hints at a protected characteristic of the person hired ("a recent graduate").
    """

    language: str
    categories: tuple[_Category, ...]
    retention: _Retention | None = field(default=None)
    hire: tuple[_Category, ...] = ()


def primary_language(language: str | None) -> str:
    """The primary subtag of a language tag, lower-cased: "fr-CA" and "fr_CA" give "fr"."""
    return (language or "en").replace("_", "-").split("-")[0].strip().lower() or "en"


def _letter(char: str) -> str:
    """An accented letter also matches its plain form ("é" matches "e"): people type fast.

    "ß" also matches "ss", as Swiss German writes it.
    """
    if char == "ß":
        return "(?:ß|ss)"
    base = unicodedata.normalize("NFD", char)[0]
    if base != char and base.isascii() and base.isalpha():
        return f"[{char}{base}]"
    return re.escape(char)


def _term_pattern(term: str) -> str:
    """Turn one word-list entry into a regular expression (see the file's header)."""
    if term.startswith("re:"):
        return f"(?:{term[3:]})"
    words = []
    for word in term.lower().split():
        prefix = word.endswith("*")
        pieces = ["".join("['’]" if c in "'’" else _letter(c) for c in piece)
                  for piece in word.rstrip("*").split("-")]
        words.append(r"[\s-]?".join(pieces) + (r"[\w'’-]*" if prefix else ""))
    return r"[\s-]+".join(words)


# Where a word may start. With elision (French), also right after "l'", "d'", "qu'"...:
# "l'âge" and "d'origine" contain the words "âge" and "origine".
_START = r"(?<![\w'’-])"
_START_ELIDED = r"(?:(?<![\w'’-])|(?<=\b[cdjlmnst]['’])|(?<=\bqu['’]))"


def _alternation(entries: Iterable[str], elision: bool = False) -> re.Pattern[str] | None:
    # Longest entries first, so "native speaker" wins over "native" at the same place.
    parts = sorted({_term_pattern(e) for e in entries if e.strip()}, key=len, reverse=True)
    if not parts:
        return None
    # Case-sensitive over lower-cased text: re then skips, at each position, every branch
    # whose first letter differs, which IGNORECASE would prevent. Ten times faster.
    start = _START_ELIDED if elision else _START
    return re.compile(start + r"(?:" + "|".join(parts) + r")(?!\w)")


def _lowered(text: str) -> str:
    """``text`` in lower case, with every character at the same index as before."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _severity(value: str, where: str) -> str:
    if value not in ("error", "warning"):
        raise RecruiterError(f"{where}: severity must be 'error' or 'warning', not {value!r}.")
    return value


def word_lists(language: str = "en") -> WordLists:
    """Load and compile ``letters/checks/<language>.toml``, falling back to English.

    Only the primary subtag counts: "fr-CA" reads ``fr.toml``.
    """
    return _word_lists(primary_language(language))


def _compile(spec: dict, name: str, rank: int, where: str, elision: bool) -> _Category:
    try:
        return _Category(
            name=name, label=spec.get("label", name.replace("_", " ")),
            check=spec.get("check", "risky-wording"),
            severity=_severity(spec.get("severity", "warning"), where),
            explanation=spec["explanation"],
            terms=_alternation(spec.get("terms", []), elision),
            allow=_alternation(spec.get("allow", []), elision), rank=rank)
    except (KeyError, re.error) as exc:
        raise RecruiterError(f"{where}: {exc}") from exc


@cache
def _word_lists(language: str) -> WordLists:
    path = CHECKS_DIR / f"{language}.toml"
    if not language.isalpha() or not path.is_file():
        path = CHECKS_DIR / "en.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RecruiterError(f"Cannot read the word list {path.name}: {exc}") from exc
    elision = bool(data.get("elision", False))
    categories = [_compile(spec, name, rank, f"{path.name} [categories.{name}]", elision)
                  for rank, (name, spec) in enumerate(data.get("categories", {}).items())]
    hire = []
    if hire_spec := data.get("hire"):
        shared = {k: v for k, v in hire_spec.items() if not isinstance(v, dict)}
        for rank, (name, spec) in enumerate(
                (k, v) for k, v in hire_spec.items() if isinstance(v, dict)):
            merged = {"check": "differentiator-hire-characteristic", "severity": "error",
                      **shared, **spec}
            merged.setdefault("label", data.get("categories", {}).get(name, {}).get(
                "label", name.replace("_", " ")))
            merged["explanation"] = merged["explanation"].replace("{label}", merged["label"])
            hire.append(_compile(merged, name, rank, f"{path.name} [hire.{name}]", elision))
    retention = None
    if spec := data.get("retention"):
        retention = _Retention(
            check=spec.get("check", "retention-promise"),
            severity=_severity(spec.get("severity", "error"), f"{path.name} [retention]"),
            explanation=spec["explanation"],
            promises=re.compile("|".join(map(_term_pattern, spec["promises"]))),
            deletion=re.compile("|".join(map(_term_pattern, spec["deletion"]))))
    return WordLists(data.get("language", language), tuple(categories), retention, tuple(hire))


word_lists.cache_clear = _word_lists.cache_clear  # type: ignore[attr-defined]
