"""The differentiator's own rules, and where a text names the person who was hired."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .findings import BatchFacts, Finding
from .text import _WORD_RE, _fold, check_text
from .wordlists import _lowered, primary_language, word_lists

_HONORIFIC_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s+[A-Z][\w'-]+")
_PRONOUN_RE = re.compile(r"\b(?:he|she|him|her|his|hers|himself|herself)\b", re.IGNORECASE)


def _hire_characteristics(text: str, language: str) -> list[Finding]:
    """Wording that hints at a protected characteristic of the hire ("a recent graduate").

    From the ``[hire.<category>]`` sections of the language's word list.
    """
    lowered = _lowered(text)
    found: list[Finding] = []
    for category in word_lists(language).hire:
        if category.terms is None:
            continue
        allowed = ([m.span() for m in category.allow.finditer(lowered)]
                   if category.allow is not None else [])
        for m in category.terms.finditer(lowered):
            start, end = m.span()
            if any(a <= start and end <= b for a, b in allowed):
                continue
            if any(f.start is not None and f.end is not None and start < f.end
                   and f.start < end for f in found):
                continue
            found.append(Finding(category.check, category.severity,
                                 f"“{text[start:end]}”: {category.explanation}", start, end,
                                 category.name))
    return found


def check_differentiator(text: str, facts: BatchFacts, *, language: str | None = None
                         ) -> list[Finding]:
    """The differentiator must be job-related, never personal, never name the hire.

    ``language`` (a language tag; by default ``facts.language``) picks the word list, for
    the differentiator itself and for each of its translations.
    """
    text = text or ""
    language = primary_language(language or facts.language)
    if not text.strip():
        return [Finding("differentiator-missing", "warning",
                        "There is no differentiator yet. One job-related sentence on what set "
                        "the hire apart makes every letter more honest and more useful.",
                        category="differentiator")]
    found: list[Finding] = _hire_characteristics(text, language)
    for f in check_text(text, language=language):
        if any(h.start is not None and h.end is not None and f.start is not None
               and f.end is not None and f.start < h.end and h.start < f.end for h in found):
            continue  # "a recent graduate" is reported once, as a hint at the hire's age
        if f.check == "protected-characteristic":
            found.append(Finding("differentiator-personal", "error",
                                 f"The differentiator mentions {f.category.replace('_', ' ')} "
                                 f"(“{text[f.start:f.end]}”). Describe experience or skills "
                                 "the job needs, never a personal characteristic.",
                                 f.start, f.end, f.category))
        else:
            found.append(f)
    found += _hire_mentions(text, facts, "differentiator-names-hire", "the differentiator")
    for match in _HONORIFIC_RE.finditer(text):
        found.append(Finding("differentiator-names-person", "error",
                             f"“{match.group()}” names a person. Every declined candidate "
                             "reads this sentence: describe the experience, not the hire.",
                             match.start(), match.end(), "hire"))
    for match in _PRONOUN_RE.finditer(text):
        found.append(Finding("differentiator-person", "warning",
                             f"“{match.group()}” describes the hire as a person. Describe "
                             "the experience the role needed instead.",
                             match.start(), match.end(), "hire"))
    if len(_WORD_RE.findall(text)) > 40:
        found.append(Finding("differentiator-long", "warning",
                             "The differentiator is long. One clear phrase reads best inside "
                             "the letter's sentence.", category="differentiator"))
    return sorted(found, key=lambda f: (f.start is None, f.start or 0))


@lru_cache(maxsize=64)
def _hire_rules(hire_names: tuple[str, ...], hire_email: str | None, where: str
                ) -> tuple[tuple[re.Pattern[str], str, str, str, str], ...]:
    """Compiled patterns for the hire's email, full name and name parts, most specific first."""
    rules = []

    def rule(pattern: str, severity: str, message: str, needle: str, part: str = "",
             flags: int = re.IGNORECASE) -> None:
        # ``needle`` must occur in any text the pattern matches: a fast test before the regex.
        needle = needle.lower()
        rules.append((re.compile(rf"(?<![\w@.]){pattern}(?![\w@])", flags), severity,
                      message, _fold(part), needle))

    if hire_email:
        rule(re.escape(hire_email), "error",
             f"The hire's email address appears in {where}. Remove it: it identifies the hire.",
             hire_email)
    for name in hire_names:
        parts = _WORD_RE.findall(name or "")
        if len(parts) > 1:
            rule(r"[\s-]+".join(map(re.escape, parts)), "error",
                 f"The hire's name appears in {where}. Never name the person you hired.",
                 parts[-1])
        for index, part in enumerate(parts):
            if len(part) < 3:
                continue
            if index == len(parts) - 1 and len(parts) > 1:
                rule(re.escape(part), "error", f"The hire's surname appears in {where}. "
                     "Never name the person you hired.", part, part, flags=0)
            else:  # a name part counts only as a capitalised name
                rule(re.escape(part), "warning", f"“{part}” is part of the hire's name. If it "
                     "refers to the hire, remove it.", part, part, flags=0)
    return tuple(rules)


def _hire_mentions(text: str, facts: BatchFacts, check: str, where: str,
                   own_names: Iterable[str] = ()) -> list[Finding]:
    """The hire's email, full name, surname or first name inside ``text``."""
    own = {_fold(p) for n in own_names for p in _WORD_RE.findall(n or "")}
    found: list[Finding] = []
    lowered = text.lower()
    for pattern, severity, message, part, needle in _hire_rules(
            tuple(facts.hire_names), facts.hire_email, where):
        if (part and part in own) or needle not in lowered:
            continue  # Maya Ortiz's own letter may say "Maya" when Maya Chen was hired
        for m in pattern.finditer(text):
            if not any(f.start <= m.start() < f.end for f in found):
                found.append(Finding(check, severity, message, m.start(), m.end(), "hire"))
    return found
