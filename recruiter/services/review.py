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

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.orm import Session, defer, selectinload

from ..models import Application, Boilerplate, BoilerplateVersion, Candidate, Letter, Position
from ..models import Organization as Org
from ..models.hiring import full_name, letter_channel
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
    refreshed: bool = True  # False: built from the stored letters by a member who may not edit


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


@functools.cache
def _key_statements() -> tuple[Select, Select, Select]:
    """The key's three queries, built once: constructing them cost as much as running them."""
    a, x = Application, Letter
    position_id, org_id = bindparam("position_id"), bindparam("organization_id")
    applications = select(
        func.count(), func.sum(a.note_revision), func.sum(a.id * a.candidate_id),
        func.sum(a.id * _code(a.outcome, ("pending", "hired", "declined", "withdrawn"))),
        func.sum(a.id * _code(a.stage, ("applied", "screened", "interviewed"))),
        func.sum(a.id * _code(a.channel, ("auto", "email", "post")))
    ).where(a.position_id == position_id)
    # The organization too, so the join reads ix_letter_review instead of the letter rows.
    letters = select(
        func.count(), func.sum(x.application_id), func.max(x.updated_at),
        func.sum(x.id * _code(x.status, ("cancelled", "frozen", "sent")))  # open: 0
    ).select_from(a).join(x, (x.application_id == a.id) & (x.organization_id == org_id)
                          ).where(a.position_id == position_id)
    versions = (
        select(BoilerplateVersion.boilerplate_id, func.max(BoilerplateVersion.id))
        .join(Boilerplate).where(Boilerplate.organization_id == org_id)
        .group_by(BoilerplateVersion.boilerplate_id).order_by(BoilerplateVersion.boilerplate_id))
    return applications, letters, versions


def review_key(session: Session, position: Position) -> tuple:
    """Everything the refresh and the checks of ``position`` depend on, in a few numbers."""
    org = session.get(Org, position.organization_id)
    params = {"position_id": position.id, "organization_id": position.organization_id}
    applications, letters, versions = (session.execute(statement, params).all()
                                       for statement in _key_statements())
    settings = (org.name, org.sender_name, org.sender_title, org.sender_email, org.locale,
                org.timezone, org.retention_months, service._org_today(org)) if org else ()
    return (position.title, position.location, position.differentiator,
            position.differentiator_revision, position.boilerplate_id, settings,
            tuple(map(tuple, versions)), tuple(applications[0]), tuple(letters[0]))


def _build(session: Session, position: Position, *, refresh: bool) -> list[Letter]:
    if refresh:
        return service.refresh_letters(session, position)
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id)
        .options(defer(Letter.pdf), defer(Letter.eml),
                 selectinload(Letter.application).selectinload(Application.candidate))).all()
    return sorted(letters, key=lambda x: service._sort_key(x.application))


def review_of(session: Session, position: Position, cache: ReviewCache, *, refresh: bool
              ) -> tuple[Review, bool]:
    """The position's review, and whether it was computed now rather than found in ``cache``.

    The review comes from ``cache`` while its key holds; otherwise it is computed and kept.
    With ``refresh`` (members who may edit) a miss first brings every letter up to date, as
    ``letters.refresh_letters`` does, and flushes; the caller commits then.
    """
    key = review_key(session, position)
    cached = cache.get(position.id, key)
    # A review a reader built was not refreshed: an editor's view refreshes the letters first.
    if cached is not None and (cached.refreshed or not refresh):
        return cached, False
    letters = _build(session, position, refresh=refresh)
    findings = service.letter_findings(position, letters)
    live = [findings.get(x.id, []) for x in letters if x.status != "cancelled"]
    if refresh:  # what the refresh wrote is part of the key
        key = review_key(session, position)
    result = Review(
        key=key, letter_ids=tuple(x.id for x in letters), findings=findings,
        differentiator_findings=service.differentiator_findings(position),
        errors=sum(1 for fs in live if any(f.severity == "error" for f in fs)),
        warnings=sum(1 for fs in live if any(f.severity == "warning" for f in fs)),
        refreshed=refresh)
    cache.put(position.id, result)
    return result, True


def review_counts(session: Session, position: Position, review: Review) -> dict[str, int]:
    """Letters per status, counted now, with the review's error and warning counts."""
    by_status = dict(session.execute(
        select(Letter.status, func.count()).select_from(Application)
        .join(Letter, (Letter.application_id == Application.id)
              & (Letter.organization_id == position.organization_id))
        .where(Application.position_id == position.id).group_by(Letter.status)).all())
    counts = {status: int(by_status.get(status, 0))
              for status in ("draft", "approved", "cancelled", "frozen", "sent")}
    counts["total"] = sum(int(n) for n in by_status.values()) - counts["cancelled"]
    counts["errors"], counts["warnings"] = review.errors, review.warnings
    return counts


@dataclass(frozen=True)
class LetterRow:
    """What the letter list shows of one letter."""

    id: int
    status: str
    own_paragraph: bool  # the member replaced the note for this letter
    channel: str  # email or post, as Application.letter_channel decides
    name: str
    findings: int
    errors: int
    warnings: int
    first_finding: str | None


def letter_rows(session: Session, review: Review, ids: Sequence[int]) -> list[LetterRow]:
    """These letters as list rows with their findings, in this order: one query, few columns.

    A page of 50 ORM letters with their applications and candidates cost more than the rest
    of the list view together.
    """
    if not ids:
        return []
    a, c = Application, Candidate
    rows = {row.id: row for row in session.execute(
        select(Letter.id, Letter.status, Letter.note_override.is_not(None).label("own"),
               a.channel, c.first_name, c.last_name, c.email)
        .join(a, a.id == Letter.application_id).join(c, c.id == a.candidate_id)
        .where(Letter.id.in_(ids)))}
    result = []
    for i in ids:
        if (row := rows.get(i)) is None:
            continue
        found = review.findings.get(i, [])
        result.append(LetterRow(
            id=row.id, status=row.status, own_paragraph=bool(row.own),
            channel=letter_channel(row.channel, row.email),
            name=full_name(row.first_name, row.last_name),
            findings=len(found), errors=sum(1 for f in found if f.severity == "error"),
            warnings=sum(1 for f in found if f.severity == "warning"),
            first_finding=found[0].message if found else None))
    return result
