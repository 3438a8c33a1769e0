"""Organization boilerplates and their versions per language (the shipped ones: shipped.py)."""

from __future__ import annotations

import re

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..errors import NotFound, RecruiterError, TemplateError
from ..models import (
    STAGES,
    Application,
    Boilerplate,
    BoilerplateVersion,
    Candidate,
    Letter,
    Member,
    Organization,
    Position,
)
from ..models.hiring import LETTER_OUTCOMES
from . import audit
from .languages import (
    differentiator_in,
    letter_locale,
    normalise,
    org_language,
    same,
    sender_title_in,
    typography,
)
from .orgtime import org_today
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, try_render_each
from .shipped import shipped_boilerplates, shipped_for_stage
from .template_checks import validate_template


def ensure_shipped(session: Session, org: Organization) -> list[Boilerplate]:
    """Give ``org`` its copy of every shipped boilerplate, in every shipped language.

    A new boilerplate gets one version per language. The organization's existing copy of a
    shipped boilerplate gets a first version in each shipped language it has none in (an
    upgrade that ships new languages); versions people saved are never touched. Returns the
    boilerplates that were added or given new languages.
    """
    have = {bp.name: bp for bp in session.scalars(select(Boilerplate).where(
        Boilerplate.organization_id == org.id))}
    changed = []
    for item in shipped_boilerplates().values():
        bp = have.get(item.name)
        if bp is None:
            bp = Boilerplate(organization_id=org.id, name=item.name,
                             title=item.title_in(org_language(org)),
                             description=item.description, shipped=True)
            session.add(bp)
        elif not bp.shipped:
            continue
        missing = [text for text in item.texts if bp.version_in(text[0]) is None]
        if not missing:
            continue
        last = max((v.number for v in bp.versions), default=0)
        # The organization's own language first, so its version is the lowest new number.
        missing.sort(key=lambda text: text[0] != org_language(org))
        for number, (language, subject, body) in enumerate(missing, start=last + 1):
            bp.versions.append(BoilerplateVersion(number=number, language=language,
                                                  subject=subject, body=body))
        changed.append(bp)
    session.flush()
    return changed


def get_boilerplate(session: Session, org_id: int, boilerplate_id: int) -> Boilerplate:
    """One boilerplate of the organization, or NotFound."""
    bp = session.get(Boilerplate, boilerplate_id)
    if bp is None or bp.organization_id != org_id:
        raise NotFound("No such boilerplate.")
    return bp


def save_version(session: Session, bp: Boilerplate, *, subject: str, body: str,
                 by: Member | None, language: str | None = None) -> BoilerplateVersion:
    """Save an edit as a new version in ``language`` (default: the organization's).

    Refuses a version that is unfit or fails for any candidate; the same text as the newest
    version in that language is no new version.
    """
    org = session.get(Organization, bp.organization_id)
    language = normalise(language) or (org_language(org) if org else "en")
    if not _LANGUAGE_RE.fullmatch(language):
        raise RecruiterError(f"“{language}” is not a language code (like en, fr or fr-CA).")
    source = Source(subject=subject.strip(), body=body)
    validate_template(source)
    current = bp.version_in(language)
    if current is not None and current.subject == source.subject \
            and current.body == source.body:
        return current
    trial_render(session, bp, source, language=language)
    number = max((v.number for v in bp.versions), default=0) + 1
    version = BoilerplateVersion(number=number, language=language,
                                 subject=source.subject, body=source.body,
                                 created_by_id=by.id if by else None)
    bp.versions.append(version)
    session.flush()
    audit.record(session, bp.organization_id, "boilerplate.version", actor=by, subject=bp,
                 payload={"version": version.number, "language": version.language,
                          "subject_sha256": audit.sha256_hex(version.subject),
                          "body_sha256": audit.sha256_hex(version.body)})
    return version


_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


# Letters that still follow their boilerplate (services/letters.py OPEN), and cancelled ones
# that come back as drafts when their candidate is declined again; the rest have left.
_FOLLOWING = ("draft", "approved", "cancelled")
MAX_NAMED = 10


def _users(bp: Boilerplate):  # noqa: ANN202
    """Where a declined application of an open position renders with ``bp``."""
    uses = Position.boilerplate_id == bp.id
    stages = [stage for stage in STAGES if shipped_for_stage(stage).name == bp.name]
    if stages:  # the organization's copy of a shipped boilerplate: positions on automatic
        uses = or_(uses, and_(Position.boilerplate_id.is_(None), Application.stage.in_(stages)))
    # "Open" as opposed to closed: a filled position is the one whose letters are being written.
    return and_(Position.organization_id == bp.organization_id, Position.status != "closed",
                Application.outcome.in_(LETTER_OUTCOMES), uses)


def _counts(session: Session, position_ids: set[int]) -> dict[int, tuple[int, int]]:
    """Applicants and interviewed people per position, as letters count them."""
    rows = session.execute(
        select(Application.position_id, func.count(),
               func.sum(case((Application.stage == "interviewed", 1), else_=0)))
        .where(Application.position_id.in_(position_ids)).group_by(Application.position_id))
    return {position_id: (total, int(interviewed or 0))
            for position_id, total, interviewed in rows}


def trial_render(session: Session, bp: Boilerplate, source: Source,
                 language: str | None = None) -> int:
    """Render ``source`` in preview mode for every candidate whose letter would use it.

    ``source`` is a version of ``bp`` in ``language`` (default: the organization's): it is
    tried for the candidates in that language, and, in the organization's language, for
    those whose language ``bp`` has no version in. Refuses with a TemplateError naming the
    candidates (the first ten) and the reasons when any render fails; returns how many
    letters were tried.
    """
    org = session.get(Organization, bp.organization_id)
    if org is None:
        raise NotFound("No such organization.")
    language = language or org_language(org)
    # Distinct ids, then the rows: PostgreSQL cannot compare the JSON columns DISTINCT needs.
    used = select(Position.id).join(Application).where(_users(bp)).distinct()
    positions = {p.id: p for p in session.scalars(select(Position).where(Position.id.in_(used)))}
    if not positions:  # still rendered once, with the limits, so no hostile text is saved
        _refuse_failures(["a sample candidate"], source, [_sample(org, language)])
        return 0
    counts = _counts(session, set(positions))
    rows = session.execute(
        select(Candidate, Application.stage, Application.note, Application.position_id,
               Letter.note_override)
        .join(Application, Application.candidate_id == Candidate.id)
        .join(Position, Position.id == Application.position_id)
        .outerjoin(Letter, Letter.application_id == Application.id)
        .where(_users(bp), or_(Letter.id.is_(None), Letter.status.in_(_FOLLOWING)))
        .order_by(Candidate.last_name, Candidate.first_name, Application.id))
    today = org_today(org)
    contexts: list[LetterContext] = []
    names: list[str] = []
    for candidate, stage, note, position_id, override in rows:
        wanted = candidate.language or org_language(org)
        if not same(wanted, language) and not (same(language, org_language(org))
                                               and bp.version_in(wanted) is None):
            continue  # this candidate's letter uses the version in their own language
        position = positions[position_id]
        contexts.append(LetterContext(
            candidate=CandidateFields.of(candidate, stage),
            note=typography(note if override is None else override, language),
            differentiator=typography(differentiator_in(position, language, org), language),
            position_title=position.title, position_location=position.location,
            organization_name=org.name, sender_name=org.sender_name,
            sender_title=sender_title_in(org, language),
            applicant_count=counts[position_id][0], interviewed_count=counts[position_id][1],
            today=today, locale=letter_locale(language, org)))
        name = candidate.full_name or candidate.email or f"candidate {candidate.id}"
        names.append(f"{name} ({position.title})")
    if not contexts:
        _refuse_failures(["a sample candidate"], source, [_sample(org, language)])
        return 0
    _refuse_failures(names, source, contexts)
    return len(contexts)


def _refuse_failures(names: list[str], source: Source, contexts: list[LetterContext]) -> None:
    # Every render runs in one worker process with CPU and memory limits, so a hostile
    # version is refused at save like in the preview, without holding up other requests.
    failures: dict[str, list[str]] = {}
    for name, reason in zip(names, try_render_each(source, contexts), strict=True):
        if reason is not None:
            failures.setdefault(reason, []).append(name)
    if failures:
        raise TemplateError(_failure_message(failures))


def _sample(org: Organization, language: str | None = None) -> LetterContext:
    language = language or org_language(org)
    return LetterContext(candidate=CandidateFields(first_name="Alex", full_name="Alex Sample"),
                         note="", differentiator="", position_title="(Position)",
                         position_location="", organization_name=org.name,
                         sender_name=org.sender_name,
                         sender_title=sender_title_in(org, language),
                         today=org_today(org), locale=letter_locale(language, org))


def _failure_message(failures: dict[str, list[str]]) -> str:
    total = sum(len(names) for names in failures.values())
    parts = [f"Not saved: this version fails for {total} candidate"
             f"{'' if total == 1 else 's'} of the positions that use it."]
    for reason, names in list(failures.items())[:3]:
        more = f", and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
        parts.append(f"{reason} For: {', '.join(names[:MAX_NAMED])}{more}.")
    if len(failures) > 3:
        parts.append(f"({len(failures) - 3} other reasons not shown.)")
    return " ".join(parts)
