"""Positions and their applications: import, hire, notes and the differentiator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, RecruiterError
from ..models import (
    OUTCOMES,
    STAGES,
    Application,
    Boilerplate,
    Candidate,
    Letter,
    Member,
    Organization,
    Position,
)
from . import audit
from .importing import CandidateRow
from .mail import valid_address


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
                    differentiator: str = "", boilerplate: Boilerplate | None = None
                    ) -> Position:
    """Open a position; without a boilerplate, each letter suits the candidate's stage."""
    title = " ".join(title.split())
    if not title:
        raise RecruiterError("The position needs a title.")
    position = Position(organization_id=org.id, title=title, location=location.strip(),
                        differentiator=differentiator.strip(), boilerplate=boilerplate,
                        status="open")
    session.add(position)
    session.flush()
    return position


def existing_emails(session: Session, position: Position) -> set[str]:
    """The lower-cased emails already in the position."""
    rows = session.scalars(select(func.lower(Candidate.email)).join(
        Application, Application.candidate_id == Candidate.id).where(
        Application.position_id == position.id, Candidate.email.is_not(None)))
    return set(rows)


def import_rows(session: Session, position: Position, rows: Iterable[CandidateRow],
                by: Member | None = None) -> list[Application]:
    """Add the parsed rows to the position; a row marked hired sets the hire."""
    rows = list(rows)
    emails = {r.email.lower() for r in rows if r.email}
    known: dict[str, Candidate] = {}
    if emails:
        for cand in session.scalars(select(Candidate).where(
                Candidate.organization_id == position.organization_id,
                func.lower(Candidate.email).in_(emails))):
            known[(cand.email or "").lower()] = cand
    added = []
    for row in rows:
        candidate = known.get((row.email or "").lower()) if row.email else None
        if candidate is None:
            candidate = Candidate(
                organization_id=position.organization_id, first_name=row.first_name,
                last_name=row.last_name, email=row.email, address_line1=row.address_line1,
                address_line2=row.address_line2, city=row.city, region=row.region,
                postal_code=row.postal_code, country=row.country, language=row.language)
            session.add(candidate)
        app = Application(organization_id=position.organization_id, position=position,
                          candidate=candidate, stage=row.stage, outcome=row.outcome,
                          note=row.note, note_revision=1 if row.note else 0)
        session.add(app)
        added.append(app)
    if any(r.outcome == "hired" for r in rows):
        _mark_filled(position)
    session.flush()
    audit.record(session, position.organization_id, "candidates.imported", actor=by,
                 subject=position, payload={"rows": len(added),
                                            "hired": sum(1 for r in rows if r.outcome == "hired")})
    return added


def _mark_filled(position: Position) -> None:
    if position.status == "open":
        position.status = "filled"
        position.filled_at = datetime.now(UTC)


def set_outcome(session: Session, application: Application, outcome: str,
                by: Member | None = None) -> None:
    """Mark the hire, a withdrawal, a decline, or reinstate (back to pending)."""
    if outcome not in OUTCOMES:
        raise RecruiterError(f"The outcome must be one of {', '.join(OUTCOMES)}.")
    if outcome == "hired":
        for other in application.position.applications:
            if other.outcome == "hired" and other is not application:
                other.outcome = "declined"
        _mark_filled(application.position)
    application.outcome = outcome
    if not application.gets_letter:  # a hire or a withdrawal gets no decline letter
        from .sending import cancel_for_application

        cancel_for_application(session, application)
    session.flush()
    audit.record(session, application.organization_id, "application.outcome", actor=by,
                 subject=application, payload={"outcome": outcome})


def hire_of(position: Position) -> Application | None:
    """The hired application, if any."""
    return next((a for a in position.applications if a.outcome == "hired"), None)


def set_differentiator(session: Session, position: Position, text: str,
                       by: Member | None = None) -> None:
    """Save the differentiator; letters rendered from the old one drop back to draft."""
    text = " ".join(text.split())
    if len(text) > 300:
        raise RecruiterError("Keep the differentiator to one sentence (300 characters at most).")
    if text != position.differentiator:
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
    application.candidate.language = values["language"] or "en"
    application.stage, application.channel = stage, channel
    session.flush()
    return application


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
    declined = Application.outcome.in_(("declined", "pending"))
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
