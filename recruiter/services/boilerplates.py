"""Shipped and organization boilerplates, and their versions."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound, TemplateError
from ..models import Boilerplate, BoilerplateVersion, Member, Organization
from ..paths import LETTERS_DIR
from . import audit
from .rendering import Boilerplate as Source
from .rendering import check_template


@dataclass(frozen=True)
class Shipped:
    """A boilerplate shipped in ``letters/<name>/``."""

    name: str
    title: str
    description: str
    subject: str
    body: str
    stages: tuple[str, ...] = ()
    required: tuple[str, ...] = field(default=())

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
            required=tuple(meta.get("required", ())),
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
    """Save an edit as a new version, refusing templates that do not compile."""
    source = Source(subject=subject.strip(), body=body)
    unknown = check_template(source)
    if unknown:
        raise TemplateError("Unknown merge field: " + ", ".join(unknown) + ".")
    current = bp.current
    if current.subject == source.subject and current.body == source.body:
        return current
    version = BoilerplateVersion(number=current.number + 1, subject=source.subject,
                                 body=source.body, created_by_id=by.id if by else None)
    bp.versions.append(version)
    session.flush()
    audit.record(session, bp.organization_id, "boilerplate.version", actor=by, subject=bp,
                 payload={"version": version.number, "subject_sha256": audit.sha256_hex(
                     version.subject), "body_sha256": audit.sha256_hex(version.body)})
    return version
