"""Letters of a position: render, check, override, approve and export them.

Every function takes ORM objects and, where it writes, the session; none commits. Rendering
always runs in preview mode here (unfilled fields become visible ⟦marks⟧ that the checks
report). Frozen and sent letters are never changed here: their stored bytes are final.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, object_session, selectinload

from ..errors import RecruiterError, TemplateError
from ..models import (
    Application,
    Boilerplate,
    BoilerplateVersion,
    Letter,
    Organization,
    Position,
)
from . import rechecks, states
from .boilerplates import ensure_shipped
from .languages import (
    differentiator_in,
    letter_locale,
    normalise,
    org_language,
    primary,
    sender_title_in,
    typography,
)
from .orgtime import org_today
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, Rendered, render_letter
from .shipped import shipped_boilerplates, shipped_for_stage
from .versions import bump_review

LOCKED = ("frozen", "sent")  # their bytes are final: nothing here changes them
OPEN = ("draft", "approved")  # still follow the note, the differentiator and the boilerplate


# --- rendering -------------------------------------------------------------------------------

def _session(obj: object) -> Session:
    session = object_session(obj)
    if session is None:
        raise RecruiterError("This letter is not attached to the database any more.")
    return session


def organization_of(obj: Position | Application | Letter) -> Organization:
    """The organization an object belongs to, from the object's own session."""
    org = _session(obj).get(Organization, obj.organization_id)
    if org is None:
        raise RecruiterError("The organization of this letter no longer exists.")
    return org


def sort_key(application: Application) -> tuple[str, str, int]:
    """The order letters are listed and exported in: by last name, first name, then id."""
    cand = application.candidate
    return cand.last_name.casefold(), cand.first_name.casefold(), application.id


def effective_note(letter: Letter) -> str:
    """The personal paragraph this letter uses: its own override, else the candidate's note."""
    if letter.note_override is not None:
        return letter.note_override
    return letter.application.note


def _org_boilerplate(session: Session, org_id: int, name: str) -> Boilerplate:
    query = select(Boilerplate).where(Boilerplate.organization_id == org_id,
                                      Boilerplate.name == name)
    bp = session.scalar(query)
    if bp is None:
        org = session.get(Organization, org_id)
        if org is not None:
            ensure_shipped(session, org)
        bp = session.scalar(query)
    if bp is None or not bp.versions:
        raise RecruiterError(f"The boilerplate {name!r} is missing; ask an admin to restore it.")
    return bp


def boilerplate_of(application: Application) -> Boilerplate:
    """The boilerplate a letter uses: the position's, else the organization's for the stage."""
    position = application.position
    if position.boilerplate is not None:
        bp = position.boilerplate
    else:
        name = shipped_for_stage(application.stage).name
        bp = _org_boilerplate(_session(application), application.organization_id, name)
    if bp.shipped and _lacks_shipped_language(bp):  # shipped in a language since it was copied
        ensure_shipped(_session(application), organization_of(application))
    return bp


def _lacks_shipped_language(bp: Boilerplate) -> bool:
    shipped = shipped_boilerplates().get(bp.name)
    return shipped is not None and any(bp.version_in(code) is None
                                       for code in shipped.languages)


def wanted_language(application: Application, org: Organization) -> str:
    """The language the candidate asked for: theirs, else the organization's."""
    return normalise(application.candidate.language) or org_language(org)


def boilerplate_for(application: Application) -> BoilerplateVersion:
    """The version a letter uses: the newest in its candidate's language, else ``current``.

    ``current`` is the newest in the organization's language; the checks warn when a letter
    falls back to it (``language_findings``).
    """
    bp = boilerplate_of(application)
    wanted = wanted_language(application, organization_of(application))
    return bp.version_in(wanted) or bp.current


def language_of(version: BoilerplateVersion, org: Organization) -> str:
    """The language a letter rendered from ``version`` is written in."""
    return normalise(version.language) or org_language(org)


def _counts(applications: Sequence[Application]) -> tuple[int, int]:
    return len(applications), sum(1 for a in applications if a.stage == "interviewed")


def _context(application: Application, org: Organization, counts: tuple[int, int], *,
             note: str, today: date, language: str) -> LetterContext:
    """The letter's values in ``language``: its differentiator, sender title, date, numbers.

    A translation that is missing renders empty; ``language_findings`` stops the letter.
    """
    cand, position = application.candidate, application.position
    return LetterContext(
        candidate=CandidateFields.of(cand, application.stage),
        note=typography(note, language),
        differentiator=typography(differentiator_in(position, language, org), language),
        position_title=position.title, position_location=position.location,
        organization_name=org.name, sender_name=org.sender_name,
        sender_title=sender_title_in(org, language),
        applicant_count=counts[0], interviewed_count=counts[1], today=today,
        locale=letter_locale(language, org))


def context_for(application: Application, *, today: date | None = None,
                note: str | None = None, language: str | None = None) -> LetterContext:
    """The letter context of one application, with the position's real counts.

    ``language`` defaults to the language of the version its letter uses.
    """
    org = organization_of(application)
    if language is None:
        language = language_of(boilerplate_for(application), org)
    return _context(application, org, _counts(application.position.applications),
                    note=application.note if note is None else note,
                    today=today or org_today(org), language=language)


def send_contexts(letters: Sequence[Letter], *, today: date) -> list[LetterContext]:
    """Each letter's ``context_for`` with its own paragraph, counting each position once.

    Each in the language of the version the letter was rendered from.
    """
    orgs: dict[int, Organization] = {}
    counts: dict[int, tuple[int, int]] = {}
    contexts = []
    for letter in letters:
        application = letter.application
        org = orgs.get(application.organization_id)
        if org is None:
            org = orgs[application.organization_id] = organization_of(application)
        if application.position_id not in counts:
            counts[application.position_id] = _counts(application.position.applications)
        contexts.append(_context(application, org, counts[application.position_id],
                                 note=effective_note(letter), today=today,
                                 language=language_of(letter.boilerplate_version, org)))
    return contexts


def clear_approval(letter: Letter) -> None:
    """Forget who approved a letter and what they acknowledged (it is a draft again)."""
    letter.approved_at = None
    letter.approved_by_id = None
    letter.acknowledged = []


@lru_cache(maxsize=8192)
def _preview(subject: str, body: str, context: LetterContext) -> Rendered:
    # Rendering is pure and the context is frozen, so a page view that refreshes a large,
    # unchanged position reuses its letters instead of rendering them all again.
    return render_letter(Source(subject=subject, body=body), context, preview=True)


def render_failure(exc: TemplateError) -> str:
    """The one sentence a letter shows when its boilerplate fails for its candidate."""
    reason = str(exc).rstrip(".")
    return f"The boilerplate fails for this candidate: {reason[:1].lower()}{reason[1:]}."


def _render(application: Application, version: BoilerplateVersion, context: LetterContext
            ) -> dict[str, object]:
    """The rendered columns of a letter, in preview mode (unfilled fields show as marks).

    A boilerplate that fails for this candidate leaves the letter empty with its
    ``render_error`` set, so the pages still work and the checks stop its approval.
    """
    columns: dict[str, object] = {
        "boilerplate_version_id": version.id, "language": context_language(version),
        "note_revision": application.note_revision,
        "differentiator_revision": application.position.differentiator_revision}
    try:
        rendered = _preview(version.subject, version.body, context)
    except TemplateError as exc:
        error = render_failure(exc)
        return {**columns, "subject": "", "text": "", "html": "", "render_error": error,
                "content_hash": hashlib.sha256(f"render-error\0{error}".encode()).hexdigest()}
    return {**columns, "subject": rendered.subject, "text": rendered.text,
            "html": rendered.html, "content_hash": rendered.content_hash, "render_error": None}


def render_into(letter: Letter, version: BoilerplateVersion, context: LetterContext) -> None:
    """Re-render one open letter; an approved letter whose content changed is a draft again."""
    values = _render(letter.application, version, context)
    if values["content_hash"] != letter.content_hash:
        values["updated_at"] = datetime.now(UTC)
        if letter.status == "approved":
            letter.status = "draft"
            clear_approval(letter)
    for name, value in values.items():
        if getattr(letter, name) != value:  # unchanged rows stay out of the UPDATE
            setattr(letter, name, value)


def context_language(version: BoilerplateVersion) -> str:
    """The language a letter rendered from ``version`` stores (``Letter.language``)."""
    return normalise(version.language) or "en"


def _version_key(position: Position, application: Application, org: Organization
                 ) -> tuple[str, str]:
    return ("" if position.boilerplate_id else shipped_for_stage(application.stage).name,
            primary(wanted_language(application, org)))


def _letters_of(session: Session, position: Position) -> dict[int, Letter]:
    return {letter.application_id: letter for letter in session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id))}


def _follow_outcome(letter: Letter, application: Application) -> bool:
    """Cancel or restore an unfrozen letter with its candidate's outcome; True when it is open.

    ``outcomes.change_outcome`` stops letters as the outcome changes; this keeps letters that
    were drafted before an import or an old version in step. A letter cancelled after it was
    frozen (its bytes are evidence), or as a second letter to one person, stays cancelled.
    """
    if not application.gets_letter:
        if letter.status != "cancelled":
            letter.status = "cancelled"
            letter.cancel_reason = states.REASONS.get(application.outcome)
            letter.cancelled_at = datetime.now(UTC)
            clear_approval(letter)
        return False
    if letter.status == "cancelled":
        if not rechecks.restorable(letter):
            return False
        letter.status = "draft"
        letter.cancel_reason = letter.cancelled_at = None
        clear_approval(letter)
    return True


def refresh_letters(session: Session, position: Position, today: date | None = None
                    ) -> list[Letter]:
    """Bring every letter of the position up to date; returns them by candidate name."""
    applications = sorted(session.scalars(
        select(Application).where(Application.position_id == position.id)
        .options(selectinload(Application.candidate))).all(), key=sort_key)
    existing = _letters_of(session, position)
    org = organization_of(position)
    today = today or org_today(org)
    counts = _counts(applications)
    versions: dict[tuple[str, str], BoilerplateVersion] = {}
    for application in applications:
        key = _version_key(position, application, org)
        if application.gets_letter and key not in versions:
            versions[key] = boilerplate_for(application)
    new_rows: list[dict[str, object]] = []
    before = {x.id: (x.status, x.content_hash, x.render_error) for x in existing.values()}
    for application in applications:
        letter = existing.get(application.id)
        if letter is not None and (letter.status in LOCKED
                                   or not _follow_outcome(letter, application)):
            continue
        if letter is None and not application.gets_letter:
            continue
        version = versions[_version_key(position, application, org)]
        language = language_of(version, org)
        if letter is None:
            context = _context(application, org, counts, note=application.note, today=today,
                               language=language)
            new_rows.append({**_render(application, version, context), "status": "draft",
                             "organization_id": position.organization_id,
                             "application_id": application.id, "acknowledged": []})
        else:
            note = letter.note_override if letter.note_override is not None \
                else application.note
            render_into(letter, version, _context(application, org, counts, note=note,
                                                  today=today, language=language))
    if new_rows or any(before[x.id] != (x.status, x.content_hash, x.render_error)
                       for x in existing.values()):
        bump_review(session, position.id)  # what the review reads changed
    if new_rows:
        # One executemany: the unit of work would insert row by row to learn each new id.
        session.execute(insert(Letter), new_rows)
        existing = _letters_of(session, position)
    session.flush()
    return [existing[a.id] for a in applications if a.id in existing]
