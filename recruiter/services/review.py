"""The letter review of a position, kept between page views while nothing it reads changes.

Refreshing and checking every letter of a position takes seconds at 5,000 letters, and the
checks compare letters with each other, so one page of the list cannot be checked on its own.
Each process keeps the result (the letters in name order with their findings) under a key that
changes whenever a refresh could change a letter or a finding:

- the position, the organization's settings, its newest boilerplate versions and today's date;
- per application, read from one covering index: its id, candidate, outcome, stage, channel
  and note revision (every saved note bumps it);
- per letter, from another: its id, whether it is open, cancelled, frozen or sent, and
  ``updated_at``, which moves whenever a letter's content changes, and which
  ``positions.save_candidate`` moves when a candidate's name or address changes.

The key is two aggregate queries over those indexes, a few milliseconds at 5,000
applications. Approving a letter or taking it back changes no input ("open" either way), so
the next view stays cheap; statuses are counted live. Anything else costs exactly the old work
once. Erasing a person (retention) changes their data without moving the key; it only happens
once their letter is sent, and sent letters are never re-rendered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, defer, selectinload

from ..models import Application, Boilerplate, BoilerplateVersion, Letter, Position
from ..models import Organization as Org
from . import checks
from . import letters as service

CACHED_POSITIONS = 64  # per process; a review of 5,000 letters holds a few MB


@dataclass(frozen=True)
class Review:
    """A position's letters in name order with their findings, as of ``key``."""

    key: tuple
    letter_ids: tuple[int, ...]
    findings: dict[int, list[checks.Finding]]
    differentiator_findings: list[checks.Finding]
    errors: int  # letters, not cancelled, with at least one error
    warnings: int


class ReviewCache:
    """The reviews one app keeps, by position id, the most recently used last."""

    def __init__(self, size: int = CACHED_POSITIONS) -> None:
        self.size = size
        self._items: OrderedDict[int, Review] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, position_id: int, key: tuple) -> Review | None:
        """The review of the position if it was made under ``key``."""
        with self._lock:
            found = self._items.get(position_id)
            if found is None or found.key != key:
                return None
            self._items.move_to_end(position_id)
            return found

    def put(self, position_id: int, review: Review) -> None:
        """Keep ``review``, forgetting the least recently used beyond ``size``."""
        with self._lock:
            self._items[position_id] = review
            self._items.move_to_end(position_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _code(column, values: Sequence[str]):  # noqa: ANN001, ANN202
    """1, 2, 3... for each value in turn, else 0: a number to weigh ids with."""
    return case(*((column == v, i) for i, v in enumerate(values, start=1)), else_=0)


def _letter_of(a: type[Application], position: Position):  # noqa: ANN202
    # The organization too, so the join reads ix_letter_review instead of the letter rows.
    return (Letter.application_id == a.id) & (Letter.organization_id == position.organization_id)


def review_key(session: Session, position: Position) -> tuple:
    """Everything the refresh and the checks of ``position`` depend on, in a few numbers."""
    org = session.get(Org, position.organization_id)
    a, x = Application, Letter
    applications = session.execute(select(
        func.count(), func.sum(a.note_revision), func.sum(a.id * a.candidate_id),
        func.sum(a.id * _code(a.outcome, ("pending", "hired", "declined", "withdrawn"))),
        func.sum(a.id * _code(a.stage, ("applied", "screened", "interviewed"))),
        func.sum(a.id * _code(a.channel, ("auto", "email", "post"))))
        .where(a.position_id == position.id)).one()
    letters = session.execute(select(
        func.count(), func.sum(x.application_id), func.max(x.updated_at),
        func.sum(x.id * _code(x.status, ("cancelled", "frozen", "sent"))))  # open: 0
        .select_from(a).join(x, _letter_of(a, position))
        .where(a.position_id == position.id)).one()
    versions = session.execute(
        select(BoilerplateVersion.boilerplate_id, func.max(BoilerplateVersion.id))
        .join(Boilerplate).where(Boilerplate.organization_id == position.organization_id)
        .group_by(BoilerplateVersion.boilerplate_id).order_by(BoilerplateVersion.boilerplate_id)
    ).all()
    settings = (org.name, org.sender_name, org.sender_title, org.sender_email, org.locale,
                org.timezone, org.retention_months, service._org_today(org)) if org else ()
    return (position.title, position.location, position.differentiator,
            position.differentiator_revision, position.boilerplate_id, settings,
            tuple(map(tuple, versions)), tuple(applications), tuple(letters))


def _build(session: Session, position: Position, *, refresh: bool) -> list[Letter]:
    if refresh:
        return service.refresh_letters(session, position)
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id)
        .options(defer(Letter.pdf), defer(Letter.eml),
                 selectinload(Letter.application).selectinload(Application.candidate))).all()
    return sorted(letters, key=lambda x: service._sort_key(x.application))


def review_of(session: Session, position: Position, cache: ReviewCache, *, refresh: bool
              ) -> Review:
    """The position's review: from ``cache`` while its key holds, else computed and kept.

    With ``refresh`` (members who may edit) a miss first brings every letter up to date, as
    ``letters.refresh_letters`` does, and flushes; the caller commits.
    """
    key = review_key(session, position)
    cached = cache.get(position.id, key)
    if cached is not None:
        return cached
    letters = _build(session, position, refresh=refresh)
    findings = service.letter_findings(position, letters)
    live = [findings.get(x.id, []) for x in letters if x.status != "cancelled"]
    if refresh:  # what the refresh wrote is part of the key
        key = review_key(session, position)
    result = Review(
        key=key, letter_ids=tuple(x.id for x in letters), findings=findings,
        differentiator_findings=service.differentiator_findings(position),
        errors=sum(1 for fs in live if any(f.severity == "error" for f in fs)),
        warnings=sum(1 for fs in live if any(f.severity == "warning" for f in fs)))
    cache.put(position.id, result)
    return result


def review_counts(session: Session, position: Position, review: Review) -> dict[str, int]:
    """Letters per status, counted now, with the review's error and warning counts."""
    by_status = dict(session.execute(
        select(Letter.status, func.count()).select_from(Application)
        .join(Letter, _letter_of(Application, position))
        .where(Application.position_id == position.id).group_by(Letter.status)).all())
    counts = {status: int(by_status.get(status, 0))
              for status in ("draft", "approved", "cancelled", "frozen", "sent")}
    counts["total"] = sum(int(n) for n in by_status.values()) - counts["cancelled"]
    counts["errors"], counts["warnings"] = review.errors, review.warnings
    return counts


def letters_by_id(session: Session, ids: Sequence[int]) -> list[Letter]:
    """These letters, in this order, with candidates and without their stored bytes."""
    if not ids:
        return []
    rows = {x.id: x for x in session.scalars(
        select(Letter).where(Letter.id.in_(ids))
        .options(defer(Letter.pdf), defer(Letter.eml), defer(Letter.html), defer(Letter.text),
                 selectinload(Letter.application).selectinload(Application.candidate)))}
    return [rows[i] for i in ids if i in rows]
