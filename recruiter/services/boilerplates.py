"""Shipped and organization boilerplates, and their versions."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
from ..paths import LETTERS_DIR
from . import audit
from .orgtime import org_today
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, try_render_each
from .template_checks import validate_template

DEFAULT_SUBJECT = "Your application for {{ position.title }} at {{ organization.name }}"


@dataclass(frozen=True)
class Shipped:
    """A boilerplate shipped in ``letters/<name>/``."""

    name: str
    title: str
    description: str
    subject: str
    body: str
    stages: tuple[str, ...] = ()

    @property
    def source(self) -> Source:
        """The subject and body, ready to render."""
        return Source(subject=self.subject, body=self.body)


@cache
def shipped_boilerplates(letters_dir: Path = LETTERS_DIR) -> dict[str, Shipped]:
    """Every boilerplate folder under ``letters/``, by name."""
    found: dict[str, Shipped] = {}
    for meta_path in sorted(letters_dir.glob("*/meta.toml")):
        folder = meta_path.parent
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
        found[folder.name] = Shipped(
            name=folder.name,
            title=meta["title"],
            description=meta.get("description", ""),
            subject=(folder / "subject.txt").read_text(encoding="utf-8").strip(),
            body=(folder / "body.md").read_text(encoding="utf-8"),
            stages=tuple(meta.get("stages", ())),
        )
    return found


def shipped_for_stage(stage: str) -> Shipped:
    """The shipped boilerplate that suits a candidate's stage."""
    shipped = shipped_boilerplates()
    for item in shipped.values():
        if stage in item.stages:
            return item
    return shipped["not-interviewed"]


def ensure_shipped(session: Session, org: Organization) -> list[Boilerplate]:
    """Give ``org`` its own copy of every shipped boilerplate it does not have yet."""
    have = set(session.scalars(select(Boilerplate.name).where(
        Boilerplate.organization_id == org.id)))
    added = []
    for item in shipped_boilerplates().values():
        if item.name in have:
            continue
        bp = Boilerplate(organization_id=org.id, name=item.name, title=item.title,
                         description=item.description, shipped=True)
        bp.versions.append(BoilerplateVersion(number=1, subject=item.subject, body=item.body))
        session.add(bp)
        added.append(bp)
    session.flush()
    return added


def get_boilerplate(session: Session, org_id: int, boilerplate_id: int) -> Boilerplate:
    """One boilerplate of the organization, or NotFound."""
    bp = session.get(Boilerplate, boilerplate_id)
    if bp is None or bp.organization_id != org_id:
        raise NotFound("No such boilerplate.")
    return bp


def save_version(session: Session, bp: Boilerplate, *, subject: str, body: str,
                 by: Member | None) -> BoilerplateVersion:
    """Save an edit as a new version; refuse one that is unfit or fails for any candidate."""
    source = Source(subject=subject.strip(), body=body)
    validate_template(source)
    current = bp.current
    if current.subject == source.subject and current.body == source.body:
        return current
    trial_render(session, bp, source)
    version = BoilerplateVersion(number=current.number + 1, subject=source.subject,
                                 body=source.body, created_by_id=by.id if by else None)
    bp.versions.append(version)
    session.flush()
    audit.record(session, bp.organization_id, "boilerplate.version", actor=by, subject=bp,
                 payload={"version": version.number, "subject_sha256": audit.sha256_hex(
                     version.subject), "body_sha256": audit.sha256_hex(version.body)})
    return version


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


def trial_render(session: Session, bp: Boilerplate, source: Source) -> int:
    """Render ``source`` in preview mode for every candidate whose letter would use ``bp``.

    Refuses with a TemplateError naming the candidates (the first ten) and the reasons when
    any render fails; returns how many letters were tried.
    """
    org = session.get(Organization, bp.organization_id)
    if org is None:
        raise NotFound("No such organization.")
    positions = {p.id: p for p in session.scalars(select(Position).join(Application).where(
        _users(bp)).distinct())}
    if not positions:  # still rendered once, with the limits, so no hostile text is saved
        _refuse_failures(["a sample candidate"], source, [_sample(org)])
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
        position = positions[position_id]
        contexts.append(LetterContext(
            candidate=CandidateFields.of(candidate, stage),
            note=note if override is None else override,
            differentiator=position.differentiator, position_title=position.title,
            position_location=position.location, organization_name=org.name,
            sender_name=org.sender_name, sender_title=org.sender_title,
            applicant_count=counts[position_id][0], interviewed_count=counts[position_id][1],
            today=today, locale=org.locale))
        name = candidate.full_name or candidate.email or f"candidate {candidate.id}"
        names.append(f"{name} ({position.title})")
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


def _sample(org: Organization) -> LetterContext:
    return LetterContext(candidate=CandidateFields(first_name="Alex", full_name="Alex Sample"),
                         note="", differentiator="", position_title="(Position)",
                         position_location="", organization_name=org.name,
                         sender_name=org.sender_name, sender_title=org.sender_title,
                         today=org_today(org), locale=org.locale)


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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecruiterError(f"{path}: no such file.") from None
    except UnicodeDecodeError as exc:
        raise RecruiterError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") \
            from None
    except OSError as exc:
        raise RecruiterError(f"{path}: cannot be read ({exc.strerror or exc}).") from None


def load_template(spec: str) -> tuple[str, Source]:
    """A boilerplate by shipped name, folder (body.md, subject.txt) or body file, checked.

    Returns its display name and source; refuses, naming the file, whatever could not be
    saved in the editor either.
    """
    shipped = shipped_boilerplates()
    if spec in shipped and not Path(spec).exists():
        return spec, shipped[spec].source
    path = Path(spec).expanduser()
    if path.is_dir():
        body_path, subject_path = path / "body.md", path / "subject.txt"
        body = _read(body_path)
        subject = _read(subject_path) if subject_path.exists() else DEFAULT_SUBJECT
        if (path / "meta.toml").exists():
            try:
                tomllib.loads(_read(path / "meta.toml"))
            except tomllib.TOMLDecodeError as exc:
                raise RecruiterError(f"{path / 'meta.toml'}: {exc}.") from None
        name = path.name
    elif path.exists():
        body_path, subject_path, subject = path, None, DEFAULT_SUBJECT
        body = _read(path)
        name = path.name
    else:
        names = ", ".join(sorted(shipped))
        raise RecruiterError(f"{spec}: no such boilerplate file or folder, and no shipped "
                             f"boilerplate of that name (shipped: {names}).")
    source = Source(subject=" ".join(subject.split()), body=body.replace("\r\n", "\n"))
    try:
        validate_template(Source(subject=source.subject, body=""),
                          str(subject_path or "the default subject"))
        validate_template(Source(subject="", body=source.body), str(body_path))
    except TemplateError as exc:
        raise TemplateError(str(exc), lineno=exc.lineno) from None
    return name, source
