"""Column helpers shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import DateTime, ForeignKey, Integer, TypeDecorator
from sqlalchemy.orm import mapped_column


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (called per row, not at import)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: D102
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; recruiter stores aware UTC times only")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: D102
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
created = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
org_fk = Annotated[
    int, mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
]
