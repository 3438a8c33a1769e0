"""The import preview of candidates.import_csv and import_confirm: what each column becomes.

Kept apart from views/candidates.py so the blueprint's module stays about its routes. Every
name here works on the uploaded bytes and the mapping the person chose; nothing is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import CandidateImportError
from ..forms.positions import ConfirmImportForm
from ..models import Application, Organization, Position
from ..services import ats
from ..services.importing import (
    ImportMapping,
    ParsedImport,
    check_hires,
    parse_candidates,
    read_headers,
)
from ..services.positions import existing_emails

# Rows split from a full name each get a greeting input while there are at most this many;
# above it only the rows whose split guessed (a title, a middle name, a script) get one.
GREETING_INPUTS = 300


@dataclass
class Preview:
    """Everything the preview page shows, whether or not the file can be imported."""

    headers: list[str]
    columns: list[tuple[int, str, str]]  # (index, header, field it becomes)
    values: list[tuple[str, str, str]] = field(default_factory=list)  # (field, raw, chosen)
    parsed: ParsedImport | None = None
    error: str = ""
    greetings: set[int] = field(default_factory=set)  # rows that get an input

    @property
    def can_import(self) -> bool:
        """Whether the confirm button is offered."""
        return self.parsed is not None and not self.error and bool(self.parsed.rows)


def build_preview(session: Session, position: Position, data: bytes,
                  mapping: ImportMapping) -> Preview:
    """Parse the upload with the mapping; a file-level refusal becomes the page's error."""
    headers = read_headers(data)
    preview = Preview(headers=headers, columns=[])
    try:
        parsed = parse_candidates(data, existing_emails(session, position), mapping=mapping)
    except CandidateImportError as exc:
        preview.error = str(exc)
        parsed = None
    else:
        hired = session.scalar(select(func.count()).select_from(Application).where(
            Application.position_id == position.id, Application.outcome == "hired")) or 0
        try:
            check_hires(parsed.rows, position.openings, already_hired=hired)
        except CandidateImportError as exc:
            preview.error = str(exc)
    preview.parsed = parsed
    became = dict(parsed.headers) if parsed else {}
    for index, title in enumerate(headers):
        chosen = became.get(title) or mapping.columns.get(title) or \
            ats.propose_field(title) or ats.IGNORED
        preview.columns.append((index, title, chosen))
    if parsed:
        for name in ats.CHOICES:
            preview.values += [(name, raw, chosen)
                               for raw, chosen in parsed.mapped_values.get(name, [])]
            preview.values += [(name, raw, "") for raw in parsed.unknown_values.get(name, [])]
        checks = parsed.name_checks
        many = len(checks) > GREETING_INPUTS
        preview.greetings = {row for row, reason in checks.items() if reason or not many}
    return preview


def render_preview(position: Position, token: str, preview: Preview, skip_invalid: bool = False,
                   greetings: dict[int, str] | None = None) -> str:
    """The preview page for an upload kept under ``token``."""
    form = ConfirmImportForm(token=token, skip_invalid=skip_invalid)
    return render_template("positions/import_preview.html", position=position, form=form,
                           preview=preview, parsed=preview.parsed, fields=ats.FIELDS,
                           ignored=ats.IGNORED, choices=ats.CHOICES, typed=greetings or {})


def remembered(session: Session, org_id: int, data: bytes) -> ImportMapping:
    """The organization's last confirmed mapping, when this file has the same headers."""
    org = session.get(Organization, org_id)
    return ImportMapping.remembered(org.import_mapping if org else None, read_headers(data))


def remember(session: Session, org_id: int, data: bytes, parsed: ParsedImport,
             mapping: ImportMapping) -> None:
    """Keep the confirmed mapping (every column as it was used) for the next import."""
    org = session.get(Organization, org_id)
    if org is None:
        return
    used = ImportMapping(columns={title: name for title, name in parsed.headers if title},
                         values=mapping.values)
    org.import_mapping = used.to_json(read_headers(data))
