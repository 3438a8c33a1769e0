"""Sending: the release gates chosen when a batch is frozen, in the organization's time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField
from wtforms.validators import Optional

SEND_HOUR = time(9, 0)  # a decline read first thing in the morning, not late on a Friday
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class SendForm(FlaskForm):
    """Freeze the approved letters; hold them for the hire, and say when they may leave."""

    hold = BooleanField("Hold until the hire accepts", default=True,
                        description="Nothing leaves until you confirm the hire accepted the "
                                    "offer, so no one is declined for a job that is still open.")
    send_at = DateTimeLocalField("Send at", format=LOCAL_FORMAT, validators=[Optional()])


def next_business_morning(zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """The next 09:00 on a weekday after ``now``, as a naive local time in ``zone``."""
    local = (now or datetime.now(UTC)).astimezone(zone)
    day = local.date()
    if local.time() >= SEND_HOUR:
        day += timedelta(days=1)
    while day.weekday() >= 5:  # Saturday, Sunday
        day += timedelta(days=1)
    return datetime.combine(day, SEND_HOUR)


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as UTC; ValueError for a time the clocks skip."""
    aware = local.replace(tzinfo=zone)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local:
        raise ValueError(f"{local:%H:%M} on {local:%d %B} does not exist in {zone.key}: the "
                         "clocks change then. Choose another time.")
    return utc


def local_label(moment: datetime, zone: ZoneInfo) -> str:
    """A UTC moment as people of the organization read it: 'Tuesday 4 March 2025, 09:00'."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone.key})"


def send_form(zone: ZoneInfo, now: datetime | None = None) -> SendForm:
    """An unsubmitted form, with the next business morning suggested as the send time."""
    form = SendForm(formdata=None)
    form.send_at.data = next_business_morning(zone, now)
    form.send_at.description = (f"Optional, local time in {zone.key}. The next business "
                                "morning is suggested; clear it to send as soon as the batch "
                                "is released.")
    return form
