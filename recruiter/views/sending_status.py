"""What a position's batch is doing, in the words of the sending page and its live counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..forms.sending import local_label
from ..models import Batch, Delivery, Letter, Organization, Position, Resolution
from ..plural import plural
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
    bounced: int = 0  # emails a bounce says never arrived, not yet going by post instead
    rerouted: int = 0  # bounced emails whose letters go by post instead: counted as post

    @property
    def total(self) -> int:
        """Every letter that is meant to leave."""
        return (self.sent + self.queued + self.failed + self.in_doubt + self.held
                + self.to_post + self.bounced)

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
    if counts.get("bounced"):  # a letter whose email bounced and that goes by post is one
        post = aliased(Delivery)
        counts["rerouted"] = db.session.scalar(
            select(func.count()).select_from(Delivery).join(Letter)
            .join(post, (post.letter_id == Delivery.letter_id) & (post.channel == "post"))
            .where(Letter.batch_id == batch.id, Delivery.state == "bounced")) or 0
        counts["bounced"] -= counts["rerouted"]
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
    """Failed, in-doubt and bounced letters as CSV, with a BOM so spreadsheets read names right.

    A bounce's status and the receiving server's words have columns of their own; its
    reason is those words.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["candidate", "email", "state", "attempts", "reason", "message_id",
                     "bounce_status", "bounced_at"])
    for delivery in deliveries:
        candidate = delivery.letter.application.candidate
        bounced = delivery.state == "bounced"
        reason = (delivery.bounce_diagnostic if bounced else None) or delivery.last_error or \
            delivery.server_reply
        writer.writerow([csv_safe(x) for x in (
            candidate.full_name, delivery.recipient or candidate.email or "",
            delivery.state, delivery.attempts, reason,
            delivery.letter.frozen.message_id if delivery.letter.frozen else "",
            delivery.bounce_status if bounced else "",
            delivery.bounced_at.isoformat() if bounced and delivery.bounced_at else "")])
    return "\ufeff" + out.getvalue()


ACTIONS = {"mark_sent": "Marked as sent", "resend": "Retried",
           "cancel": "Cancelled", "posted": "Confirmed as posted",
           "by_post": "Switched to post"}


def decision_text(decision: Resolution) -> str:
    """A person's decision about a delivery, as the pages say it."""
    member = decision.member
    who = (member.name or member.email) if member else "a former member"
    text = (f"{ACTIONS.get(decision.action, decision.action)} by {who}, "
            f"{decision.at:%Y-%m-%d %H:%M} UTC")
    return f"{text} \u2014 \u201c{decision.reason}\u201d" if decision.reason else text


def _long(moment: datetime, zone: ZoneInfo) -> str:
    """A moment in the organization's time, as a sentence says it."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y} at {local:%H:%M}"


def _plural(count: int, word: str) -> str:
    return plural(count, word, word + "s")


def headline(status: Status, zone: ZoneInfo) -> tuple[str, str] | None:
    """How a released batch stands, in one sentence: still going, or done and how.

    Returns ``(kind, sentence)`` with kind ``going``, ``done`` or ``problems``; None while
    the batch waits at its gate, which the page explains on its own.
    """
    p: Progress = status.progress
    if status.batch.state != "released" or p.held:
        return None
    if p.queued:
        text = f"Sending: {p.sent} of {_plural(p.total, 'letter')} sent so far, {p.queued} to go"
        if p.retrying:
            text += f" ({p.retrying} waiting to retry after a busy or refused server)"
        return "going", text + "."
    if p.failed or p.in_doubt or p.bounced:
        parts = [f"{p.sent} sent", f"{p.failed} failed" if p.failed else "",
                 f"{p.in_doubt} in doubt" if p.in_doubt else "",
                 f"{p.bounced} bounced" if p.bounced else "",
                 f"{p.to_post} to post" if p.to_post else ""]
        return "problems", ", ".join(x for x in parts if x) + ": see below."
    if not p.sent and not p.to_post:
        return "done", "Every letter of this batch was cancelled; nothing was sent."
    last = sending.last_sent_at(db.session, status.batch)
    when = f" on {_long(last, zone)}" if last else ""
    if p.to_post:
        post = (f"{_plural(p.to_post, 'letter')} for post still "
                f"{'need' if p.to_post != 1 else 'needs'} printing and mailing.")
        if not p.sent:
            return "done", f"Nothing goes by email. {post}"
        sent = "The email was" if p.sent == 1 else f"All {p.sent} emails were"
        return "done", f"{sent} sent{when}. {post}"
    if p.sent == 1:
        return "done", f"The letter was sent{when}."
    return "done", f"All {p.sent} letters were sent{when}."
