"""The word lists: ``letters/checks/<language>.toml`` compiled into regular expressions."""

from __future__ import annotations

import re
import tomllib
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
    """One language's compiled word lists."""

    language: str
    categories: tuple[_Category, ...]
    retention: _Retention | None = field(default=None)


def _term_pattern(term: str) -> str:
    """Turn one word-list entry into a regular expression (see the file's header)."""
    if term.startswith("re:"):
        return f"(?:{term[3:]})"
    words = []
    for word in term.lower().split():
        prefix = word.endswith("*")
        pieces = [re.escape(piece).replace("'", "['’]") for piece in word.rstrip("*").split("-")]
        words.append(r"[\s-]?".join(pieces) + (r"[\w'’-]*" if prefix else ""))
    return r"[\s-]+".join(words)


def _alternation(entries: Iterable[str]) -> re.Pattern[str] | None:
    # Longest entries first, so "native speaker" wins over "native" at the same place.
    parts = sorted({_term_pattern(e) for e in entries if e.strip()}, key=len, reverse=True)
    if not parts:
        return None
    # Case-sensitive over lower-cased text: re then skips, at each position, every branch
    # whose first letter differs, which IGNORECASE would prevent. Ten times faster.
    return re.compile(r"(?<![\w'’-])(?:" + "|".join(parts) + r")(?!\w)")


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


@cache
def word_lists(language: str = "en") -> WordLists:
    """Load and compile ``letters/checks/<language>.toml``, falling back to English."""
    path = CHECKS_DIR / f"{language}.toml"
    if not path.is_file():
        path = CHECKS_DIR / "en.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RecruiterError(f"Cannot read the word list {path.name}: {exc}") from exc
    categories = []
    for rank, (name, spec) in enumerate(data.get("categories", {}).items()):
        where = f"{path.name} [categories.{name}]"
        try:
            categories.append(_Category(
                name=name, label=spec.get("label", name.replace("_", " ")),
                check=spec.get("check", "risky-wording"),
                severity=_severity(spec.get("severity", "warning"), where),
                explanation=spec["explanation"], terms=_alternation(spec.get("terms", [])),
                allow=_alternation(spec.get("allow", [])), rank=rank))
        except (KeyError, re.error) as exc:
            raise RecruiterError(f"{where}: {exc}") from exc
    retention = None
    if spec := data.get("retention"):
        retention = _Retention(
            check=spec.get("check", "retention-promise"),
            severity=_severity(spec.get("severity", "error"), f"{path.name} [retention]"),
            explanation=spec["explanation"],
            promises=re.compile("|".join(map(_term_pattern, spec["promises"]))),
            deletion=re.compile("|".join(map(_term_pattern, spec["deletion"]))))
    return WordLists(data.get("language", language), tuple(categories), retention)
