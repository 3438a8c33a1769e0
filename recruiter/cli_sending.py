"""The sending commands: `letters send`, `letters status`, `positions release` and `worker`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from sqlalchemy import select

from .errors import RecruiterError
from .extensions import db
from .models import DELIVERY_STATES, Delivery, Member, Position
from .queue import consumer, queue
from .services import approval, required_reasons, sending
from .services import letters as letters_service


def position_by_id(position_id: int) -> Position:
    """The position with this id, or a clear error."""
    position = db.session.get(Position, position_id)
    if position is None:
        raise RecruiterError(f"There is no position with id {position_id}.")
    return position


def acting_member(position: Position, email: str | None) -> Member:
    """The member who acts: the one named by email, else the first admin or manager."""
    query = select(Member).where(Member.organization_id == position.organization_id,
                                 Member.active.is_(True), Member.kind == "person")
    if email:
        query = query.where(Member.email == email.lower())
    else:
        query = query.where(Member.role.in_(("admin", "manager"))).order_by(Member.id)
    member = db.session.scalars(query).first()
    if member is None or not member.can("edit"):
        raise RecruiterError("Name an active admin or manager of this organization with --by.")
    return member


@click.command("send")
@click.argument("position_id", type=int)
@click.option("--dry-run/--no-dry-run", default=True, show_default=True,
              help="Only print what would be sent, and to whom.")
@click.option("--limit", type=int, default=None,
              help="Refuse when the batch holds more than this many letters.")
@click.option("--yes", is_flag=True, help="Do not ask; acknowledge the checks' warnings.")
@click.option("--by", "by_email", default=None, help="The member who approves (an email).")
def letters_send(position_id: int, dry_run: bool, limit: int | None, yes: bool,
                 by_email: str | None) -> None:
    """Approve and queue a position's letters (a dry run unless --no-dry-run)."""
    position = position_by_id(position_id)
    letters = [x for x in letters_service.refresh_letters(db.session, position)
               if x.status != "cancelled"]
    findings = approval.letter_findings(position, letters)
    errors = sum(1 for x in letters if any(f.severity == "error" for f in findings[x.id]))
    warnings = sum(1 for x in letters if any(f.severity == "warning" for f in findings[x.id]))
    for letter in letters:
        cand = letter.application.candidate
        where = cand.email if letter.application.letter_channel == "email" else "post"
        click.echo(f"{letter.status:9} {cand.full_name} <{where}>")
    click.echo(f"{len(letters)} letters: {errors} with errors, {warnings} with warnings.")
    if missing := required_reasons.missing_names(db.session, position):
        click.echo(f"{required_reasons.missing_message(missing)} The page: "
                   f"/positions/{position.id}/rejection-reasons?missing=1")
    if limit is not None and len(letters) > limit:
        raise RecruiterError(f"The batch holds {len(letters)} letters, more than --limit "
                             f"{limit}. Nothing was sent.")
    if dry_run:
        db.session.rollback()
        click.echo("Dry run: nothing was approved or sent. Add --no-dry-run to send.")
        return
    if errors:
        raise RecruiterError(f"{errors} letters have errors; fix them first. Nothing was sent.")
    if not yes and not click.confirm(f"Approve and send {len(letters)} letters?"):
        raise RecruiterError("Nothing was sent.")
    member = acting_member(position, by_email)
    pending = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    if pending:
        try:
            approval.approve_all(db.session, position, member, expected_count=pending,
                                 acknowledge_warnings=True)
        except required_reasons.ReasonsMissing as exc:
            raise RecruiterError(f"{exc} The page: /positions/{position.id}/rejection-reasons"
                                 "?missing=1. Nothing was approved or sent.") from exc
    batch, created = sending.freeze_batch(db.session, position, member,
                                          page_size=current_app.config["PAGE_SIZE"])
    db.session.commit()
    due = sending.queued_email_ids(db.session, batch)
    queue().enqueue(due)
    word = "Froze" if created else "Already frozen:"
    click.echo(f"{word} batch {batch.id} ({batch.state}); {len(due)} emails queued.")
    if batch.state == "held":
        click.echo(f"Held until the hire accepts: `recruiter positions release {position.id}`.")


def _trouble(delivery: Delivery) -> str:
    if delivery.state == "bounced":
        return f"bounced {delivery.bounce_status}: {delivery.bounce_diagnostic or ''}"
    return delivery.last_error or ""


@click.command("status")
@click.argument("position_id", type=int)
def letters_status(position_id: int) -> None:
    """Count the deliveries in each state; list every failed, in-doubt and bounced letter."""
    position = position_by_id(position_id)
    counts = sending.state_counts(db.session, position)
    for state in DELIVERY_STATES:
        click.echo(f"{state}: {counts.get(state, 0)}")
    trouble = sending.problems(db.session, position)
    for delivery in trouble:
        cand = delivery.letter.application.candidate
        click.echo(f"{delivery.state} delivery {delivery.id} {cand.full_name} "
                   f"<{delivery.recipient or 'post'}>: {_trouble(delivery)}")
    if trouble:
        sys.exit(1)


@click.command("release")
@click.argument("position_id", type=int)
def positions_release(position_id: int) -> None:
    """Record that the hire accepted, and release the held letters."""
    position = position_by_id(position_id)
    ids = sending.release(db.session, position)
    db.session.commit()
    queue().enqueue(ids)
    batch = sending.batch_of(db.session, position)
    state = batch.state if batch else "no batch yet"
    click.echo(f"The hire accepted. Batch: {state}; {len(ids)} emails queued.")


@click.command("worker")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Sending threads in this process.")
def worker(workers: int) -> None:
    """Run a standalone queue consumer; start as many as you like, on as many hosts."""
    click.echo(f"recruiter worker: {workers} threads, queue {current_app.config['QUEUE_URL']}, "
               f"mail {current_app.config['MAIL_URL'].split('@')[-1]}")
    consumer(workers).run()
