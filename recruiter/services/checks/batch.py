"""Checks across one position's letters: notes, copied notes, colder letters, the hire."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

from .findings import BatchFacts, Finding, LetterUnderCheck
from .hire import _hire_mentions
from .text import _WORD_RE, _fold, check_text

SHORT_NOTE_WORDS = 6
LONG_NOTE_WORDS = 150
COLDER_RATIO = 0.5       # a personal paragraph under half of the batch median is colder
COLDER_MIN_MEDIAN = 12   # ...when the median note is a real paragraph
COLDER_MIN_LETTERS = 5
NEAR_DUPLICATE = 0.7     # Jaccard similarity of word pairs
COMMON_PAIR_LIMIT = 200  # word pairs in more notes than this say nothing about duplicates
SHORTEST_NEAR_DUPLICATE = 5  # words; shorter notes are compared only exactly


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
