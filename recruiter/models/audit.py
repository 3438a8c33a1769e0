"""The audit trail and erasure requests: hashes and references, never personal text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, JSON, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk


class AuditEvent(db.Model):
    """An append-only, hash-chained record of a consequential action; hashes, never text."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    seq: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created]
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("organization_id", "seq"),)


class ErasureRequest(db.Model):
    """A person asked to be forgotten; kept as a hash of their email, never the address."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    # The column keeps its first name: new rows hold HMAC-SHA256 of the lower-cased email,
    # keyed from the secret key ("hmac"); rows from before migration 0007 hold a plain
    # SHA-256 ("sha256", which anyone can confirm for a guessed address) and are matched so.
    email_sha256: Mapped[str] = mapped_column(String(64), index=True)
    email_hash_kind: Mapped[str] = mapped_column(String(16), default="hmac",
                                                 server_default="sha256")
    status: Mapped[str] = mapped_column(String(16))  # done, restricted
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[created]
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    carried_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The same append-only guards as migrations 0002 and 0004, for schemas built with create_all.
event.listen(AuditEvent.__table__, "after_create", DDL("""
CREATE OR REPLACE FUNCTION audit_event_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_immutable();
""").execute_if(dialect="postgresql"))
