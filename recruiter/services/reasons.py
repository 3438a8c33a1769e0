"""Rejection reasons: the organization's list, the reason chosen per declined candidate, reports.

A reason is for the team's reporting, as in every applicant tracking system: it is never given
to a letter, its checks or the API's letters. Its label is checked like a letter's wording, so
that a reason such as "too old" cannot be recorded at all. Reasons once used are deactivated,
never deleted (the database refuses to delete one an application names).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..errors import NotFound, RecruiterError
from ..models import (
    STAGES,
    Application,
    Candidate,
    Member,
    Organization,
    Position,
    RejectionReason,
)
from ..models.reasons import LABEL_MAX
from . import audit
from .checks import check_text
from .csvcells import csv_safe
from .languages import org_language
from .position_index import BY_NAME
from .text import check_single_line

# Worded for a report someone outside the team may read one day: what happened, not a judgement
# of the person (no "culture fit", nothing a protected characteristic could hide behind).
DEFAULT_REASONS = (
    "Another candidate's experience matched the role more closely",
    "Did not meet a stated requirement of the role",
    "Chose not to proceed after interview",
    "Withdrew or stopped responding",
    "Salary or terms could not be agreed",
    "Position filled internally",
    "Position closed or put on hold",
)
REASON_OUTCOMES = ("declined",)  # only a declined candidate has a reason; a hire never does
NO_REASON = "No reason given"


class ReasonError(RecruiterError):
    """A reason's label or a choice was refused; the message says why."""


def reasons_of(session: Session, org_id: int, *, active_only: bool = False
               ) -> list[RejectionReason]:
    """The organization's reasons in their order (deactivated ones too unless asked not to)."""
    query = select(RejectionReason).where(RejectionReason.organization_id == org_id)
    if active_only:
        query = query.where(RejectionReason.active.is_(True))
    return list(session.scalars(query.order_by(RejectionReason.sort_order, RejectionReason.id)))


def ensure_default_reasons(session: Session, org: Organization) -> list[RejectionReason]:
    """Give ``org`` the default reasons if it has none yet; returns the ones created."""
    if session.scalar(select(RejectionReason.id).where(
            RejectionReason.organization_id == org.id).limit(1)) is not None:
        return []
    created = [RejectionReason(organization_id=org.id, label=label, sort_order=number)
               for number, label in enumerate(DEFAULT_REASONS)]
    session.add_all(created)
    session.flush()
    return created


def get_reason(session: Session, org_id: int, reason_id: int | None) -> RejectionReason:
    """One reason of the organization, or NotFound (never another organization's)."""
    reason = session.get(RejectionReason, reason_id) if reason_id else None
    if reason is None or reason.organization_id != org_id:
        raise NotFound("No such rejection reason.")
    return reason


def check_label(label: str, language: str = "en") -> tuple[str, list[str]]:
    """The label with its spaces normalized, and the check warnings; refused on an error.

    One line, at most LABEL_MAX characters, and no error finding of the letter checks (a
    protected characteristic, for one): the message names the finding.
    """
    check_single_line(label, "reason")
    label = " ".join(label.split())
    if not label:
        raise ReasonError("A reason needs a label.")
    if len(label) > LABEL_MAX:
        raise ReasonError(f"A reason is at most {LABEL_MAX} characters; this one has "
                          f"{len(label)}.")
    findings = check_text(label, language=language)
    errors = [f.message for f in findings if f.severity == "error"]
    if errors:
        raise ReasonError(f"This reason cannot be recorded: {' '.join(errors)}")
    return label, [f.message for f in findings if f.severity != "error"]


def _refuse_taken(session: Session, org_id: int, label: str, keep: int | None = None) -> None:
    query = select(RejectionReason.id).where(RejectionReason.organization_id == org_id,
                                             func.lower(RejectionReason.label) == label.lower())
    if keep is not None:
        query = query.where(RejectionReason.id != keep)
    if label.lower() in (NO_REASON.lower(), "total") or session.scalar(query.limit(1)):
        raise ReasonError(f"The list already has the reason “{label}”.")


def add_reason(session: Session, org: Organization, label: str, *, by: Member | None
               ) -> tuple[RejectionReason, list[str]]:
    """Add a reason at the end of the list; returns it and the check warnings."""
    label, warnings = check_label(label, org_language(org))
    ensure_default_reasons(session, org)
    _refuse_taken(session, org.id, label)
    last = session.scalar(select(func.max(RejectionReason.sort_order))
                          .where(RejectionReason.organization_id == org.id))
    reason = RejectionReason(organization_id=org.id, label=label, sort_order=(last or 0) + 1)
    session.add(reason)
    session.flush()
    audit.record(session, org.id, "rejection_reason.added", actor=by, subject=reason,
                 payload={"reason_id": reason.id, "label": label})
    return reason, warnings


def rename_reason(session: Session, reason: RejectionReason, label: str, *,
                  by: Member | None) -> list[str]:
    """Give a reason a new label (the reports show it from now on); returns the warnings."""
    org = session.get(Organization, reason.organization_id)
    label, warnings = check_label(label, org_language(org) if org else "en")
    if label == reason.label:
        return warnings
    _refuse_taken(session, reason.organization_id, label, keep=reason.id)
    before, reason.label = reason.label, label
    audit.record(session, reason.organization_id, "rejection_reason.renamed", actor=by,
                 subject=reason, payload={"reason_id": reason.id, "label": label,
                                          "previous_label": before})
    return warnings


def set_reason_active(session: Session, reason: RejectionReason, active: bool, *,
                      by: Member | None) -> bool:
    """Offer a reason again or no longer; candidates who have it keep it. True if it changed."""
    if reason.active == active:
        return False
    reason.active = active
    audit.record(session, reason.organization_id,
                 "rejection_reason.activated" if active else "rejection_reason.deactivated",
                 actor=by, subject=reason, payload={"reason_id": reason.id,
                                                    "label": reason.label})
    return True


def move_reason(session: Session, reason: RejectionReason, step: int, *,
                by: Member | None) -> bool:
    """Move a reason up (-1) or down (+1) the list; False when it is already at that end."""
    ordered = reasons_of(session, reason.organization_id)
    where = ordered.index(reason)
    other = where + step
    if step not in (-1, 1) or not 0 <= other < len(ordered):
        return False
    ordered[where], ordered[other] = ordered[other], ordered[where]
    for number, item in enumerate(ordered):
        item.sort_order = number
    audit.record(session, reason.organization_id, "rejection_reason.moved", actor=by,
                 subject=reason, payload={"reason_id": reason.id, "label": reason.label,
                                          "position": other + 1})
    return True


def choose_reason(session: Session, applications: Sequence[Application],
                  reason: RejectionReason | None, *, by: Member | None) -> int:
    """Record ``reason`` (None: no reason given) for declined applications; returns the count.

    Every application must be declined: a pending candidate has no decision yet and a hire or
    a withdrawal has no rejection. The whole choice is refused otherwise, naming how many.
    Each change is one audit event with the reason's id and label.
    """
    if reason is not None and not reason.active:
        raise ReasonError(f"“{reason.label}” is no longer offered; choose another reason.")
    others = [a for a in applications if a.outcome not in REASON_OUTCOMES]
    if others:
        count = len(others)
        raise ReasonError(f"{count} of the chosen candidate{'s are' if count != 1 else ' is'} "
                          "not declined; only a declined candidate has a rejection reason. "
                          "Nothing was changed.")
    if reason is not None and any(a.organization_id != reason.organization_id
                                  for a in applications):
        raise NotFound("No such rejection reason.")
    changed = [a for a in applications
               if a.rejection_reason_id != (reason.id if reason else None)]
    for application in changed:
        application.rejection_reason = reason
    if changed:
        audit.record_many(session, changed[0].organization_id, "application.rejection_reason",
                          [(a, {"reason_id": reason.id if reason else None,
                                "label": reason.label if reason else None,
                                "position_id": a.position_id}) for a in changed], actor=by)
    return len(changed)


def declined_applications(session: Session, position: Position, ids: Sequence[int]
                          ) -> list[Application]:
    """The position's applications with these ids, or NotFound if any is not the position's."""
    wanted = set(ids)
    found = list(session.scalars(select(Application).where(
        Application.position_id == position.id, Application.id.in_(wanted))))
    if len(found) != len(wanted):
        raise NotFound("No such candidate.")
    return found


def declined_page(session: Session, position: Position, page: int, per_page: int, *,
                  missing_only: bool = False) -> tuple[list[Application], int]:
    """One page of the position's declined candidates in name order, and how many there are.

    ``missing_only`` keeps those with no reason given yet, for choosing many at once.
    """
    where = [Application.position_id == position.id,
             Application.outcome.in_(REASON_OUTCOMES)]
    if missing_only:
        where.append(Application.rejection_reason_id.is_(None))
    total = session.scalar(select(func.count()).select_from(Application).where(*where)) or 0
    rows = session.scalars(
        select(Application).join(Candidate).where(*where)
        .options(selectinload(Application.candidate),
                 selectinload(Application.rejection_reason))
        .order_by(*BY_NAME).limit(per_page).offset((max(page, 1) - 1) * per_page))
    return list(rows), total


@dataclass
class ReportRow:
    """One reason with its declined candidates counted by the stage they reached."""

    label: str
    reason_id: int | None = None  # None: the "no reason given" row, or the totals
    active: bool = True
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    @property
    def total(self) -> int:
        """Every stage together."""
        return sum(self.counts.values())


@dataclass
class Report:
    """Declined candidates by reason and stage, for a position or the whole organization."""

    rows: list[ReportRow]
    stages: tuple[str, ...] = STAGES

    @property
    def totals(self) -> ReportRow:
        """Every reason together."""
        row = ReportRow("Total")
        for item in self.rows:
            for stage, count in item.counts.items():
                row.counts[stage] += count
        return row


def reason_report(session: Session, org_id: int, position: Position | None = None) -> Report:
    """Counts of declined candidates by reason and stage, with "no reason given" last.

    Every active reason has its row; a deactivated one has a row while anyone counted has it.
    """
    query = (select(Application.rejection_reason_id, Application.stage, func.count())
             .where(Application.organization_id == org_id,
                    Application.outcome.in_(REASON_OUTCOMES))
             .group_by(Application.rejection_reason_id, Application.stage))
    if position is not None:
        query = query.where(Application.position_id == position.id)
    counts: dict[int | None, dict[str, int]] = {}
    for reason_id, stage, count in session.execute(query):
        by_stage = counts.setdefault(reason_id, {})
        # A stage outside the three (an old import) counts as the first: it reached no further.
        key = stage if stage in STAGES else STAGES[0]
        by_stage[key] = by_stage.get(key, 0) + count
    rows = []
    for reason in reasons_of(session, org_id):
        if reason.active or reason.id in counts:
            rows.append(ReportRow(reason.label, reason.id, reason.active,
                                  {s: counts.get(reason.id, {}).get(s, 0) for s in STAGES}))
    rows.append(ReportRow(NO_REASON, None, True,
                          {s: counts.get(None, {}).get(s, 0) for s in STAGES}))
    return Report(rows)


def report_csv(report: Report) -> str:
    """The report as CSV, formula-like cells neutralised, with a BOM for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reason", "offered", *report.stages, "total"])
    for row in [*report.rows, report.totals]:
        offered = "" if row.reason_id is None else ("yes" if row.active else "no")
        writer.writerow([csv_safe(v) for v in (row.label, offered,
                                                *(row.counts[s] for s in report.stages),
                                                row.total)])
    return "\ufeff" + out.getvalue()
