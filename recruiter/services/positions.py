"""Positions and their applications: import, hire, notes and the differentiator."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session, joinedload, object_session

from ..errors import Conflict, NotFound, RecruiterError
from ..models import (
    STAGES,
    Application,
    Boilerplate,
    Candidate,
    Letter,
    Member,
    Organization,
    Position,
)
from . import audit, outcomes
from .addresses import check_position_reply_to
from .importing import CandidateRow, check_hires
from .languages import normalise, org_language
from .mail import valid_address
from .versions import bump_review, bump_review_of_candidate


def get_position(session: Session, org_id: int, position_id: int) -> Position:
    """One position of the organization, or NotFound (never another organization's)."""
    position = session.get(Position, position_id)
    if position is None or position.organization_id != org_id:
        raise NotFound("No such position.")
    return position


def get_application(session: Session, org_id: int, application_id: int) -> Application:
    """One application of the organization, or NotFound."""
    application = session.get(Application, application_id)
    if application is None or application.organization_id != org_id:
        raise NotFound("No such candidate.")
    return application


def create_position(session: Session, org: Organization, *, title: str, location: str = "",
                    differentiator: str = "", boilerplate: Boilerplate | None = None,
                    openings: int = 1, reply_to: str = "") -> Position:
    """Open a position; without a boilerplate, each letter suits the candidate's stage."""
    title = " ".join(title.split())
    if not title:
        raise RecruiterError("The position needs a title.")
    if not 1 <= openings <= 1000:
        raise RecruiterError("The number of openings must be between 1 and 1,000.")
    position = Position(organization_id=org.id, title=title, location=location.strip(),
                        differentiator=differentiator.strip(), boilerplate=boilerplate,
                        status="open", openings=openings,
                        reply_to=check_position_reply_to(reply_to))
    session.add(position)
    session.flush()
    return position


def set_reply_to(session: Session, position: Position, value: str,
                 by: Member | None = None) -> bool:
    """Set where replies to the position's letters go ("": the organization's); True if changed.

    Letters frozen before keep the Reply-To they were frozen with. A bad address is a
    RecruiterError naming the position's reply-to address. Flushes, never commits.
    """
    value = check_position_reply_to(value)
    if value == position.reply_to:
        return False
    position.reply_to = value
    audit.record(session, position.organization_id, "position.changed", actor=by,
                 subject=position, payload={"fields": ["reply_to"]})
    session.flush()
    return True


def existing_emails(session: Session, position: Position) -> set[str]:
    """The lower-cased emails already in the position."""
    rows = session.scalars(select(func.lower(Candidate.email)).join(
        Application, Application.candidate_id == Candidate.id).where(
        Application.position_id == position.id, Candidate.email.is_not(None)))
    return set(rows)


def import_rows(session: Session, position: Position, rows: Iterable[CandidateRow],
                by: Member | None = None) -> list[Application]:
    """Add the parsed rows to the position; rows marked hired are the hires.

    More hires than the position's openings (counting those it has) refuse the whole file,
    naming the rows. Candidates and applications go in as Core executemany INSERTs: the unit
    of work inserts row by row to learn each new id, and the ORM's bulk INSERT splits the rows
    into runs by which values are NULL; either made a 5,000-row import take seconds.
    """
    rows = list(rows)
    org_id = position.organization_id
    check_hires(rows, position.openings, already_hired=session.scalar(
        select(func.count()).select_from(Application).where(
            Application.position_id == position.id, Application.outcome == "hired")) or 0)
    known = _known_candidates(session, org_id, {r.email.lower() for r in rows if r.email})
    new = [r for r in rows if not (r.email and r.email.lower() in known)]
    org = session.get(Organization, org_id)
    own = org_language(org) if org else "en"  # a blank language cell is the organization's
    created = dict(zip(map(id, new), _insert_candidates(session, [
        {"organization_id": org_id, "email": r.email,
         **{name: getattr(r, name) for name in IMPORTED_FIELDS},
         "language": normalise(r.language) or own} for r in new]), strict=True))
    candidate_ids = [created.get(id(r)) or known[(r.email or "").lower()] for r in rows]
    if rows:
        session.execute(insert(Application.__table__), [
            {"organization_id": org_id, "position_id": position.id, "candidate_id": cand_id,
             "stage": r.stage, "outcome": r.outcome, "note": r.note,
             "internal_note": r.internal_note, "note_revision": 1 if r.note else 0}
            for r, cand_id in zip(rows, candidate_ids, strict=True)])
    session.expire(position, ["applications"])
    if any(r.outcome == "hired" for r in rows):
        outcomes.follow_hires(session, position)  # filled once every opening has its hire
    bump_review(session, position.id)
    session.flush()
    wanted = set(candidate_ids)
    added = [a for a in session.scalars(select(Application).where(
        Application.position_id == position.id).order_by(Application.id))
        if a.candidate_id in wanted]
    audit.record(session, org_id, "candidates.imported", actor=by, subject=position,
                 payload={"rows": len(added),
                          "hired": sum(1 for r in rows if r.outcome == "hired")})
    return added


def _insert_candidates(session: Session, values: list[dict[str, object]]) -> list[int]:
    """Insert candidates in one executemany; their new ids, in the order given."""
    if not values:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return list(session.scalars(
            insert(Candidate.__table__).returning(Candidate.__table__.c.id,
                                                  sort_by_parameter_order=True), values))
    # SQLite cannot order RETURNING rows, so SQLAlchemy would fall back to one INSERT per
    # row. It gives each new row the largest rowid plus one, and this transaction holds the
    # write lock from its first INSERT on, so the newest len(values) ids are these, in order.
    session.execute(insert(Candidate.__table__), values)
    return sorted(session.scalars(select(Candidate.id).order_by(Candidate.id.desc())
                                  .limit(len(values))))


IMPORTED_FIELDS = ("first_name", "last_name", "address_line1", "address_line2", "city",
                   "region", "postal_code", "country", "language", "salutation")
_IN_CHUNK = 500  # bound parameters per IN list: SQLite and PostgreSQL both cap them


def _known_candidates(session: Session, org_id: int, emails: set[str]) -> dict[str, int]:
    """The organization's candidate ids by lower-cased email, for the given emails."""
    known: dict[str, int] = {}
    wanted = sorted(emails)
    for start in range(0, len(wanted), _IN_CHUNK):
        for cand_id, email in session.execute(select(Candidate.id, Candidate.email).where(
                Candidate.organization_id == org_id,
                func.lower(Candidate.email).in_(wanted[start:start + _IN_CHUNK]))):
            known.setdefault((email or "").lower(), cand_id)
    return known


def hire_of(position: Position) -> Application | None:
    """The hired application with its candidate, if any: one query over an index.

    Walking ``position.applications`` loaded every application of the position, 5,000 rows
    for a big role, on every view of the sending page.
    """
    session = object_session(position)
    if session is None:
        raise RuntimeError("hire_of needs a position that belongs to a session")
    return session.scalar(
        select(Application).where(Application.position_id == position.id,
                                  Application.outcome == "hired")
        .options(joinedload(Application.candidate)).order_by(Application.id).limit(1))


def set_differentiator(session: Session, position: Position, text: str,
                       by: Member | None = None) -> None:
    """Save the differentiator; letters rendered from the old one drop back to draft."""
    text = " ".join(text.split())
    if len(text) > 300:
        raise RecruiterError("Keep the differentiator to one sentence (300 characters at most).")
    if text != position.differentiator:
        bump_review(session, position.id)
        position.differentiator = text
        position.differentiator_revision += 1
        audit.record(session, position.organization_id, "differentiator.saved", actor=by,
                     subject=position, payload={"revision": position.differentiator_revision,
                                                "sha256": audit.sha256_hex(text)})
    session.flush()


def save_note(session: Session, application: Application, note: str, *, base_revision: int,
              by: Member | None) -> Application:
    """Save a note unless someone saved another one since ``base_revision``."""
    note = note.replace("\r\n", "\n").strip()
    if "\0" in note:
        raise RecruiterError("The note contains a NUL character.")
    if len(note) > 5000:
        raise RecruiterError("The note is longer than 5,000 characters.")
    if note == application.note:
        return application
    # A conditional UPDATE, so two concurrent saves cannot both win.
    result = session.execute(
        update(Application)
        .where(Application.id == application.id, Application.note_revision == base_revision)
        .values(note=note, note_revision=Application.note_revision + 1,
                note_updated_at=datetime.now(UTC), note_updated_by_id=by.id if by else None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.refresh(application)
        raise Conflict("Someone else saved this note while you were editing it.")
    bump_review(session, application.position_id)
    session.refresh(application)
    audit.record(session, application.organization_id, "note.saved", actor=by,
                 subject=application, payload={"revision": application.note_revision,
                                               "sha256": audit.sha256_hex(note)})
    return application


CANDIDATE_FIELDS = ("first_name", "last_name", "email", "address_line1", "address_line2",
                    "city", "region", "postal_code", "country", "language")


def save_candidate(session: Session, position: Position, fields: dict[str, str], *,
                   stage: str, channel: str, application: Application | None = None
                   ) -> Application:
    """Add a candidate to the position, or update one; the email is checked and unique."""
    values = {name: (fields.get(name) or "").strip() for name in CANDIDATE_FIELDS}
    if not values["first_name"] and not values["last_name"]:
        raise RecruiterError("Give the candidate a first or a last name.")
    email = valid_address(values["email"], "email") if values["email"] else None
    if email:
        taken = session.scalar(select(Application.id).join(Candidate).where(
            Application.position_id == position.id, func.lower(Candidate.email) == email.lower(),
            Application.id != (application.id if application else -1)))
        if taken:
            raise RecruiterError(f"Another candidate of this position already has {email}.")
    if stage not in STAGES or channel not in ("auto", "email", "post"):
        raise RecruiterError("Choose a stage and a channel from the lists.")
    if channel == "email" and not email:
        raise RecruiterError("A letter by email needs an email address.")
    if application is None:
        candidate = Candidate(organization_id=position.organization_id)
        session.add(candidate)
        application = Application(organization_id=position.organization_id, position=position,
                                  candidate=candidate, outcome="pending")
        session.add(application)
    for name, value in values.items():
        setattr(application.candidate, name, value)
    application.candidate.email = email
    org = session.get(Organization, position.organization_id)
    application.candidate.language = normalise(values["language"]) or (
        org_language(org) if org else "en")
    application.stage, application.channel = stage, channel
    session.flush()
    # A new candidate, a new stage or channel, or a name or an address in every letter of
    # theirs (the same person may have applied to several positions).
    bump_review_of_candidate(session, application.candidate_id)
    return application


def applications_by_id(session: Session, ids: Sequence[int], *, authors: bool = False
                       ) -> list[Application]:
    """These applications, in this order, with their candidates.

    services/position_index.py gives a page's ids in name order. ``authors`` loads who last
    saved each note too, for the notes page.
    """
    if not ids:
        return []
    options = [joinedload(Application.candidate)]  # many-to-one: one query for the page
    if authors:
        options.append(joinedload(Application.note_updated_by))
    rows = {a.id: a for a in session.scalars(
        select(Application).where(Application.id.in_(ids)).options(*options))}
    return [rows[i] for i in ids if i in rows]


@dataclass(frozen=True)
class PositionSummary:
    """One row of the positions list."""

    position: Position
    applicants: int
    declined: int
    notes_written: int
    letters_approved: int
    letters_sent: int


def position_summaries(session: Session, org_id: int) -> list[PositionSummary]:
    """Every position of the organization with its counts, in three queries."""
    positions = session.scalars(select(Position).where(Position.organization_id == org_id)
                                .order_by(Position.created_at.desc(), Position.id.desc())).all()
    declined = Application.outcome == "declined"  # only a decline gets a letter and a note
    counts = {row.position_id: row for row in session.execute(
        select(Application.position_id, func.count().label("applicants"),
               func.sum(case((declined, 1), else_=0)).label("declined"),
               func.sum(case((declined & (Application.note != ""), 1), else_=0)).label("notes"))
        .where(Application.organization_id == org_id).group_by(Application.position_id))}
    letters = {(row.position_id, row.status): row.n for row in session.execute(
        select(Application.position_id, Letter.status, func.count().label("n"))
        .join(Letter, Letter.application_id == Application.id)
        .where(Application.organization_id == org_id)
        .group_by(Application.position_id, Letter.status))}
    summaries = []
    for position in positions:
        row = counts.get(position.id)
        summaries.append(PositionSummary(
            position=position, applicants=row.applicants if row else 0,
            declined=int(row.declined or 0) if row else 0,
            notes_written=int(row.notes or 0) if row else 0,
            letters_approved=sum(letters.get((position.id, s), 0)
                                 for s in ("approved", "frozen")),
            letters_sent=letters.get((position.id, "sent"), 0)))
    return summaries
