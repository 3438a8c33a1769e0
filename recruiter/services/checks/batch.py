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
COLDER_LETTER_SHARE = 0.08  # ...or under this share of the whole letter's words: a
# form letter. The Vancouver demo's notes are 9-19% of their letters; one line is ~6%.
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
    """Personal paragraphs far shorter than the batch's, or a sliver of their own letter.

    Two comparisons, each named in the message with its figures: against the batch's median
    note (when the batch is big enough and its notes are real paragraphs), and against the
    rest of the letter (always: a few words in a long letter read as a form letter).
    """
    lengths = {letter.key: len(_WORD_RE.findall(letter.note or "")) for letter in letters}
    written = [n for n in lengths.values() if n]
    median = statistics.median(written) if len(written) >= COLDER_MIN_LETTERS else None
    if median is not None and median < COLDER_MIN_MEDIAN:
        median = None
    found = {}
    for letter in letters:
        words = lengths[letter.key]
        if not words:
            continue  # an empty note is its own check
        reasons = []
        if median is not None and words < median * COLDER_RATIO:
            reasons.append(f"This personal paragraph has {words} words; most in this batch "
                           f"have about {median:g}. Side by side, this letter reads colder "
                           "than the others.")
        total = len(_WORD_RE.findall(letter.text or ""))
        if total and words < total * COLDER_LETTER_SHARE:
            reasons.append(f"The personal paragraph is {words} word{'s' if words != 1 else ''} "
                           f"of a {total}-word letter ({words / total:.0%}, under "
                           f"{COLDER_LETTER_SHARE:.0%}): the letter reads as a form letter. "
                           "Say a little more about what was good in this application.")
        if reasons:
            start, end = _note_span(letter.text, letter.note)
            found[letter.key] = Finding("colder-letter", "warning", " ".join(reasons),
                                        start, end, "note")
    return found


def check_batch(letters: Sequence[LetterUnderCheck], facts: BatchFacts
                ) -> dict[Hashable, list[Finding]]:
    """Every check on every letter of one position; every key is present in the result."""
    duplicates = _duplicate_groups(letters)
    colder = _colder(letters)
    result: dict[Hashable, list[Finding]] = {}
    for letter in letters:
        found = check_text(letter.text, language=letter.language,
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
