"""Rejection reasons: an organization's own list, kept for reporting and never in a letter."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._base import created, intpk, org_fk

LABEL_MAX = 120


class RejectionReason(db.Model):
    """Why a declined candidate was declined, as the team records it (not the candidate).

    A reason that was chosen once is deactivated, never deleted, so that the reports keep it.
    """

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    label: Mapped[str] = mapped_column(String(LABEL_MAX))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Where it shows in the lists, lowest first.
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[created]

    __table_args__ = (UniqueConstraint("organization_id", "label",
                                       name="uq_rejection_reason_label"),)
