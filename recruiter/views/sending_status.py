"""What a position's batch is doing, in the words of the sending page and its live counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..forms.sending import local_label
from ..models import Batch, Delivery, Letter, Organization, Position, Resolution
from ..services import sending
from ..services.csvcells import csv_safe
from ..services.orgtime import org_zone

# Email deliveries that will still leave without anyone doing anything.
MOVING = ("queued", "sending", "retry_wait")


@dataclass(frozen=True)
class Progress:
    """Deliveries of one batch by what they wait for; cancelled ones are out of the total."""

    sent: int = 0
    queued: int = 0  # email queued, sending or waiting to retry
    retrying: int = 0  # of those, waiting to retry
    failed: int = 0
    in_doubt: int = 0
    held: int = 0
    to_post: int = 0  # released post letters nobody confirmed as mailed yet
    cancelled: int = 0

    @property
    def total(self) -> int:
        """Every letter that is meant to leave."""
        return (self.sent + self.queued + self.failed + self.in_doubt + self.held
                + self.to_post)

    @property
    def active(self) -> bool:
        """Whether the numbers are still moving on their own."""
        return self.queued > 0

    def as_json(self, state: str | None) -> dict[str, object]:
        """The numbers for the page's script."""
        return {**asdict(self), "state": state, "total": self.total, "active": self.active,
                "problems": self.failed + self.in_doubt}


@dataclass(frozen=True)
class Status:
    """A position's batch, its numbers and when it may leave, in the organization's time."""

    batch: Batch
    progress: Progress
    send_at: str | None
    approved_at: str


def progress_of(batch: Batch | None) -> Progress:
    """Count the batch's deliveries by channel and state."""
    if batch is None:
        return Progress()
    counts: dict[str, int] = {}
    rows = db.session.execute(
        select(Delivery.channel, Delivery.state, func.count()).join(Letter)
        .where(Letter.batch_id == batch.id).group_by(Delivery.channel, Delivery.state))
    for channel, state, count in rows:
        if state in MOVING:
            key = "to_post" if channel == "post" else "queued"
            if channel == "email" and state == "retry_wait":
                counts["retrying"] = counts.get("retrying", 0) + count
        else:
            key = state
        counts[key] = counts.get(key, 0) + count
    return Progress(**{k: v for k, v in counts.items() if k in Progress.__dataclass_fields__})


def status_of(position: Position) -> Status | None:
    """The position's batch with its counts, or None before anything was frozen."""
    batch = sending.batch_of(db.session, position)
    if batch is None:
        return None
    zone = org_zone(db.session.get(Organization, position.organization_id))
    return Status(batch=batch, progress=progress_of(batch),
                  send_at=local_label(batch.send_at, zone) if batch.send_at else None,
                  approved_at=local_label(batch.approved_at, zone))


def failures_csv(deliveries: Iterable[Delivery]) -> str:
    """Failed and in-doubt letters as CSV, with a BOM so spreadsheets read the names right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["candidate", "email", "state", "attempts", "reason", "message_id"])
    for delivery in deliveries:
        candidate = delivery.letter.application.candidate
        writer.writerow([csv_safe(x) for x in (
            candidate.full_name, delivery.recipient or candidate.email or "",
            delivery.state, delivery.attempts, delivery.last_error or delivery.server_reply,
            delivery.letter.frozen.message_id if delivery.letter.frozen else "")])
    return "\ufeff" + out.getvalue()


ACTIONS = {"mark_sent": "Marked as sent", "resend": "Retried",
           "cancel": "Cancelled", "posted": "Confirmed as posted"}


def decision_text(decision: Resolution) -> str:
    """A person's decision about a delivery, as the pages say it."""
    member = decision.member
    who = (member.name or member.email) if member else "a former member"
    text = (f"{ACTIONS.get(decision.action, decision.action)} by {who}, "
            f"{decision.at:%Y-%m-%d %H:%M} UTC")
    return f"{text} \u2014 \u201c{decision.reason}\u201d" if decision.reason else text
