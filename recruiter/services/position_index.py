"""A position's applications in name order, with the notes' counts, kept while nothing changes.

The position page and the notes page each show 50 of perhaps 5,000 candidates in name order,
with how many are pending, how many notes are written and the batch's median note length (the
colder-letter check's). Sorting 5,000 names and counting the words of 5,000 notes cost more
than the rest of the notes page together (31 of 60 ms at 5,000 applications), and all of it
changes only when a writer moves ``Position.review_version``: names, outcomes and notes are
what the letters read (services/versions.py). So each process keeps the index per position
under that version, as it keeps the review (services/review.py, which explains why the version
is read before the data).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Application, Candidate, Position
from ..models.hiring import LETTER_OUTCOMES
from .checks import COLDER_MIN_LETTERS, COLDER_MIN_MEDIAN
from .checks.text import _WORD_RE
from .versions import VersionedCache, bumped_here

BY_NAME = (Candidate.last_name, Candidate.first_name, Application.id)


def note_words(note: str | None) -> int:
    """A note's length in words, counted as the letter checks count them."""
    return len(_WORD_RE.findall(note or ""))


@dataclass(frozen=True)
class PositionIndex:
    """The position's application ids in name order, and what the pages count of them."""

    ids: tuple[int, ...]  # every application
    letter_ids: tuple[int, ...]  # those who get a decline letter (LETTER_OUTCOMES)
    pending: int
    written: int  # letters whose note is not empty
    median_words: int | None  # None when the colder-letter check would not compare either

    @staticmethod
    def page(ids: tuple[int, ...], page: int, per_page: int) -> tuple[int, ...]:
        """The ids of page ``page`` (from 1) of ``ids``."""
        start = (max(page, 1) - 1) * per_page
        return ids[start:start + per_page]

    @staticmethod
    def page_of(ids: tuple[int, ...], application_id: int, per_page: int) -> int:
        """The page (from 1) of ``ids`` that shows the application; the first if none does."""
        index = ids.index(application_id) if application_id in ids else 0
        return index // per_page + 1


def median_words(notes: list[str]) -> int | None:
    """The median length in words of the written notes, or None.

    None when the colder-letter check would not compare with the batch either: fewer than
    ``COLDER_MIN_LETTERS`` notes, or a median under ``COLDER_MIN_MEDIAN`` words.
    """
    written = [n for n in map(note_words, notes) if n]
    if len(written) < COLDER_MIN_LETTERS:
        return None
    median = statistics.median(written)
    return round(median) if median >= COLDER_MIN_MEDIAN else None


def position_index(session: Session, position: Position,
                   cache: VersionedCache[PositionIndex]) -> PositionIndex:
    """The index of ``position`` as it is now: from ``cache`` while the version holds.

    An index read in a transaction that moved the version itself is not kept: a rollback
    would take the number back and the next writer would use it for another change.
    """
    version = session.scalar(select(Position.review_version).where(Position.id == position.id))
    found = cache.get(position.id, version)
    if found is not None:
        return found
    rows = session.execute(
        select(Application.id, Application.outcome, Application.note).join(Candidate)
        .where(Application.position_id == position.id).order_by(*BY_NAME)).all()
    letters = [row for row in rows if row.outcome in LETTER_OUTCOMES]
    notes = [row.note for row in letters if row.note]
    index = PositionIndex(
        ids=tuple(row.id for row in rows), letter_ids=tuple(row.id for row in letters),
        pending=sum(1 for row in rows if row.outcome == "pending"), written=len(notes),
        median_words=median_words(notes))
    if not bumped_here(session, position.id):
        cache.put(position.id, version, index)
    return index
