"""Telling a position's managers that its letters are drafted, by email, off the request.

There is no manager per position: "the position's managers" are the organization's active
people (not API tokens) with the role admin or manager. Each gets one short plain-text email
through the app's mail transport (``MAIL_URL``, the same one letters use).

The email is sent by a Huey task enqueued once the request's transaction has committed (a
rolled-back change tells nobody), and a failure to enqueue or to send is logged, never raised:
the request that asked for it has already succeeded.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..models import Member, Organization, Position
from .mail import check_header, message_date, new_message_id
from .sending.transport import transport_for

log = logging.getLogger(__name__)
PENDING = "recruiter.notify.pending"  # session.info: notifications waiting for the commit
TASK = "recruiter.notify"  # app.extensions: the Huey task
ROLES = ("admin", "manager")


def managers(session: Session, organization_id: int) -> list[Member]:
    """The organization's active people who manage positions: admins and managers."""
    return list(session.scalars(select(Member).where(
        Member.organization_id == organization_id, Member.active.is_(True),
        Member.kind == "person", Member.role.in_(ROLES)).order_by(Member.id)))


def subject_of(title: str, count: int) -> str:
    """The email's subject, also its first line."""
    return f"Letters for {title} are drafted: {count} to review"


def letters_drafted_message(sender: str, recipient: str, title: str, count: int,
                            url: str) -> tuple[str, bytes]:
    """(Message-ID, bytes) of one manager's plain-text email."""
    message = EmailMessage(policy=SMTP)
    subject = check_header(subject_of(" ".join(title.split()), count), "subject")
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = check_header(recipient, "recipient address")
    message_id = new_message_id(sender.rpartition("@")[2].rstrip(">"))
    message["Message-ID"] = message_id
    message["Date"] = message_date()
    message.set_content(f"{subject}.\n\nReview them here:\n{url}\n")
    return message_id, message.as_bytes()


def send_letters_drafted(session: Session, position_id: int, count: int, url: str,
                         mail_url: str) -> int:
    """Email each manager of the position's organization; how many were sent."""
    position = session.get(Position, position_id)
    if position is None:
        return 0
    org = session.get(Organization, position.organization_id)
    assert org is not None
    address = org.sender_email or f"recruiter@{_host(url)}"
    sender = formataddr((check_header(org.sender_name or "recruiter", "sender name"), address))
    transport = transport_for(mail_url)
    sent = 0
    for member in managers(session, org.id):
        try:
            message_id, data = letters_drafted_message(sender, member.email, position.title,
                                                       count, url)
            outcome = transport.send(address, member.email, data, message_id)
        except Exception:  # one bad address must not keep the others from hearing
            log.exception("could not tell member %s about position %s", member.id, position_id)
            continue
        if outcome.state == "sent":
            sent += 1
        else:
            log.warning("telling member %s about position %s: %s %s", member.id,
                        position_id, outcome.state, outcome.reply)
    return sent


def _host(url: str) -> str:
    return urlsplit(url).hostname or "recruiter.invalid"


def register(app: Flask) -> None:
    """Declare the task on the app's queue (workers and web processes both)."""
    from ..extensions import db

    huey = app.extensions["recruiter.queue"].huey

    @huey.task(name="notify_letters_drafted")
    def notify(position_id: int, count: int, url: str) -> int:
        with app.app_context():
            try:
                return send_letters_drafted(db.session, position_id, count, url,
                                            app.config["MAIL_URL"])
            finally:
                db.session.rollback()

    app.extensions[TASK] = notify


def after_commit(session: Session, position_id: int, count: int, url: str) -> None:
    """Tell the managers once this transaction commits (and never if it rolls back)."""
    session.info.setdefault(PENDING, []).append((position_id, count, url))


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    try:
        task = current_app.extensions[TASK]
    except (RuntimeError, KeyError):
        log.warning("no queue to tell the managers about %d positions", len(pending))
        return
    for args in pending:
        try:
            task(*args)
        except Exception:  # the change is committed; a lost notice must not fail the request
            log.exception("could not enqueue the managers' notice for position %s", args[0])


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: object) -> None:
    session.info.pop(PENDING, None)
