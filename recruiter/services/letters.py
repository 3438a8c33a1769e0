"""Letters of a position: render, check, override, approve and export them.

Every function takes ORM objects and, where it writes, the session; none commits. Rendering
always runs in preview mode here (unfilled fields become visible ⟦marks⟧ that the checks
report). Frozen and sent letters are never changed here: their stored bytes are final.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, defer, object_session, selectinload

from ..errors import RecruiterError, TemplateError
from ..models import (
    Application,
    Boilerplate,
    BoilerplateVersion,
    Letter,
    Member,
    Organization,
    Position,
)
from . import audit, checks, outcomes
from .boilerplates import ensure_shipped, shipped_for_stage
from .csvcells import csv_safe
from .mail import Envelope, build_message, new_message_id, valid_address
from .orgtime import org_today, org_zone
from .pdf import PdfLetter, render_pdf, render_pdfs_parallel, render_print_bundle
from .positions import hire_of
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, Rendered, letter_date, render_letter
from .versions import bump_review

LOCKED = ("frozen", "sent")  # their bytes are final: nothing here changes them
OPEN = ("draft", "approved")  # still follow the note, the differentiator and the boilerplate


# --- rendering -------------------------------------------------------------------------------

def _session(obj: object) -> Session:
    session = object_session(obj)
    if session is None:
        raise RecruiterError("This letter is not attached to the database any more.")
    return session


def _organization(obj: Position | Application | Letter) -> Organization:
    org = _session(obj).get(Organization, obj.organization_id)
    if org is None:
        raise RecruiterError("The organization of this letter no longer exists.")
    return org


def _sort_key(application: Application) -> tuple[str, str, int]:
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


def boilerplate_for(application: Application) -> BoilerplateVersion:
    """The position's boilerplate, else the organization's copy of the one for the stage."""
    position = application.position
    if position.boilerplate is not None:
        return position.boilerplate.current
    name = shipped_for_stage(application.stage).name
    return _org_boilerplate(_session(application), application.organization_id, name).current


def _counts(applications: Sequence[Application]) -> tuple[int, int]:
    return len(applications), sum(1 for a in applications if a.stage == "interviewed")


def _context(application: Application, org: Organization, counts: tuple[int, int], *,
             note: str, today: date) -> LetterContext:
    cand, position = application.candidate, application.position
    return LetterContext(
        candidate=CandidateFields.of(cand, application.stage),
        note=note, differentiator=position.differentiator, position_title=position.title,
        position_location=position.location, organization_name=org.name,
        sender_name=org.sender_name, sender_title=org.sender_title,
        applicant_count=counts[0], interviewed_count=counts[1], today=today,
        locale=org.locale)


def context_for(application: Application, *, today: date | None = None,
                note: str | None = None) -> LetterContext:
    """The letter context of one application, with the position's real counts."""
    org = _organization(application)
    return _context(application, org, _counts(application.position.applications),
                    note=application.note if note is None else note,
                    today=today or org_today(org))


def send_contexts(letters: Sequence[Letter], *, today: date) -> list[LetterContext]:
    """Each letter's ``context_for`` with its own paragraph, counting each position once."""
    orgs: dict[int, Organization] = {}
    counts: dict[int, tuple[int, int]] = {}
    contexts = []
    for letter in letters:
        application = letter.application
        org = orgs.get(application.organization_id)
        if org is None:
            org = orgs[application.organization_id] = _organization(application)
        if application.position_id not in counts:
            counts[application.position_id] = _counts(application.position.applications)
        contexts.append(_context(application, org, counts[application.position_id],
                                 note=effective_note(letter), today=today))
    return contexts


def _clear_approval(letter: Letter) -> None:
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
        "boilerplate_version_id": version.id, "note_revision": application.note_revision,
        "differentiator_revision": application.position.differentiator_revision}
    try:
        rendered = _preview(version.subject, version.body, context)
    except TemplateError as exc:
        error = render_failure(exc)
        return {**columns, "subject": "", "text": "", "html": "", "render_error": error,
                "content_hash": hashlib.sha256(f"render-error\0{error}".encode()).hexdigest()}
    return {**columns, "subject": rendered.subject, "text": rendered.text,
            "html": rendered.html, "content_hash": rendered.content_hash, "render_error": None}


def _render_into(letter: Letter, version: BoilerplateVersion, context: LetterContext) -> None:
    """Re-render one open letter; an approved letter whose content changed is a draft again."""
    values = _render(letter.application, version, context)
    if values["content_hash"] != letter.content_hash:
        values["updated_at"] = datetime.now(UTC)
        if letter.status == "approved":
            letter.status = "draft"
            _clear_approval(letter)
    for name, value in values.items():
        if getattr(letter, name) != value:  # unchanged rows stay out of the UPDATE
            setattr(letter, name, value)


def _version_key(position: Position, application: Application) -> str:
    return "" if position.boilerplate_id else shipped_for_stage(application.stage).name


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
            letter.cancel_reason = outcomes.REASONS.get(application.outcome)
            letter.cancelled_at = datetime.now(UTC)
            _clear_approval(letter)
        return False
    if letter.status == "cancelled":
        if not outcomes.restorable(letter):
            return False
        letter.status = "draft"
        letter.cancel_reason = letter.cancelled_at = None
        _clear_approval(letter)
    return True


def refresh_letters(session: Session, position: Position, today: date | None = None
                    ) -> list[Letter]:
    """Bring every letter of the position up to date; returns them by candidate name."""
    applications = sorted(session.scalars(
        select(Application).where(Application.position_id == position.id)
        .options(selectinload(Application.candidate))).all(), key=_sort_key)
    existing = _letters_of(session, position)
    org = _organization(position)
    today = today or org_today(org)
    counts = _counts(applications)
    versions: dict[str, BoilerplateVersion] = {}
    for application in applications:
        key = _version_key(position, application)
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
        version = versions[_version_key(position, application)]
        if letter is None:
            context = _context(application, org, counts, note=application.note, today=today)
            new_rows.append({**_render(application, version, context), "status": "draft",
                             "organization_id": position.organization_id,
                             "application_id": application.id, "acknowledged": []})
        else:
            note = letter.note_override if letter.note_override is not None \
                else application.note
            _render_into(letter, version,
                         _context(application, org, counts, note=note, today=today))
    if new_rows or any(before[x.id] != (x.status, x.content_hash, x.render_error)
                       for x in existing.values()):
        bump_review(session, position.id)  # what the review reads changed
    if new_rows:
        # One executemany: the unit of work would insert row by row to learn each new id.
        session.execute(insert(Letter), new_rows)
        existing = _letters_of(session, position)
    session.flush()
    return [existing[a.id] for a in applications if a.id in existing]


# --- checks and review -----------------------------------------------------------------------

def _facts(position: Position) -> checks.BatchFacts:
    org = _organization(position)
    hire = hire_of(position)
    names = (hire.candidate.full_name,) if hire and hire.candidate.full_name else ()
    return checks.BatchFacts(
        differentiator=position.differentiator, hire_names=names,
        hire_email=hire.candidate.email if hire else None,
        retention_months=org.retention_months,
        language=(org.locale or "en").replace("_", "-").split("-")[0])


def letter_findings(position: Position, letters: Iterable[Letter]
                    ) -> dict[int, list[checks.Finding]]:
    """The check findings of each letter that is not cancelled, by letter id."""
    letters = [letter for letter in letters if letter.status != "cancelled"]
    under_check = [
        checks.LetterUnderCheck(
            key=letter.id, text=letter.text, note=effective_note(letter),
            candidate_names=(letter.application.candidate.first_name,
                             letter.application.candidate.last_name))
        for letter in letters]
    if not under_check:
        return {}
    found = dict(checks.check_batch(under_check, _facts(position)))
    for letter in letters:  # a letter its boilerplate fails for cannot be approved
        if letter.render_error:
            found[letter.id] = [checks.Finding("render-error", "error", letter.render_error),
                                *found.get(letter.id, [])]
    return found


def differentiator_findings(position: Position) -> list[checks.Finding]:
    """The findings on the position's differentiator sentence."""
    return checks.check_differentiator(position.differentiator, _facts(position))


def review_counts(letters: Iterable[Letter], findings: dict[int, list[checks.Finding]]
                  ) -> dict[str, int]:
    """Letters per status, the non-cancelled total, and how many carry errors or warnings."""
    letters = list(letters)
    by_status = Counter(letter.status for letter in letters)
    counts = {status: by_status.get(status, 0)
              for status in ("draft", "approved", "cancelled", "frozen", "sent")}
    counts["total"] = len(letters) - counts["cancelled"]
    live = [findings.get(letter.id, []) for letter in letters if letter.status != "cancelled"]
    counts["errors"] = sum(1 for fs in live if any(f.severity == "error" for f in fs))
    counts["warnings"] = sum(1 for fs in live if any(f.severity == "warning" for f in fs))
    return counts


def set_note_override(session: Session, letter: Letter, text: str, member: Member) -> None:
    """Give this one letter its own personal paragraph; empty text goes back to the note."""
    if letter.status in LOCKED or letter.status == "cancelled":
        raise RecruiterError(f"This letter is {letter.status}; its paragraph can no longer "
                             "be changed.")
    text = (text or "").replace("\r\n", "\n").strip()
    if "\0" in text:
        raise RecruiterError("The paragraph contains a NUL character.")
    if len(text) > 5000:
        raise RecruiterError("The paragraph is longer than 5,000 characters.")
    bump_review(session, letter.application.position_id)
    letter.note_override = text or None
    letter.note_override_by_id = member.id if text else None
    application = letter.application
    _render_into(letter, boilerplate_for(application),
                 context_for(application, note=effective_note(letter)))
    session.flush()
    audit.record(session, letter.organization_id, "letter.override", actor=member,
                 subject=letter, payload={"cleared": not text,
                                          "sha256": audit.sha256_hex(text) if text else None})


def _warnings(findings: Iterable[checks.Finding]) -> list[dict[str, object]]:
    """The findings an approval acknowledges: id, severity and span, never their words.

    Messages can quote a note or name another candidate; the audit keeps no personal text,
    and the span points into the letter's stored text instead.
    """
    return [{"check": f.check, "severity": f.severity, "start": f.start, "end": f.end}
            for f in findings if f.severity == "warning"]


def _approved_payload(letter: Letter) -> dict[str, object]:
    """The ``letter.approved`` event: the content approved and what was acknowledged."""
    return {"content_sha256": letter.content_hash,
            "warnings_acknowledged": len(letter.acknowledged),
            "acknowledged": list(letter.acknowledged)}


def _approve(letter: Letter, findings: Sequence[checks.Finding], member: Member,
             now: datetime) -> None:
    letter.status = "approved"
    letter.approved_at = now
    letter.approved_by_id = member.id
    letter.acknowledged = _warnings(findings)


def approve_letter(session: Session, letter: Letter, findings: Sequence[checks.Finding],
                   member: Member, *, acknowledge: bool) -> None:
    """Approve one letter: never with errors, and with warnings only when acknowledged.

    The candidate is checked again first (services/outcomes.py): a letter that must not go is
    cancelled with its reason and LetterStopped is raised; the caller commits that.
    """
    if letter.status not in OPEN:
        raise RecruiterError(f"This letter is {letter.status} and cannot be approved.")
    if not outcomes.recheck(session, [letter], step="approval", actor=member):
        raise outcomes.LetterStopped(f"This letter was cancelled: {letter.cancel_reason}")
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise RecruiterError(f"This letter has {len(errors)} error"
                             f"{'s' if len(errors) > 1 else ''}; fix "
                             f"{'them' if len(errors) > 1 else 'it'} before approving.")
    if _warnings(findings) and not acknowledge:
        raise RecruiterError("This letter has warnings: read them, then tick the "
                             "acknowledgement to approve it as it is.")
    _approve(letter, findings, member, datetime.now(UTC))
    session.flush()
    audit.record(session, letter.organization_id, "letter.approved", actor=member,
                 subject=letter, payload=_approved_payload(letter))


def unapprove_letter(session: Session, letter: Letter, member: Member | None = None) -> None:
    """Take an approved letter back to draft."""
    if letter.status != "approved":
        raise RecruiterError(f"Only an approved letter can go back to draft; this one is "
                             f"{letter.status}.")
    letter.status = "draft"
    _clear_approval(letter)
    session.flush()
    audit.record(session, letter.organization_id, "letter.unapproved", actor=member,
                 subject=letter)


def approve_all(session: Session, position: Position, member: Member, *, expected_count: int,
                acknowledge_warnings: bool) -> int:
    """Approve every open letter at once, after the member confirmed how many there are.

    Each candidate is checked again first: a letter that must not go (a second letter to the
    same person) is cancelled with its reason, and the count the member saw still confirms.
    """
    shown = [x for x in refresh_letters(session, position) if x.status in OPEN]
    if not shown:
        raise RecruiterError("There are no letters to approve.")
    if expected_count != len(shown):
        raise RecruiterError(f"You confirmed {expected_count} letters but there are "
                             f"{len(shown)}; review the list again.")
    letters = outcomes.recheck(session, shown, step="approval", actor=member)
    if not letters:
        return 0
    findings = letter_findings(position, letters)
    with_errors = sum(1 for x in letters
                      if any(f.severity == "error" for f in findings.get(x.id, [])))
    if with_errors:
        raise RecruiterError(f"{with_errors} letter{' has' if with_errors == 1 else 's have'} "
                             "errors; fix them before approving.")
    if not acknowledge_warnings and any(_warnings(findings.get(x.id, [])) for x in letters):
        raise RecruiterError("Some letters have warnings: read them, then tick the "
                             "acknowledgement to approve the letters as they are.")
    now = datetime.now(UTC)
    approved = [x for x in letters if x.status == "draft"]
    for letter in approved:  # every check passed above, so this loop cannot refuse halfway
        _approve(letter, findings.get(letter.id, []), member, now)
    session.flush()
    audit.record_many(session, position.organization_id, "letter.approved",
                      [(x, _approved_payload(x)) for x in approved], actor=member)
    audit.record(session, position.organization_id, "letters.approved_all", actor=member,
                 subject=position, payload={
                     "letters": len(letters),
                     "warnings_acknowledged": sum(len(x.acknowledged) for x in letters),
                     "content_sha256": audit.sha256_hex("".join(x.content_hash
                                                                for x in letters))})
    return len(letters)


# --- PDFs, emails and exports ----------------------------------------------------------------

def _letter_day(letter: Letter, org: Organization) -> date:
    """The date a letter carries: the day it was frozen, else today, in the org's zone."""
    if letter.frozen_at is None:
        return org_today(org)
    return letter.frozen_at.astimezone(org_zone(org)).date()


def _pdf_letter(letter: Letter, org: Organization) -> PdfLetter:
    cand = letter.application.candidate
    # Shipped boilerplates sign off in the body; the letterhead signs only when they do not.
    signs = bool(org.sender_name) and org.sender_name not in letter.text
    return PdfLetter(
        key=f"letter-{letter.id}", organization_name=org.name,
        organization_address=org.address_lines,
        date=letter_date(org.locale, _letter_day(letter, org)), recipient=cand.postal_lines,
        subject=letter.subject, body_html=letter.html,
        sender_name=org.sender_name if signs else "",
        sender_title=org.sender_title if signs else "", language=org.locale or "en")


def _refuse_failed(letter: Letter) -> None:
    if letter.render_error and not (letter.status in LOCKED and letter.pdf):
        raise RecruiterError(letter.render_error)


def letter_pdf(letter: Letter, *, page_size: str = "A4") -> bytes:
    """The letterhead PDF: the stored bytes once frozen, else rendered now."""
    if letter.status in LOCKED and letter.pdf:
        return letter.pdf
    _refuse_failed(letter)
    return render_pdf(_pdf_letter(letter, _organization(letter)), page_size=page_size)


def _eml(letter: Letter, org: Organization) -> bytes:
    _refuse_failed(letter)
    cand = letter.application.candidate
    if not cand.email:
        raise RecruiterError(f"{cand.full_name or 'This candidate'} has no email address; "
                             "this letter goes by post.")
    domain = org.sender_email.rpartition("@")[2]
    envelope = Envelope(sender_name=org.sender_name or org.name, sender_email=org.sender_email,
                        recipient_name=cand.full_name, recipient_email=cand.email,
                        message_id=letter.message_id or new_message_id(domain))
    return build_message(envelope, subject=letter.subject, text=letter.text,
                         html=letter.html).as_bytes()


def letter_eml(letter: Letter) -> bytes:
    """The letter as an email message: the stored bytes once frozen, else built now."""
    if letter.eml:
        return letter.eml
    return _eml(letter, _organization(letter))


def _export_letters(session: Session, position: Position) -> list[Letter]:
    """The position's letters that are not cancelled, by candidate name, without blobs."""
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id,
                                               Letter.status != "cancelled")
        .options(defer(Letter.pdf), defer(Letter.eml),
                 selectinload(Letter.application).selectinload(Application.candidate))).all()
    return sorted(letters, key=lambda x: _sort_key(x.application))


def print_bundle(session: Session, position: Position, *, page_size: str = "A4") -> bytes:
    """One print-ready PDF of every letter that goes by post."""
    org = _organization(position)
    post = [x for x in _export_letters(session, position)
            if x.application.letter_channel == "post"]
    failed = [x for x in post if x.render_error and x.status not in LOCKED]
    if failed:  # a bundle for the printer must hold every letter, or none
        names = ", ".join(x.application.candidate.full_name for x in failed[:10])
        raise RecruiterError(f"{len(failed)} letter{' fails' if len(failed) == 1 else 's fail'}"
                             f" to render ({names}{', …' if len(failed) > 10 else ''}); fix the"
                             " boilerplate first.")
    if not post:
        raise RecruiterError("No letter of this position goes by post.")
    return render_print_bundle([_pdf_letter(x, org) for x in post], page_size=page_size)


class _Pipe:
    """A write-only, unseekable file: zipfile writes into it, and we hand the bytes on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _file_stem(number: int, width: int, application: Application) -> str:
    cand = application.candidate
    parts = []
    for name in (cand.last_name, cand.first_name):
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-")
        if slug:
            parts.append(slug)
    return f"{number:0{width}d}-{'-'.join(parts) or 'candidate'}"


def _chunks(items: Sequence[Letter], size: int) -> Iterator[Sequence[Letter]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def iter_letters_zip(session: Session, position: Position, chunk: int = 50, *,
                     page_size: str = "A4") -> Iterator[bytes]:
    """Stream a ZIP of every letter (PDF, and .eml when there is an address) with index.csv."""
    org = _organization(position)
    letters = _export_letters(session, position)
    width = max(3, len(str(len(letters))))
    if any(x.application.candidate.email for x in letters):
        valid_address(org.sender_email, "sender address of the organization")
    pipe = _Pipe()
    index = io.StringIO()
    rows = csv.writer(index)
    rows.writerow(["letter_id", "candidate", "email", "channel", "status", "pdf", "eml",
                   "problem"])
    archive = zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore
    with archive:
        number = 0
        for part in _chunks(letters, chunk):
            # Stored bytes of frozen letters, for this chunk only, so memory stays flat.
            locked = [x.id for x in part if x.status in LOCKED]
            stored = {row.id: row for row in session.execute(
                select(Letter.id, Letter.pdf, Letter.eml).where(Letter.id.in_(locked)))
                } if locked else {}
            # A letter its boilerplate fails for has no document: index.csv says why.
            failed = {x.id for x in part if x.render_error
                      and not (x.id in stored and stored[x.id].pdf)}
            fresh = [x for x in part if not (x.id in stored and stored[x.id].pdf)
                     and x.id not in failed]
            rendered = dict(zip((x.id for x in fresh),
                                render_pdfs_parallel([_pdf_letter(x, org) for x in fresh],
                                                     page_size=page_size),
                                strict=True))
            for letter in part:
                number += 1
                cand = letter.application.candidate
                stem = _file_stem(number, width, letter.application)
                if letter.id in failed:
                    rows.writerow([csv_safe(v) for v in (
                        letter.id, cand.full_name, cand.email or "",
                        letter.application.letter_channel, letter.status, "", "",
                        letter.render_error)])
                    continue
                pdf = rendered.get(letter.id) or stored[letter.id].pdf
                archive.writestr(f"{stem}.pdf", pdf, compress_type=zipfile.ZIP_STORED)
                eml_name = ""
                if cand.email:
                    saved = stored[letter.id].eml if letter.id in stored else None
                    eml_name = f"{stem}.eml"
                    archive.writestr(eml_name, saved or _eml(letter, org))
                rows.writerow([csv_safe(v) for v in (
                    letter.id, cand.full_name, cand.email or "", letter.application.letter_channel,
                    letter.status, f"{stem}.pdf", eml_name, "")])
                yield pipe.drain()
            del rendered, stored
        archive.writestr("index.csv", index.getvalue().encode("utf-8"))
    yield pipe.drain()
