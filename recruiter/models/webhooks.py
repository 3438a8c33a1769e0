"""Outgoing webhooks: where an organization wants to hear of events, and the outbox to them.

An event is written in the transaction of the change it reports, with one delivery row per
subscribed endpoint (the outbox), so a rolled-back change sends nothing and a committed one is
never lost; the worker delivers the rows afterwards, at least once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk
from .org import Member

WEBHOOK_EVENTS = ("letter.sent", "letter.failed", "letter.in_doubt", "letter.bounced",
                  "letter.cancelled", "batch.completed", "position.letters_ready")
WEBHOOK_DELIVERY_STATES = ("pending", "delivering", "delivered", "dead")


class WebhookEndpoint(db.Model):
    """A URL of an organization's own systems, the event types it takes, and its secret.

    The secret is kept (not hashed) because every delivery is signed with it.
    """

    __tablename__ = "webhook_endpoint"

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[created]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))

    created_by: Mapped[Member | None] = relationship()


class WebhookEvent(db.Model):
    """One thing that happened, as the receivers see it: ids and states, no personal text."""

    __tablename__ = "webhook_event"

    id: Mapped[intpk]
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # evt_…, the webhook-id
    organization_id: Mapped[org_fk]
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # Set for events that must be emitted once only (position.letters_ready per review version).
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[created]

    __table_args__ = (UniqueConstraint("organization_id", "dedup_key",
                                       name="uq_webhook_event_dedup"),)


class WebhookDelivery(db.Model):
    """One event to one endpoint: the outbox row the worker claims, retries and records."""

    __tablename__ = "webhook_delivery"

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_event.id", ondelete="CASCADE"),
                                          index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[created]

    event: Mapped[WebhookEvent] = relationship()
    endpoint: Mapped[WebhookEndpoint] = relationship()

    # The worker's question, "what is due?", reads this index only.
    __table_args__ = (Index("ix_webhook_delivery_due", "state", "next_attempt_at"),)


class WebhookFanout(db.Model):
    """Letters a send recorded, for the webhook worker to turn into one event per letter.

    The send writes this one row per recorded chunk, in its own transaction (so nothing is
    lost and a rolled-back send tells nothing); building the events, their payloads and the
    batch's completion is the webhook worker's work, off the send's path.
    """

    __tablename__ = "webhook_fanout"

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    type: Mapped[str] = mapped_column(String(40))  # a letter event, or batch.completed
    delivery_ids: Mapped[list] = mapped_column(JSON)
    state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
