"""API tokens: how an applicant tracking system acts for one organization."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk
from .org import Member

TOKEN_SCOPES = ("read", "write")


class ApiToken(db.Model):
    """One named token of an organization; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_token"

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(8))  # read, write
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists, to tell tokens apart
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[created]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The member (kind "token") the token acts as: the audit names it as the actor.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))

    created_by: Mapped[Member | None] = relationship(foreign_keys=[created_by_id])
    member: Mapped[Member | None] = relationship(foreign_keys=[member_id])


class IdempotentRequest(db.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, replayed to its repeats."""

    __tablename__ = "idempotent_request"

    id: Mapped[intpk]
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_sha256: Mapped[str] = mapped_column(String(64))  # method, path and body
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(2000))  # a 201's Location, replayed
    created_at: Mapped[created]

    __table_args__ = (UniqueConstraint("token_id", "key"),)
