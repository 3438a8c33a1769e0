"""Keeping a position's applications in step with an applicant tracking system's.

The ATS names each candidate by its own id (``Application.external_id``, unique per
position). ``upsert_applications`` creates the ones it has not seen, changes only the values
that differ on the others, and leaves everything else alone, so the same import twice writes
nothing (no audit event, no review bump). Every row is checked before anything is written: one
bad row refuses the whole request. The writes are Core executemany statements, as in
``positions.import_rows``: 5,000 ORM round trips would take seconds.

An application of the position that has no external id yet (added in the browser or from a
CSV) is adopted by the first item with the same email: it gets the external id, and no second
candidate is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import STAGES, Application, Candidate, Member, Organization, Position
from . import audit
from .emails import normalize_email
from .languages import normalise, org_language
from .positions import _insert_candidates, _known_candidates
from .versions import bump_review

CANDIDATE = ("first_name", "last_name", "email", "address_line1", "address_line2", "city",
             "region", "postal_code", "country", "language")
APPLICATION = ("stage", "channel", "internal_note")
CHANNELS = ("auto", "email", "post")
MAX_ITEMS = 5000
_CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class Incoming:
    """One candidate as the ATS sends it: its id, and only the fields it gave."""

    external_id: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Upserted:
    """What an upsert did, and the application id of every external id it was given."""

    created: int
    updated: int
    unchanged: int
    ids: dict[str, int]


class RowProblems(RecruiterError):
    """Rows that refuse the whole upsert: (index, field, message) each."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        index, name, message = problems[0]
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"Item {index}, {name}: {message}{more}")


@dataclass
class _Row:
    """An application of the position as stored, with its candidate's values."""

    id: int
    candidate_id: int
    external_id: str | None
    candidate: dict[str, Any]
    application: dict[str, Any]


def _stored(session: Session, position: Position, external_ids: set[str],
            emails: set[str]) -> list[_Row]:
    """The position's applications that have one of these external ids or emails.

    Only those: an ATS that sends one candidate a request would otherwise read the whole
    position every time.
    """
    columns = [getattr(Candidate, name) for name in CANDIDATE]
    query = (select(Application.id, Application.candidate_id, Application.external_id,
                    Application.stage, Application.channel, Application.internal_note,
                    *columns)
             .join(Candidate, Candidate.id == Application.candidate_id)
             .where(Application.position_id == position.id))
    found: dict[int, _Row] = {}
    for column, values in ((Application.external_id, sorted(external_ids)),
                           (func.lower(Candidate.email), sorted(emails))):
        for start in range(0, len(values), _CHUNK):
            for r in session.execute(query.where(column.in_(values[start:start + _CHUNK]))):
                found.setdefault(r.id, _Row(r.id, r.candidate_id, r.external_id,
                                            {name: getattr(r, name) for name in CANDIDATE},
                                            {name: getattr(r, name) for name in APPLICATION}))
    return list(found.values())


def _candidates(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored values of other positions' candidates reused by email."""
    found: dict[int, dict[str, Any]] = {}
    columns = [getattr(Candidate, name) for name in CANDIDATE]
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        for row in session.execute(select(Candidate.id, *columns).where(
                Candidate.id.in_(wanted[start:start + _CHUNK]))):
            found[row.id] = {name: getattr(row, name) for name in CANDIDATE}
    return found


def _email(value: str) -> str:
    """The normalised address, or ValueError with validate_email's words."""
    if value.count("@") != 1 or "," in value or ";" in value:
        raise ValueError("must be exactly one email address")
    try:
        return normalize_email(value)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def _given(item: Incoming, problems: list[tuple[int, str, str]], index: int) -> dict[str, Any]:
    """The item's values, cleaned: stripped, the email normalised (None when blank)."""
    values: dict[str, Any] = {k: v.strip() for k, v in item.values.items() if k != "internal_note"}
    if "internal_note" in item.values:
        values["internal_note"] = item.values["internal_note"].replace("\r\n", "\n").strip()
    if "email" in values:
        if values["email"]:
            try:
                values["email"] = _email(values["email"])
            except ValueError as exc:
                problems.append((index, "email", str(exc)))
        else:
            values["email"] = None
    if "language" in values:  # "FR" is fr; blank is the organization's (``_plan``)
        values["language"] = normalise(values["language"])
    if values.get("stage", "applied") not in STAGES:
        problems.append((index, "stage", f"must be one of {', '.join(STAGES)}"))
    if values.get("channel", "auto") not in CHANNELS:
        problems.append((index, "channel", f"must be one of {', '.join(CHANNELS)}"))
    return values


NEW_CANDIDATE = {"first_name": "", "last_name": "", "email": None, "address_line1": "",
                 "address_line2": "", "city": "", "region": "", "postal_code": "",
                 "country": "", "language": ""}  # "": the organization's language
NEW_APPLICATION = {"stage": "applied", "channel": "auto", "internal_note": ""}


@dataclass
class _Plan:
    """What to write, worked out before anything is written."""

    new_candidates: list[dict[str, Any]] = field(default_factory=list)
    new_applications: list[dict[str, Any]] = field(default_factory=list)
    candidate_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    application_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    unchanged: int = 0


def _plan(session: Session, position: Position, items: Sequence[Incoming]) -> _Plan:
    """Check every item against the request and the position; RowProblems names them all."""
    problems: list[tuple[int, str, str]] = []
    given = [_given(item, problems, index) for index, item in enumerate(items)]
    org = session.get(Organization, position.organization_id)
    own = org_language(org) if org else "en"  # a blank or missing language
    for values in given:
        if values.get("language") == "":
            values["language"] = own
    stored = _stored(session, position, {item.external_id.strip() for item in items},
                     {values["email"].lower() for values in given if values.get("email")})
    by_external = {r.external_id: r for r in stored if r.external_id is not None}
    by_email = {r.candidate["email"].lower(): r for r in stored if r.candidate["email"]}
    seen_ids: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    cleaned: list[tuple[Incoming, dict[str, Any], _Row | None]] = []
    for index, item in enumerate(items):
        external_id = item.external_id.strip()
        if not external_id:
            problems.append((index, "external_id", "must not be blank"))
        elif external_id in seen_ids:
            problems.append((index, "external_id",
                             f"is also the external id of item {seen_ids[external_id]}"))
        seen_ids.setdefault(external_id, index)
        values = given[index]
        row = by_external.get(external_id)
        holder = by_email.get((values.get("email") or "").lower())
        if row is None and holder is not None and holder.external_id is None:
            row = holder  # adopted: a candidate added before the ATS knew it
        merged = {**(row.candidate if row else NEW_CANDIDATE),
                  **{k: v for k, v in values.items() if k in CANDIDATE}}
        merged["language"] = merged["language"] or own
        email = (merged["email"] or "").lower()
        if email:
            if email in seen_emails:
                problems.append((index, "email",
                                 f"is also the email of item {seen_emails[email]}"))
            seen_emails.setdefault(email, index)
            holder = by_email.get(email)
            if holder is not None and holder is not row:
                problems.append((index, "email", "another candidate of this position "
                                 f"already has {merged['email']}"))
        if not (merged["first_name"] or merged["last_name"]):
            problems.append((index, "first_name", "give the candidate a first or a last name"))
        channel = values.get("channel") or (row.application["channel"] if row else "auto")
        if channel == "email" and not merged["email"]:
            problems.append((index, "channel", "a letter by email needs an email address"))
        cleaned.append((Incoming(external_id, values), merged, row))
    if problems:
        raise RowProblems(sorted(problems, key=lambda problem: problem[0]))
    return _changes(session, position, cleaned)


def _changes(session: Session, position: Position,
             cleaned: list[tuple[Incoming, dict[str, Any], _Row | None]]) -> _Plan:
    plan = _Plan()
    emails = {m["email"].lower() for _, m, row in cleaned if row is None and m["email"]}
    known = _known_candidates(session, position.organization_id, emails)
    known_values = _candidates(session, list(known.values()))
    for item, merged, row in cleaned:
        application_values = {k: v for k, v in item.values.items() if k in APPLICATION}
        if row is None:
            candidate_id = known.get((merged["email"] or "").lower())
            if candidate_id is not None:  # the same person, from another position
                stored = known_values[candidate_id]
                given = {k: v for k, v in item.values.items() if k in CANDIDATE}
                _diff(plan.candidate_updates, candidate_id, stored, {**stored, **given})
            else:
                plan.new_candidates.append(
                    {"organization_id": position.organization_id, **merged})
            plan.new_applications.append({
                "organization_id": position.organization_id, "position_id": position.id,
                "candidate_id": candidate_id, "external_id": item.external_id,
                "outcome": "pending", "note": "", "note_revision": 0,
                **NEW_APPLICATION, **application_values})
            continue
        touched = _diff(plan.candidate_updates, row.candidate_id, row.candidate, merged)
        wanted = {**row.application, **application_values}
        if row.external_id != item.external_id:
            wanted["external_id"] = item.external_id
        if wanted != row.application:
            plan.application_updates[row.id] = wanted
            touched = True
        plan.unchanged += not touched
    return plan


def _diff(updates: dict[int, dict[str, Any]], candidate_id: int, stored: dict[str, Any],
          merged: dict[str, Any]) -> bool:
    """Note the candidate's new values when any differs; whether one did."""
    if merged == stored:
        return False
    updates[candidate_id] = merged
    return True


def _update_many(session: Session, table: Any, rows: dict[int, dict[str, Any]]) -> None:
    """One executemany per set of columns: ``UPDATE table SET … WHERE id = ?``."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in rows.items():
        by_columns.setdefault(tuple(sorted(values)), []).append(
            {"row_id": row_id, **{f"new_{k}": v for k, v in values.items()}})
    for columns, params in by_columns.items():
        session.execute(update(table).where(table.c.id == bindparam("row_id"))
                        .values({c: bindparam(f"new_{c}") for c in columns}), params)


def upsert_applications(session: Session, position: Position, items: Sequence[Incoming], *,
                        by: Member | None = None) -> Upserted:
    """Create or update the position's applications by external id; all or nothing."""
    if len(items) > MAX_ITEMS:
        raise RecruiterError(f"Send at most {MAX_ITEMS:,} applications at a time.")
    session.flush()
    plan = _plan(session, position, items)
    new_ids = iter(_insert_candidates(session, plan.new_candidates))
    for values in plan.new_applications:
        if values["candidate_id"] is None:
            values["candidate_id"] = next(new_ids)
    if plan.new_applications:
        session.execute(insert(Application.__table__), plan.new_applications)
    _update_many(session, Candidate.__table__, plan.candidate_updates)
    _update_many(session, Application.__table__, plan.application_updates)
    changed_candidates = set(plan.candidate_updates)
    if plan.new_applications or plan.application_updates or changed_candidates:
        _expire(session, changed_candidates, set(plan.application_updates))
        others: set[int] = set()
        wanted = sorted(changed_candidates)
        for start in range(0, len(wanted), _CHUNK):
            others.update(session.scalars(select(Application.position_id).where(
                Application.candidate_id.in_(wanted[start:start + _CHUNK]))))
        bump_review(session, others | {position.id})  # names and addresses are in letters
        session.expire(position, ["applications"])
    external_ids = sorted({item.external_id.strip() for item in items})
    ids: dict[str, int] = {}
    for start in range(0, len(external_ids), _CHUNK):
        ids.update((external_id, app_id) for app_id, external_id in session.execute(
            select(Application.id, Application.external_id).where(
                Application.position_id == position.id,
                Application.external_id.in_(external_ids[start:start + _CHUNK]))))
    created = len(plan.new_applications)
    updated = len(items) - created - plan.unchanged
    if created or updated:
        audit.record(session, position.organization_id, "applications.upserted", actor=by,
                     subject=position, payload={"created": created, "updated": updated,
                                                "unchanged": plan.unchanged})
    session.flush()
    return Upserted(created, updated, plan.unchanged,
                    {item.external_id.strip(): ids[item.external_id.strip()] for item in items})


def _expire(session: Session, candidate_ids: set[int], application_ids: set[int]) -> None:
    """Loaded objects that the Core UPDATEs changed are read again when next used."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Candidate) and obj.id in candidate_ids) or (
                isinstance(obj, Application) and obj.id in application_ids):
            session.expire(obj)
