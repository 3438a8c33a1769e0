"""Letters, the batch that approves them, and their deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk
from .hiring import Application, Position
from .org import BoilerplateVersion, Member

LETTER_STATUSES = ("draft", "approved", "frozen", "sent", "cancelled")
DELIVERY_STATES = ("held", "queued", "sending", "retry_wait", "sent", "failed", "in_doubt",
                   "cancelled")


class Batch(db.Model):
    """The letters of one position that one member approved together."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    position_id: Mapped[int] = mapped_column(
        ForeignKey("position.id", ondelete="CASCADE"), unique=True
    )
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    approved_at: Mapped[created]
    state: Mapped[str] = mapped_column(String(16), default="held")  # held, scheduled, released,
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # cancelled
    hold_until_accepted: Mapped[bool] = mapped_column(default=True)

    position: Mapped[Position] = relationship()
    approved_by: Mapped[Member | None] = relationship()


class Letter(db.Model):
    """One rendered letter for one application, frozen to exact bytes before sending."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), unique=True
    )
    boilerplate_version_id: Mapped[int] = mapped_column(ForeignKey("boilerplate_version.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # Why a letter was stopped (services/outcomes.py), and when; kept for the audit.
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A boilerplate that fails for this candidate: the letter shows why, no page fails.
    render_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    note_override: Mapped[str | None] = mapped_column(Text)
    note_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    note_revision: Mapped[int] = mapped_column(Integer, default=0)
    differentiator_revision: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    acknowledged: Mapped[list] = mapped_column(JSON, default=list)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    eml: Mapped[bytes | None] = mapped_column(LargeBinary)
    eml_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[created]
    updated_at: Mapped[created]

    application: Mapped[Application] = relationship()
    boilerplate_version: Mapped[BoilerplateVersion] = relationship()
    approved_by: Mapped[Member | None] = relationship(foreign_keys=[approved_by_id])
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="letter")

    # Covers the status counts of the letter list (services/review.py), so they do not read
    # the letter rows with their text, HTML, PDF and .eml. It leads with the organization
    # so that SQLite's planner prefers it to the unique index on application_id even without
    # ANALYZE statistics (the queries join on both columns).
    # ix_letter_frozen: finding a position's frozen letters reads this index, not the rows
    # (on SQLite frozen_at sits behind the stored PDF and email in the row).
    __table_args__ = (Index("ix_letter_review", "organization_id", "application_id", "status",
                            "updated_at", "id"),
                      Index("ix_letter_frozen", "application_id", "frozen_at", "id"))


class Delivery(db.Model):
    """Sending one letter over one channel; the row, not the queue, is the truth."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # email, post
    state: Mapped[str] = mapped_column(String(16), default="held", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipient: Mapped[str | None] = mapped_column(String(320))
    server_reply: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    created_at: Mapped[created]

    letter: Mapped[Letter] = relationship(back_populates="deliveries")

    __table_args__ = (UniqueConstraint("letter_id", "channel"),)
