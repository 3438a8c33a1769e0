"""API tokens: how an applicant tracking system acts for one organization."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
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

    created_by: Mapped[Member | None] = relationship()
