"""A candidate's CV and cover letter: read beside the note, never sent, purged with the rest.

The metadata row (``Document``) is what lists and pages read; its extracted text is deferred,
and the uploaded bytes live in a table of their own (``DocumentContent``), so that no page
that lists documents ever loads them.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import created, intpk, org_fk

DOCUMENT_KINDS = ("cv", "cover_letter")
KIND_LABELS = {"cv": "CV", "cover_letter": "Cover letter"}
KIND_NOUNS = {"cv": "CV", "cover_letter": "cover letter"}  # within a sentence


class Document(db.Model):
    """One uploaded CV or cover letter of one application (one of each kind at most)."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # DOCUMENT_KINDS
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)  # bytes of the original
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"))
    uploaded_at: Mapped[created]
    # The plain text for reading beside the note; loaded only when asked for.
    text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    text_chars: Mapped[int] = mapped_column(Integer, default=0)

    content: Mapped[DocumentContent] = relationship(
        lazy="raise", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (UniqueConstraint("application_id", "kind"),)

    @property
    def label(self) -> str:
        """"CV" or "Cover letter"."""
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def noun(self) -> str:
        """"CV" or "cover letter", within a sentence."""
        return KIND_NOUNS.get(self.kind, self.kind)


class DocumentContent(db.Model):
    """The uploaded bytes of one document, as they were uploaded."""

    __tablename__ = "document_content"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("document.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

