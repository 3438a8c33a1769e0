"""Letter checks: find what would hurt the candidate or the employer before a letter is sent.

Every check works on rendered text and returns :class:`Finding` objects with the exact span
they refer to, so the review page can highlight it. Risky wording comes from the word lists in
``letters/checks/<language>.toml``; the rest (notes, duplicates, the hire, retention, colder
letters, unfilled fields) is logic here.

Speed: a batch's letters share most of their paragraphs (the boilerplate), so wording is
checked once per distinct paragraph and cached; near-duplicate notes are found through an
inverted index of word pairs rather than by comparing every pair of notes.
"""

from __future__ import annotations

import json
import re
import statistics
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from ..errors import RecruiterError
from ..paths import LETTERS_DIR

CHECKS_DIR = LETTERS_DIR / "checks"

# The ⟦field⟧ mark that preview rendering leaves for an unfilled merge field, and the
# placeholders people leave behind when they copy a letter by hand.
UNFILLED_FIELD_RE = re.compile(r"\u27e6([^\u27e7]{0,80})\u27e7")
PLACEHOLDER_RE = re.compile(
    r"\[(?:candidate|first|last|full|applicant|your|company|position|role|job)?[ _]?"
    r"(?:name|first name|last name|title|company|position|role|date)\]"
    r"|<(?:first|last|full|candidate)[ _]?name>|\{\{[^}]{0,80}\}\}|\bXXX+\b|\bTBD\b",
    re.IGNORECASE)

SHORT_NOTE_WORDS = 6
LONG_NOTE_WORDS = 150
COLDER_RATIO = 0.5       # a personal paragraph under half of the batch median is colder
COLDER_MIN_MEDIAN = 12   # ...when the median note is a real paragraph
COLDER_MIN_LETTERS = 5
NEAR_DUPLICATE = 0.7     # Jaccard similarity of word pairs
COMMON_PAIR_LIMIT = 200  # word pairs in more notes than this say nothing about duplicates
SHORTEST_NEAR_DUPLICATE = 5  # words; shorter notes are compared only exactly

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_GREETING_RE = re.compile(r"^\s*(?:dear|hi|hello)\s+([^\W\d_]+)", re.IGNORECASE | re.MULTILINE)
_HONORIFIC_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s+[A-Z][\w'-]+")
_PRONOUN_RE = re.compile(r"\b(?:he|she|him|her|his|hers|himself|herself)\b", re.IGNORECASE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18,
                 "twenty-four": 24, "thirty-six": 36, "a": 1, "an": 1}
_DURATION_RE = re.compile(
    r"\b(\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) +
    r")[\s-]+(month|months|year|years)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer should look at, with the span of letter text it refers to."""

    check: str
    severity: str  # "error" blocks approval; "warning" needs an acknowledgement
    message: str
    start: int | None = None
    end: int | None = None
    category: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI and the browser use."""
        return {"id": self.check, "severity": self.severity, "start": self.start,
                "end": self.end, "message": self.message, "category": self.category}

    def shifted(self, offset: int) -> Finding:
        """The same finding with its span moved by ``offset`` characters."""
        if self.start is None or self.end is None:
            return self
        return Finding(self.check, self.severity, self.message, self.start + offset,
                       self.end + offset, self.category)


@dataclass(frozen=True)
class LetterUnderCheck:
    """A rendered letter and the note that went into it."""

    key: Hashable
    text: str
    note: str
    candidate_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchFacts:
    """What the checks need to know about the position and the organization."""

    differentiator: str = ""
    hire_names: tuple[str, ...] = ()
    hire_email: str | None = None
    retention_months: int | None = None
    language: str = "en"


# -- word lists ----------------------------------------------------------------------------


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


# -- text checks ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _wording(text: str, lists: WordLists, original: str) -> list[Finding]:
    """Risky words and phrases in lower-cased ``text``, except inside innocent phrases."""
    found: list[tuple[int, int, _Category]] = []
    for category in lists.categories:
        if category.terms is None:
            continue
        allowed: list[tuple[int, int]] | None = None
        for match in category.terms.finditer(text):
            start, end = match.span()
            if allowed is None:  # most paragraphs match nothing: look for allowances lazily
                allowed = ([m.span() for m in category.allow.finditer(text)]
                           if category.allow is not None else [])
            if any(a <= start and end <= b for a, b in allowed):
                continue
            found.append((start, end, category))
    # Where matches overlap, the longest (then the earlier category) is the one reported.
    found.sort(key=lambda item: (-(item[1] - item[0]), item[2].rank))
    kept: list[tuple[int, int, _Category]] = []
    for start, end, category in found:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, category))
    kept.sort(key=lambda item: item[0])
    return [Finding(c.check, c.severity, f"“{original[s:e]}”: {c.explanation}", s, e, c.name)
            for s, e, c in kept]


def _months(sentence: str) -> int | None:
    """The longest duration a sentence names, in months."""
    longest = None
    for number, unit in _DURATION_RE.findall(sentence):
        n = int(number) if number.isdigit() else _NUMBER_WORDS[number.lower()]
        months = n * 12 if unit.lower().startswith("year") else n
        longest = max(longest or 0, months)
    return longest


def _retention(text: str, lists: WordLists, retention_months: int | None) -> list[Finding]:
    """Promises to keep the candidate's data that the retention setting contradicts."""
    rules = lists.retention
    if rules is None or retention_months is None:
        return []
    found: list[Finding] = []
    if rules.promises.search(text) is None:  # the usual case: one search per paragraph
        return found
    for sentence in _SENTENCE_RE.finditer(text):
        words = sentence.group()
        promise = rules.promises.search(words)
        if promise is None or rules.deletion.search(words):
            continue
        months = _months(words)
        if months is not None and months <= retention_months:
            continue
        start = sentence.start() + promise.start()
        found.append(Finding(rules.check, rules.severity,
                             rules.explanation.format(months=retention_months), start,
                             sentence.start() + promise.end(), "retention_promise"))
    return found


def _unfilled(text: str) -> list[Finding]:
    found = [Finding("unfilled-field", "error",
                     f"The merge field “{m.group(1)}” has no value for this letter. Fill it "
                     "in, or change the boilerplate.", m.start(), m.end(), "unfilled")
             for m in UNFILLED_FIELD_RE.finditer(text)]
    found += [Finding("placeholder", "error",
                      f"“{m.group()}” looks like a placeholder that was never filled in.",
                      m.start(), m.end(), "unfilled")
              for m in PLACEHOLDER_RE.finditer(text)]
    return found


@lru_cache(maxsize=8192)
def _paragraph(paragraph: str, language: str, retention_months: int | None
               ) -> tuple[Finding, ...]:
    # Cached: the boilerplate's paragraphs repeat in every letter of a batch.
    lists, lowered = word_lists(language), _lowered(paragraph)
    return tuple(_wording(lowered, lists, paragraph)
                 + _retention(lowered, lists, retention_months) + _unfilled(paragraph))


def _paragraphs(text: str) -> Iterable[tuple[int, str]]:
    start = 0
    for match in re.finditer(r"\n\s*\n", text):
        yield start, text[start:match.start()]
        start = match.end()
    yield start, text[start:]


_NAMELESS = frozenset({"retention-promise", "unfilled-field", "placeholder"})


def _ignored(text: str, names: Iterable[str]) -> frozenset[str]:
    """Names never reported as risky words: the candidate's, and whoever the greeting names."""
    parts = {_fold(p) for name in names for p in _WORD_RE.findall(name or "")}
    parts |= {_fold(m.group(1)) for m in _GREETING_RE.finditer(text)}
    return frozenset(parts)


def check_text(text: str, *, language: str = "en", ignore_names: Iterable[str] = (),
               retention_months: int | None = None) -> list[Finding]:
    """Risky wording, retention promises and unfilled fields in any text."""
    ignore = _ignored(text, ignore_names)
    found: list[Finding] = []
    for offset, paragraph in _paragraphs(text):
        if paragraph.strip():
            found += [f.shifted(offset) for f in _paragraph(paragraph, language,
                                                            retention_months)
                      if f.check in _NAMELESS or _fold(paragraph[f.start:f.end]) not in ignore]
    return found


# -- differentiator ------------------------------------------------------------------------


def check_differentiator(text: str, facts: BatchFacts) -> list[Finding]:
    """The differentiator must be job-related, never personal, never name the hire."""
    text = text or ""
    if not text.strip():
        return [Finding("differentiator-missing", "warning",
                        "There is no differentiator yet. One job-related sentence on what set "
                        "the hire apart makes every letter more honest and more useful.",
                        category="differentiator")]
    found: list[Finding] = []
    for f in check_text(text, language=facts.language):
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


# -- batch checks --------------------------------------------------------------------------


def _note_span(text: str, note: str) -> tuple[int | None, int | None]:
    note = note.strip()
    if not note:
        return None, None
    at = text.find(note)
    if at < 0:
        first_line = note.splitlines()[0]
        at = text.find(first_line)
        return (at, at + len(first_line)) if at >= 0 else (None, None)
    return at, at + len(note)


def _note_findings(letter: LetterUnderCheck) -> list[Finding]:
    words = len(_WORD_RE.findall(letter.note or ""))
    start, end = _note_span(letter.text, letter.note or "")
    if words == 0:
        return [Finding("empty-note", "warning",
                        "No note was written for this candidate, so the letter has no personal "
                        "paragraph. Write a sentence on what was good in their application, "
                        "or acknowledge that it goes without one.",
                        category="note")]
    if words < SHORT_NOTE_WORDS:
        return [Finding("short-note", "warning",
                        f"The note is {words} word{'s' if words != 1 else ''} long: too short "
                        "to feel personal. Name something specific from the application.",
                        start, end, "note")]
    if words > LONG_NOTE_WORDS:
        return [Finding("long-note", "warning",
                        f"The note is {words} words long. A personal paragraph of two or three "
                        "sentences reads as warmer than a long assessment.", start, end,
                        "note")]
    return []


def _normalised(note: str, names: Sequence[str]) -> tuple[str, ...]:
    """The note's words, lower-cased, with the candidate's own names made anonymous."""
    own = {_fold(p) for n in names for p in _WORD_RE.findall(n or "")}
    return tuple("\u2400" if w in own else w for w in map(_fold, _WORD_RE.findall(note)))


def _duplicate_groups(letters: Sequence[LetterUnderCheck]) -> dict[Hashable, list[int]]:
    """For each letter, the indexes of the other letters whose note is the same or nearly."""
    exact: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, letter in enumerate(letters):
        words = _normalised(letter.note or "", letter.candidate_names)
        if words:
            exact[words].append(index)
    variants = list(exact)
    parent = list(range(len(variants)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Each note meets only the earlier notes it shares a word pair with, through an index
    # that grows as we go; pairs that many notes share say nothing and are skipped.
    pairs = [frozenset(zip(words, words[1:], strict=False)) for words in variants]
    sizes = [len(grams) for grams in pairs]
    postings: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, grams in enumerate(pairs):
        if len(variants[i]) < SHORTEST_NEAR_DUPLICATE:
            continue
        shared: Counter[int] = Counter()
        for gram in grams:
            others = postings[gram]
            if len(others) <= COMMON_PAIR_LIMIT:
                shared.update(others)
            others.append(i)
        # Jaccard c / (a + b - c) >= t, without a division per candidate.
        size, t = len(grams), NEAR_DUPLICATE
        for j in [j for j, c in shared.items() if c * (1 + t) >= t * (size + sizes[j])]:
            parent[root(j)] = root(i)
    members: dict[int, list[int]] = defaultdict(list)
    for i, words in enumerate(variants):
        members[root(i)].extend(exact[words])
    groups: dict[Hashable, list[int]] = {}
    for indexes in members.values():
        if len(indexes) > 1:
            for index in indexes:
                groups[letters[index].key] = [j for j in indexes if j != index]
    return groups


def _duplicate_finding(letter: LetterUnderCheck, others: list[LetterUnderCheck]) -> Finding:
    start, end = _note_span(letter.text, letter.note)
    names = [" ".join(n for n in o.candidate_names if n) for o in others[:3]]
    example = ", ".join(n for n in names if n)
    more = f" ({example}{', …' if len(others) > 3 else ''})" if example else ""
    count = len(others)
    return Finding("duplicate-note", "warning",
                   f"The same or a near-identical note is also used for {count} "
                   f"other{'s' if count != 1 else ''}{more}. Each candidate should read "
                   "something written about their own application.", start, end, "note")


def _colder(letters: Sequence[LetterUnderCheck]) -> dict[Hashable, Finding]:
    lengths = {letter.key: len(_WORD_RE.findall(letter.note or "")) for letter in letters}
    written = [n for n in lengths.values() if n]
    if len(written) < COLDER_MIN_LETTERS:
        return {}
    median = statistics.median(written)
    if median < COLDER_MIN_MEDIAN:
        return {}
    found = {}
    for letter in letters:
        words = lengths[letter.key]
        if 0 < words < median * COLDER_RATIO:
            start, end = _note_span(letter.text, letter.note)
            found[letter.key] = Finding(
                "colder-letter", "warning",
                f"This personal paragraph has {words} words; most in this batch have about "
                f"{median:g}. Side by side, this letter reads colder than the others.",
                start, end, "note")
    return found


def check_batch(letters: Sequence[LetterUnderCheck], facts: BatchFacts
                ) -> dict[Hashable, list[Finding]]:
    """Every check on every letter of one position; every key is present in the result."""
    duplicates = _duplicate_groups(letters)
    colder = _colder(letters)
    result: dict[Hashable, list[Finding]] = {}
    for letter in letters:
        found = check_text(letter.text, language=facts.language,
                           ignore_names=letter.candidate_names,
                           retention_months=facts.retention_months)
        found += _note_findings(letter)
        if letter.key in duplicates:
            found.append(_duplicate_finding(letter, [letters[i] for i in duplicates[letter.key]]))
        if letter.key in colder and not any(f.check == "short-note" for f in found):
            found.append(colder[letter.key])
        found += _hire_mentions(letter.text, facts, "hire-named", "this letter",
                                own_names=letter.candidate_names)
        result[letter.key] = sorted(found, key=lambda f: (f.start is None, f.start or 0))
    return result


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding blocks approval."""
    return any(f.severity == "error" for f in findings)


def findings_to_json(findings: Iterable[Finding]) -> str:
    """Findings as a JSON list of {id, severity, start, end, message, category}."""
    return json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False)

