"""The organization's time zone, with its one fallback to UTC, and the day it is there."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from ..models import Organization


def zone_named(name: str | None) -> ZoneInfo:
    """The time zone called ``name``; UTC when it is unset or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def org_zone(org: Organization | None) -> ZoneInfo:
    """The organization's time zone; UTC when there is none or it is unknown."""
    return zone_named(org.timezone if org is not None else None)


def org_today(org: Organization | None, now: datetime | None = None) -> date:
    """The date ``now`` (default: this moment) falls on in the organization's time zone."""
    return (now or datetime.now(UTC)).astimezone(org_zone(org)).date()
