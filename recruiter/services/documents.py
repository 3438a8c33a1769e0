"""CVs and cover letters: kept per organization within a size limit and a quota, never sent.

Saving, replacing and removing a document is audited (``document.uploaded``,
``document.removed``) with its kind, size and SHA-256, never its name or text. Pages read the
metadata and, when asked, a bounded excerpt of the text; the bytes are read only to download
the original. The retention purge and erasure call ``delete_documents``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import delete, func, literal, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Application, Document, DocumentContent, Member
from ..models.documents import DOCUMENT_KINDS, KIND_LABELS, KIND_NOUNS
from .audit import lock_organization, record_many, sha256_hex
from .documents_text import Checked, DocumentError, check_file, clean_name, megabytes

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The largest file, and the most all of an organization's documents may take, in bytes."""

    max_bytes: int = DEFAULT_MAX_BYTES
    quota_bytes: int = DEFAULT_QUOTA_BYTES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """RECRUITER_DOCUMENT_MAX_BYTES and RECRUITER_DOCUMENT_QUOTA_BYTES."""
        return cls(int(config.get("DOCUMENT_MAX_BYTES") or DEFAULT_MAX_BYTES),
                   int(config.get("DOCUMENT_QUOTA_BYTES") or DEFAULT_QUOTA_BYTES))


@dataclass(frozen=True)
class Upload:
    """One file to keep: for which application, as what, its name and bytes."""

    application: Application
    kind: str
    name: str
    data: bytes
    checked: Checked | None = None  # already accepted (a ZIP's preview): not read again


def used_bytes(session: Session, organization_id: int) -> int:
    """What the organization's documents take now."""
    return int(session.scalar(select(func.coalesce(func.sum(Document.size), 0)).where(
        Document.organization_id == organization_id)) or 0)


def get_document(session: Session, organization_id: int, application_id: int,
                 kind: str) -> Document:
    """One document of the organization, or NotFound."""
    found = session.scalar(select(Document).where(
        Document.organization_id == organization_id, Document.application_id == application_id,
        Document.kind == kind))
    if found is None:
        raise NotFound("There is no such document.")
    return found


def original_bytes(session: Session, document: Document) -> bytes:
    """The uploaded bytes, read only for the download."""
    return session.scalar(select(DocumentContent.data).where(
        DocumentContent.document_id == document.id)) or b""


def full_text(session: Session, document: Document) -> str:
    """The whole extracted text of one document."""
    return session.scalar(select(Document.text).where(Document.id == document.id)) or ""


class Shown(NamedTuple):
    """A document as the notes page shows it: its metadata and the start of its text.

    Plain columns, not a ``Document``: a page of fifty cards reads them at a third of the
    cost of ORM objects.
    """

    application_id: int
    kind: str
    file_name: str
    size: int
    text_chars: int
    excerpt: str
    label: str  # "CV" or "Cover letter", as Document.label
    noun: str  # "CV" or "cover letter", within a sentence

    @property
    def cut(self) -> bool:
        """Whether the page shows only the start of the text."""
        return len(self.excerpt) < self.text_chars


def documents_for(session: Session, application_ids: Iterable[int], *,
                  excerpt_chars: int = 0) -> dict[int, list[Shown]]:
    """The documents of these applications, CV first, with at most ``excerpt_chars`` of text.

    One query of a few columns; the text column itself and the bytes are never loaded.
    """
    ids = list(application_ids)
    if not ids:
        return {}
    excerpt = func.substr(Document.text, 1, excerpt_chars) if excerpt_chars else literal("")
    query = select(Document.application_id, Document.kind, Document.file_name, Document.size,
                   Document.text_chars, excerpt).where(
        Document.application_id.in_(ids)).order_by(Document.application_id, Document.kind.desc())
    shown: dict[int, list[Shown]] = {}
    for row in session.execute(query):
        kind = row.kind
        shown.setdefault(row[0], []).append(
            Shown(*row, KIND_LABELS.get(kind, kind), KIND_NOUNS.get(kind, kind)))
    return shown


def _payload(document: Document, **extra: Any) -> dict[str, Any]:
    return {"application_id": document.application_id, "kind": document.kind,
            "media_type": document.media_type, "size": document.size,
            "sha256": document.sha256, **extra}


def check_uploads(session: Session, uploads: Sequence[Upload], limits: Limits
                  ) -> list[Checked]:
    """Check every file and the quota together; nothing is written."""
    checked = []
    for upload in uploads:
        if upload.kind not in DOCUMENT_KINDS:
            raise DocumentError(f"{upload.name}: choose whether it is a CV or a cover letter.")
        checked.append(upload.checked or check_file(upload.name, upload.data, limits.max_bytes))
    if not uploads:
        return checked
    org_id = uploads[0].application.organization_id
    wanted = {(u.application.id, u.kind) for u in uploads}
    replaced = sum(size for app_id, kind, size in session.execute(
        select(Document.application_id, Document.kind, Document.size).where(
            Document.application_id.in_({app_id for app_id, _ in wanted})))
        if (app_id, kind) in wanted)
    adding = sum(len(u.data) for u in uploads)
    total = used_bytes(session, org_id) - replaced + adding
    if total > limits.quota_bytes:
        what = uploads[0].name if len(uploads) == 1 else f"These {len(uploads)} files"
        raise DocumentError(
            f"{what}: your organization's CVs and cover letters would take {megabytes(total)}, "
            f"more than its {megabytes(limits.quota_bytes)} quota. Remove documents that are "
            "no longer needed, or ask your administrator to raise the quota.")
    return checked


def save_documents(session: Session, uploads: Sequence[Upload], *, by: Member | None,
                   limits: Limits, via: str = "upload") -> list[Document]:
    """Keep every file or none: each replaces that application's document of its kind."""
    if not uploads:
        return []
    org_id = uploads[0].application.organization_id
    if any(u.application.organization_id != org_id for u in uploads):
        raise DocumentError("These files belong to candidates of different organizations.")
    lock_organization(session, org_id)  # uploads of one organization take turns: the quota
    checked = check_uploads(session, uploads, limits)
    saved = []
    for upload, found in zip(uploads, checked, strict=True):
        _delete_where(session, (Document.application_id == upload.application.id)
                      & (Document.kind == upload.kind))
        document = Document(
            organization_id=org_id, application_id=upload.application.id, kind=upload.kind,
            file_name=clean_name(upload.name), media_type=found.media_type,
            size=len(upload.data), sha256=sha256_hex(upload.data),
            uploaded_by_id=by.id if by is not None else None, text=found.text,
            text_chars=len(found.text))
        document.content = DocumentContent(data=upload.data)
        session.add(document)
        saved.append(document)
    session.flush()
    record_many(session, org_id, "document.uploaded",
                [(d, _payload(d, via=via)) for d in saved], actor=by)
    return saved


def remove_document(session: Session, document: Document, *, by: Member | None) -> None:
    """Delete one document, its text and its bytes; the audit keeps its hash."""
    record_many(session, document.organization_id, "document.removed",
                [(document, _payload(document))], actor=by)
    _delete_where(session, Document.id == document.id)


def _delete_where(session: Session, condition: Any) -> int:
    session.flush()
    ids = list(session.scalars(select(Document.id).where(condition)))
    if ids:
        session.execute(delete(DocumentContent).where(DocumentContent.document_id.in_(ids)))
        session.execute(delete(Document).where(Document.id.in_(ids)))
    return len(ids)


def delete_documents(session: Session, application_ids: Iterable[int]) -> int:
    """Delete the documents of these applications (purge, erasure); how many there were."""
    ids = list(application_ids)
    return _delete_where(session, Document.application_id.in_(ids)) if ids else 0


__all__ = ["DocumentError", "Limits", "Shown", "Upload", "delete_documents", "documents_for",
           "full_text", "get_document", "original_bytes", "remove_document", "save_documents",
           "used_bytes"]
