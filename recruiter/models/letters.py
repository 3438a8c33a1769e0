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
                   "cancelled", "bounced")


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
    # The language the letter is written in: its candidate's, or the organization's when the
    # boilerplate has no version in the candidate's (a warning says so). None before 0014.
    language: Mapped[str | None] = mapped_column(String(16))
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
    created_at: Mapped[created]
    updated_at: Mapped[created]

    application: Mapped[Application] = relationship()
    boilerplate_version: Mapped[BoilerplateVersion] = relationship()
    approved_by: Mapped[Member | None] = relationship(foreign_keys=[approved_by_id])
    # Newest first: a bounced email's letter sent by post instead stands by its post delivery.
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="letter",
                                                      order_by="Delivery.id.desc()")
    # What was frozen for this letter when its batch was approved; None for a draft.
    frozen: Mapped[FrozenLetter | None] = relationship(back_populates="letter")

    # Covers the status counts of the letter list (services/review.py), so they do not read
    # the letter rows with their text and HTML. It leads with the organization so that
    # SQLite's planner prefers it to the unique index on application_id even without ANALYZE
    # statistics (the queries join on both columns).
    __table_args__ = (Index("ix_letter_review", "organization_id", "application_id", "status",
                            "updated_at", "id"),)


class FrozenLetter(db.Model):
    """The letter as it was frozen when its batch was approved: the bytes that leave, kept.

    Made only by ``services/sending/freeze.py``. An email letter's audit copy is its ``.eml``;
    a PDF is frozen only for a letter that goes by post (emails carry no PDF). Purging
    personal data empties ``eml`` and ``pdf`` and keeps the
    SHA-256, which the audit chain also holds.
    """

    __tablename__ = "frozen_letter"

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    letter_id: Mapped[int] = mapped_column(
        ForeignKey("letter.id", ondelete="CASCADE"), unique=True
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    boilerplate_version_id: Mapped[int] = mapped_column(ForeignKey("boilerplate_version.id"))
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The bytes load only when read: lists of frozen letters never carry them.
    eml: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    eml_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    letter: Mapped[Letter] = relationship(back_populates="frozen")
    boilerplate_version: Mapped[BoilerplateVersion] = relationship()


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
    last_error: Mapped[str | None] = mapped_column(Text)  # what went wrong, never a decision
    # The unguessable part of this delivery's VERP envelope sender (bounces+<token>@domain),
    # set when its organization has a bounce domain; a bounce names its delivery by it.
    bounce_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # What a bounce (a DSN, RFC 3464, or a relay's event) said: sent -> bounced.
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_status: Mapped[str | None] = mapped_column(String(16))  # "5.1.1"
    bounce_diagnostic: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created]

    letter: Mapped[Letter] = relationship(back_populates="deliveries")
    resolutions: Mapped[list[Resolution]] = relationship(
        back_populates="delivery", order_by="Resolution.id")

    __table_args__ = (UniqueConstraint("letter_id", "channel"),)


RESOLUTION_ACTIONS = ("mark_sent", "resend", "cancel", "posted", "by_post")


class Resolution(db.Model):
    """A person's decision about one delivery: who, when, which action, and why."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    action: Mapped[str] = mapped_column(String(16))  # one of RESOLUTION_ACTIONS
    state_before: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[created]

    delivery: Mapped[Delivery] = relationship(back_populates="resolutions")
    member: Mapped[Member | None] = relationship()
