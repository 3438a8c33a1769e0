"""Letter checks: find what would hurt the candidate or the employer before a letter is sent.

Every check works on rendered text and returns :class:`Finding` objects with the exact span
they refer to, so the review page can highlight it. Risky wording comes from the word lists in
``letters/checks/<language>.toml``; the rest (notes, duplicates, the hire, retention, colder
letters, unfilled fields) is logic here.

Speed: a batch's letters share most of their paragraphs (the boilerplate), so wording is
checked once per distinct paragraph and cached; near-duplicate notes are found through an
inverted index of word pairs rather than by comparing every pair of notes.

``findings`` holds what a check reports; ``wordlists`` compiles the TOML word lists; ``text``
checks any text (wording, retention, unfilled fields); ``hire`` the differentiator and
mentions of the hire; ``batch`` one position's letters together (notes, duplicates, colder).
"""

from .batch import (
    COLDER_MIN_LETTERS,
    COLDER_MIN_MEDIAN,
    COLDER_RATIO,
    COMMON_PAIR_LIMIT,
    LONG_NOTE_WORDS,
    NEAR_DUPLICATE,
    SHORT_NOTE_WORDS,
    SHORTEST_NEAR_DUPLICATE,
    check_batch,
)
from .findings import BatchFacts, Finding, LetterUnderCheck, findings_to_json, has_errors
from .hire import check_differentiator
from .text import PLACEHOLDER_RE, UNFILLED_FIELD_RE, check_text
from .text import _paragraph as _paragraph  # the paragraph cache, cleared by tests and bench
from .wordlists import CHECKS_DIR, WordLists, word_lists

__all__ = [
    "CHECKS_DIR", "COLDER_MIN_LETTERS", "COLDER_MIN_MEDIAN", "COLDER_RATIO", "COMMON_PAIR_LIMIT",
    "LONG_NOTE_WORDS", "NEAR_DUPLICATE", "PLACEHOLDER_RE", "SHORTEST_NEAR_DUPLICATE",
    "SHORT_NOTE_WORDS", "UNFILLED_FIELD_RE", "BatchFacts", "Finding", "LetterUnderCheck",
    "WordLists", "check_batch", "check_differentiator", "check_text", "findings_to_json",
    "has_errors", "word_lists",
]
