"""Positions and their applications: import, hire, notes and the differentiator."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, RecruiterError
from ..models import OUTCOMES, Application, Boilerplate, Candidate, Member, Organization, Position
from .importing import CandidateRow


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
    """Open a position."""
    title = " ".join(title.split())
    if not title:
        raise RecruiterError("The position needs a title.")
    if boilerplate is None:
        boilerplate = session.scalar(select(Boilerplate).where(
            Boilerplate.organization_id == org.id).order_by(Boilerplate.shipped.desc(),
                                                            Boilerplate.name.desc()))
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


def import_rows(session: Session, position: Position, rows: Iterable[CandidateRow]
                ) -> list[Application]:
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
    return added


def _mark_filled(position: Position) -> None:
    if position.status == "open":
        position.status = "filled"
        position.filled_at = datetime.now(UTC)


def set_outcome(session: Session, application: Application, outcome: str) -> None:
    """Mark the hire, a withdrawal, a decline, or reinstate (back to pending)."""
    if outcome not in OUTCOMES:
        raise RecruiterError(f"The outcome must be one of {', '.join(OUTCOMES)}.")
    if outcome == "hired":
        for other in application.position.applications:
            if other.outcome == "hired" and other is not application:
                other.outcome = "declined"
        _mark_filled(application.position)
    application.outcome = outcome
    session.flush()


def hire_of(position: Position) -> Application | None:
    """The hired application, if any."""
    return next((a for a in position.applications if a.outcome == "hired"), None)


def set_differentiator(session: Session, position: Position, text: str) -> None:
    """Save the differentiator; letters rendered from the old one drop back to draft."""
    text = " ".join(text.split())
    if len(text) > 300:
        raise RecruiterError("Keep the differentiator to one sentence (300 characters at most).")
    if text != position.differentiator:
        position.differentiator = text
        position.differentiator_revision += 1
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
    return application
