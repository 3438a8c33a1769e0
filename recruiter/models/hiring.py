"""Positions, candidates and their applications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk
from .org import Boilerplate, Member
from .reasons import RejectionReason

POSITION_STATUSES = ("open", "filled", "closed")
STAGES = ("applied", "screened", "interviewed")
OUTCOMES = ("pending", "hired", "declined", "withdrawn")
LETTER_OUTCOMES = ("declined",)  # services/outcomes.py: only a decline gets a decline letter


def full_name(first_name: str, last_name: str) -> str:
    """First and last name, as written, either of which may be empty."""
    return " ".join(p for p in (first_name, last_name) if p)


def letter_channel(channel: str, email: str | None) -> str:
    """An application's letter channel: as chosen, or for "auto" email when there is one."""
    if channel != "auto":
        return channel
    return "email" if email else "post"


class Position(db.Model):
    """A job opening."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    title: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    # How many people this position hires; marking more hires asks to raise it.
    openings: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Bumped in the same transaction by every writer of what the letter review reads
    # (services/review.py keys its cache on it, never on sums of the data).
    review_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    differentiator: Mapped[str] = mapped_column(Text, default="")
    # The differentiator in other languages than the organization's own: {"fr": "..."}.
    differentiator_in: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    differentiator_revision: Mapped[int] = mapped_column(Integer, default=0)
    # Where replies to this position's letters go; empty: the organization's Reply-To.
    reply_to: Mapped[str] = mapped_column(String(320), default="", server_default="")
    boilerplate_id: Mapped[int | None] = mapped_column(ForeignKey("boilerplate.id"))
    hire_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[created]
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A big batch is frozen by a worker: since when, and why it failed (shown, then cleared).
    freezing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    freeze_problem: Mapped[str | None] = mapped_column(Text)

    boilerplate: Mapped[Boilerplate | None] = relationship()
    applications: Mapped[list[Application]] = relationship(
        back_populates="position", cascade="all, delete-orphan"
    )


class Candidate(db.Model):
    """A person who applied; personal data that retention eventually purges."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    address_line1: Mapped[str] = mapped_column(String(300), default="")
    address_line2: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(40), default="")
    country: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    # What follows "Dear": imported or corrected in the preview; empty means the first name.
    salutation: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[created]
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_rule: Mapped[str] = mapped_column(String(200), default="")

    @property
    def full_name(self) -> str:
        """First and last name, as written."""
        return full_name(self.first_name, self.last_name)

    @property
    def postal_lines(self) -> tuple[str, ...]:
        """The address block for an envelope window, without empty lines."""
        locality = " ".join(p for p in (self.city, self.region) if p)
        if self.postal_code:
            locality = f"{locality}  {self.postal_code}" if locality else self.postal_code
        lines = (self.full_name, self.address_line1, self.address_line2, locality, self.country)
        return tuple(line for line in lines if line)


class Application(db.Model):
    """A candidate applying to a position, with the stage, outcome and personal note."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    position_id: Mapped[int] = mapped_column(
        ForeignKey("position.id", ondelete="CASCADE"), index=True
    )
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("candidate.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16), default="applied")
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    # The team's own words from an ATS export: shown beside the note box, never in a letter.
    internal_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Optimistic concurrency: a save names the revision it started from.
    note_revision: Mapped[int] = mapped_column(Integer, default=0)
    note_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note_updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    channel: Mapped[str] = mapped_column(String(8), default="auto")  # auto, email, post
    # The applicant tracking system's own id for this application: the API's upsert key.
    external_id: Mapped[str | None] = mapped_column(String(200))
    # Why a declined candidate was declined, for reporting only: never in a letter or the API.
    # No ON DELETE: a reason once chosen is deactivated, never deleted (services/reasons.py).
    rejection_reason_id: Mapped[int | None] = mapped_column(
        ForeignKey("rejection_reason.id"), index=True)
    created_at: Mapped[created]

    position: Mapped[Position] = relationship(back_populates="applications")
    candidate: Mapped[Candidate] = relationship()
    note_updated_by: Mapped[Member | None] = relationship()
    rejection_reason: Mapped[RejectionReason | None] = relationship()

    __table_args__ = (
        UniqueConstraint("position_id", "candidate_id"),
        UniqueConstraint("position_id", "external_id"),
        # Covers the notes page's filter, so it does not read the rows (and their notes) of a
        # large position.
        Index("ix_application_review", "position_id", "outcome", "stage", "channel",
              "note_revision", "candidate_id", "id"),
    )

    @property
    def gets_letter(self) -> bool:
        """Whether a decline letter is due: only when declined (services/outcomes.py)."""
        return self.outcome in LETTER_OUTCOMES

    @property
    def letter_channel(self) -> str:
        """The channel this letter goes out on: email when there is an address."""
        return letter_channel(self.channel, self.candidate.email)
