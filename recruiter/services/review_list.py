"""The letter list as a reviewer narrows it: a filter, a search, and the next letter to review.

The review (services/review.py) keeps the letters in list order with their findings; the
statuses, names and emails are read live here, in one query of a few columns, so approving a
letter moves it between filters at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Application, Candidate, Letter, Position
from .review import Review

# The filters in the order the list offers them: (query value, label).
FILTERS = (("all", "All"), ("errors", "With errors"), ("warnings", "With warnings"),
           ("open", "Not yet approved"), ("approved", "Approved"))
APPROVED = ("approved", "frozen", "sent")  # a person approved them


def folded(text: str) -> str:
    """``text`` without case or accents, for searching: "José" and "jose" match."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Narrowed:
    """The list's letters under a filter and a search, with what each filter would hold."""

    show: str  # one of FILTERS' values
    search: str
    ids: list[int]  # in list order
    counts: dict[str, int]  # letters per filter, under the search
    statuses: dict[int, str]  # every letter of the review, by id

    @property
    def args(self) -> dict[str, Any]:
        """The query arguments that keep this filter and search (none for the whole list)."""
        return {k: v for k, v in (("show", self.show if self.show != "all" else ""),
                                  ("q", self.search)) if v}


def narrow(session: Session, position: Position, review: Review, *, show: str = "all",
           search: str = "") -> Narrowed:
    """The review's letters in the filter ``show`` whose candidate's name or email has ``search``.

    An unknown filter shows every letter; the search ignores case and accents.
    """
    show = show if show in dict(FILTERS) else "all"
    search = " ".join((search or "").split())[:200]
    needle = folded(search)
    # The statuses are read live (approving moves no version); names only for a search.
    names = (Candidate.first_name, Candidate.last_name, Candidate.email) if needle else ()
    query = select(Letter.id, Letter.status, *names).join(
        Application, Application.id == Letter.application_id)
    if needle:
        query = query.join(Candidate, Candidate.id == Application.candidate_id)
    # Core rows, not the ORM's: 3,300 rows through the ORM's result machinery cost 17 ms a
    # view, 7 as Core rows. Core does not flush the session itself, so it is flushed first.
    session.flush()
    rows = session.connection().execute(query.where(
        Application.position_id == position.id,
        Letter.organization_id == position.organization_id)).all()
    statuses: dict[int, str] = dict((row[0], row[1]) for row in rows)
    found = statuses.keys() if not needle else {row.id for row in rows if needle in folded(
        f"{row.first_name} {row.last_name} {row.email or ''}")}
    listed = [i for i in review.letter_ids if i in found]
    shown = set(listed)
    held: dict[str, Collection[int] | None] = {
        "all": None, "errors": review.with_errors, "warnings": review.with_warnings,
        "open": {i for i in shown if statuses[i] == "draft"},
        "approved": {i for i in shown if statuses[i] in APPROVED}}
    counts = {name: len(shown) if ids is None else len(shown.intersection(ids))
              for name, ids in held.items()}
    chosen = held[show]
    ids = listed if chosen is None else [i for i in listed if i in chosen]
    return Narrowed(show=show, search=search, ids=ids, counts=counts, statuses=statuses)


def neighbours(order: Sequence[int], listed: Collection[int], current: int
               ) -> tuple[int | None, int | None]:
    """The listed letters just before and just after ``current`` in ``order``.

    ``current`` need not be listed itself (a letter just approved leaves "not yet approved").
    """
    if current not in order:
        return None, None
    here = order.index(current)
    before = [i for i in order[:here] if i in listed]
    after = (i for i in order[here + 1:] if i in listed)
    return (before[-1] if before else None), next(after, None)


def next_to_review(narrowed: Narrowed, order: Sequence[int], current: int) -> int | None:
    """The next draft of the narrowed list after ``current``, going round to the top; or None."""
    drafts = {i for i in narrowed.ids if narrowed.statuses.get(i) == "draft" and i != current}
    if not drafts:
        return None
    here = order.index(current) if current in order else -1
    return next((i for i in [*order[here + 1:], *order[:here + 1]] if i in drafts), None)
