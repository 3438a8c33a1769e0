"""The letter review of a position, kept between page views while nothing it reads changes.

Refreshing and checking every letter of a position takes seconds at 5,000 letters, and the
checks compare letters with each other, so one page of the list cannot be checked on its own.
Each process keeps the result (the letters in name order with their findings) under a key of
versions, never of sums or checksums of the data (those collide: issue 12):

- ``Position.review_version``, which every writer of what the refresh and the checks read
  (applications, candidates, notes, letters, the position itself) moves in the same
  transaction as its change, through ``versions.bump_review``;
- what the organization owns and no writer of a position bumps: its settings, the id of each
  boilerplate's newest version, and today's date in its time zone.

The key is one primary-key read and one small grouped query. Approving a letter or taking it
back moves no version: the refresh and the checks treat a draft and an approved letter alike,
and the list counts statuses live.

The version is read before the data, so a review is never older than its key. An editor's
miss, which refreshes and may bump the version itself, holds the position's row while it
computes (``FOR UPDATE`` on PostgreSQL, whose reads see each statement's committed data): no
other writer's bump, and with it no other writer's change, can land between reading the data
and reading the version the review is kept under. SQLite reads one snapshot per transaction.
A review made under a bump of its own refresh is kept only once that transaction commits: a
rolled-back bump's number is used again by the next writer, for another change.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Select, bindparam, event, func, select
from sqlalchemy.orm import Session, SessionTransaction, selectinload

from ..errors import RecruiterError
from ..models import (
    Application,
    Batch,
    Boilerplate,
    BoilerplateVersion,
    Candidate,
    Delivery,
    Letter,
    Member,
    Position,
)
from ..models import Organization as Org
from ..models.hiring import full_name, letter_channel
from . import approval, checks, outcomes
from . import letters as service
from .orgtime import org_today
from .versions import VersionedCache


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
    # What the list asks of every view, worked out once per review (services/review_list.py):
    with_errors: frozenset[int] = frozenset()  # letters with an error, cancelled ones too
    with_warnings: frozenset[int] = frozenset()
    no_note: tuple[tuple[int, str], ...] = ()  # (letter id, name): no note, in list order
    other_warnings: int = 0  # letters with a warning besides an empty note


# The reviews one app keeps, under review_key; a review of 5,000 letters holds a few MB.
ReviewCache = VersionedCache[Review]


@functools.cache
def _versions_statement() -> Select:
    """The organization's newest version of each boilerplate, built once."""
    return (select(BoilerplateVersion.boilerplate_id, func.max(BoilerplateVersion.id))
            .join(Boilerplate).where(Boilerplate.organization_id == bindparam("organization_id"))
            .group_by(BoilerplateVersion.boilerplate_id)
            .order_by(BoilerplateVersion.boilerplate_id))


def review_key(session: Session, position: Position, *, hold: bool = False) -> tuple:
    """The versions the refresh and the checks of ``position`` depend on.

    ``hold`` locks the position's row until the transaction ends (an editor's miss, which
    writes): no writer can bump the version meanwhile.
    """
    query = select(Position.review_version).where(Position.id == position.id)
    version = session.scalar(query.with_for_update() if hold else query)
    org = session.get(Org, position.organization_id)
    settings = (org.name, org.sender_name, org.sender_title, org.sender_email, org.locale,
                org.timezone, org.retention_months, org_today(org),
                tuple(sorted((org.sender_title_in or {}).items()))) if org else ()
    versions = session.execute(_versions_statement(),
                               {"organization_id": position.organization_id}).all()
    return position.id, version, settings, tuple(map(tuple, versions))


def _build(session: Session, position: Position, *, refresh: bool) -> list[Letter]:
    if refresh:
        return service.refresh_letters(session, position)
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id)
        .options(selectinload(Letter.application).selectinload(Application.candidate))).all()
    return sorted(letters, key=lambda x: service.sort_key(x.application))


def review_of(session: Session, position: Position, cache: ReviewCache, *, refresh: bool
              ) -> tuple[Review, bool]:
    """The position's review, and whether it was computed now rather than found in ``cache``.

    The review comes from ``cache`` while its key holds; otherwise it is computed and kept.
    With ``refresh`` (members who may edit) a miss first brings every letter up to date, as
    ``letters.refresh_letters`` does (bumping the version when it changed a letter), and
    flushes; the caller commits then, which also lets writers of the position go on.
    """
    key = review_key(session, position)
    cached = cache.get(position.id, key)
    # A review a reader built was not refreshed: an editor's view refreshes the letters first.
    if cached is not None and (cached.refreshed or not refresh):
        return cached, False
    if refresh:
        key = review_key(session, position, hold=True)
        cached = cache.get(position.id, key)  # another thread may have made it meanwhile
        if cached is not None and cached.refreshed:
            return cached, False
    letters = _build(session, position, refresh=refresh)
    findings = {i: errors_first(fs)
                for i, fs in approval.letter_findings(position, letters).items()}
    live = [findings.get(x.id, []) for x in letters if x.status != "cancelled"]
    before = key
    if refresh:  # the refresh may have bumped the version; the row is ours, so only it did
        key = review_key(session, position)

    def having(severity: str) -> frozenset[int]:
        return frozenset(i for i, fs in findings.items() if any(f.severity == severity
                                                                 for f in fs))

    result = Review(
        key=key, letter_ids=tuple(x.id for x in letters), findings=findings,
        differentiator_findings=approval.differentiator_findings(position),
        errors=sum(1 for fs in live if any(f.severity == "error" for f in fs)),
        warnings=sum(1 for fs in live if any(f.severity == "warning" for f in fs)),
        refreshed=refresh, with_errors=having("error"), with_warnings=having("warning"),
        no_note=tuple((x.id, x.application.candidate.full_name) for x in letters
                      if any(f.check == approval.NO_NOTE for f in findings.get(x.id, ()))),
        other_warnings=sum(1 for fs in findings.values() if any(
            f.severity == "warning" and f.check != approval.NO_NOTE for f in fs)))
    if key == before:
        cache.put(position.id, result.key, result)
    else:  # made under our own bump, which a rollback would take back (and a writer reuse)
        session.info.setdefault(_PENDING, []).append((cache, position.id, result))
    return result, True


def errors_first(findings: Sequence[checks.Finding]) -> list[checks.Finding]:
    """The findings with every error before the warnings, each kind in its own order."""
    return sorted(findings, key=lambda f: f.severity != "error")


_PENDING = "recruiter.review.pending"  # session.info: reviews kept once the bump commits


@event.listens_for(Session, "after_commit")
def _keep_pending(session: Session) -> None:
    for cache, position_id, result in session.info.pop(_PENDING, []):
        cache.put(position_id, result.key, result)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed: those reviews never held
        session.info.pop(_PENDING, None)


def findings_for_approval(session: Session, position: Position, letter: Letter,
                          cache: ReviewCache) -> list[checks.Finding]:
    """The findings of ``letter`` as it is now, for approving it.

    The position's row is held first, so the review (cached or computed now) is the one of
    the current version until the approval commits: a note saved after the list was viewed
    is checked, and none can be saved in between.
    """
    review_key(session, position, hold=True)
    result, _ = review_of(session, position, cache, refresh=True)
    return result.findings.get(letter.id, [])


def approve_reviewed(session: Session, letter: Letter, cache: ReviewCache, member: Member, *,
                     seen: str | None, acknowledge: bool | Collection[str]) -> None:
    """Approve one letter as it is now, the browser's way and the API's.

    The findings are those of the whole position at this moment (its row held until the
    caller commits); ``seen`` is the content hash the member read, and a letter that changed
    since is refused. LetterStopped (a cancellation the caller commits) and RecruiterError
    come from ``approval.approve_letter``.
    """
    findings = findings_for_approval(session, letter.application.position, letter, cache)
    if seen and seen != letter.content_hash:
        raise RecruiterError("This letter changed since you opened it; read it again before "
                             "approving.")
    approval.approve_letter(session, letter, findings, member, acknowledge=acknowledge)


def review_counts(review: Review, statuses: Mapping[int, str]) -> dict[str, int]:
    """Letters per status, from ``statuses`` read now, with the review's error and warning counts.

    ``statuses`` is every letter of the position by id (review_list.Narrowed.statuses).
    """
    by_status = Counter(statuses.values())
    counts = {status: by_status.get(status, 0)
              for status in ("draft", "approved", "cancelled", "frozen", "sent")}
    counts["total"] = len(statuses) - counts["cancelled"]
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
    life: str = ""  # outcomes.letter_life: where a frozen letter's delivery stands
    cancel_reason: str | None = None
    render_error: str | None = None
    external_id: str | None = None  # the ATS's id of the application (the API shows it)
    application_id: int = 0
    approved_at: datetime | None = None
    acknowledged: tuple[tuple[str, int | None, int | None], ...] = ()  # (check, start, end)

    @property
    def life_label(self) -> str:
        """The letter's life as the list shows it ("in doubt", "queued"...)."""
        return outcomes.LIFE_LABELS.get(self.life, self.life or self.status)


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
               Letter.cancel_reason, Letter.render_error, Delivery.state.label("delivery"),
               Batch.state.label("batch"), a.channel, c.first_name, c.last_name, c.email,
               a.external_id, a.id.label("application_id"), Letter.approved_at,
               Letter.acknowledged)
        .join(a, a.id == Letter.application_id).join(c, c.id == a.candidate_id)
        .outerjoin(Delivery, Delivery.letter_id == Letter.id)
        .outerjoin(Batch, Batch.id == Letter.batch_id)
        .where(Letter.id.in_(ids)).order_by(Delivery.id))}  # the newest delivery wins
    result = []
    for i in ids:
        if (row := rows.get(i)) is None:
            continue
        found = review.findings.get(i, [])
        # The state model reads these three columns; rows stand in for the ORM objects.
        life = outcomes.letter_life(
            SimpleNamespace(status=row.status),  # type: ignore[arg-type]
            SimpleNamespace(state=row.delivery) if row.delivery else None,  # type: ignore[arg-type]
            SimpleNamespace(state=row.batch) if row.batch else None)  # type: ignore[arg-type]
        result.append(LetterRow(
            id=row.id, status=row.status, own_paragraph=bool(row.own),
            channel=letter_channel(row.channel, row.email),
            name=full_name(row.first_name, row.last_name),
            findings=len(found), errors=sum(1 for f in found if f.severity == "error"),
            warnings=sum(1 for f in found if f.severity == "warning"),
            first_finding=found[0].message if found else None, life=life or row.status,
            cancel_reason=row.cancel_reason if row.status == "cancelled" else None,
            render_error=row.render_error, external_id=row.external_id,
            application_id=row.application_id, approved_at=row.approved_at,
            acknowledged=tuple((str(x.get("check")), x.get("start"), x.get("end"))
                               for x in row.acknowledged or () if isinstance(x, dict))))
    return result
