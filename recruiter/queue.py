"""The background queue: Huey, with SQLite storage by default and Redis at scale.

Tasks are thin wrappers over ``services.sending`` and carry only delivery ids, up to
``SEND_CLAIM_BATCH`` of them, which a worker claims together; the database row, not the queue,
says whether a letter still has to go. A periodic sweep re-enqueues due
deliveries, so a lost queue message delays a letter but never loses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.api import TaskWrapper
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db

log = logging.getLogger(__name__)
# A process asks for webhook delivery at most once a second, as a task due a second later: it
# delivers what every commit of that second wrote. One enqueue per commit cost the letter send
# 13% (bench/bench_webhooks.py); this costs it nothing measurable.
NUDGE_EVERY = 1.0


@dataclass
class Queue:
    """The app's Huey instance and its tasks."""

    huey: Huey
    send: TaskWrapper
    sweep: TaskWrapper
    purge: TaskWrapper
    freeze: TaskWrapper
    checkpoint: TaskWrapper
    webhooks: TaskWrapper | None = None

    batch: int = 1
    nudged_at: float = -NUDGE_EVERY

    def nudge_webhooks(self) -> None:
        """Ask a worker to deliver due webhooks now; never raises into the caller.

        Called after a commit that wrote webhook events (the web request, the letter send):
        a queue that is down, or an immediate-mode delivery that fails, is logged and left
        to the periodic task, which delivers every due event within a minute.
        """
        if self.webhooks is None:
            return
        try:
            if self.huey.immediate:  # QUEUE_IMMEDIATE (tests): at once, inline
                self.webhooks()
                return
            now = time.monotonic()
            if now - self.nudged_at < NUDGE_EVERY:
                return  # the task already asked for runs after this commit
            self.nudged_at = now
            self.webhooks.schedule(delay=NUDGE_EVERY)
        except Exception:  # noqa: BLE001 - the caller's work is done and committed
            log.warning("could not enqueue webhook delivery; the periodic task will",
                        exc_info=True)

    def enqueue(self, delivery_ids: Iterable[int]) -> None:
        """Ask a worker to send each delivery (after the caller committed).

        One message per ``SEND_CLAIM_BATCH`` ids, which the worker claims together: a message
        per letter would mostly find its letter taken, and each costs the queue a round trip.
        """
        ids = list(delivery_ids)
        for start in range(0, len(ids), self.batch):
            self.send(*ids[start:start + self.batch])


def _huey(url: str, immediate: bool) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("recruiter", url=url, immediate=immediate)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("recruiter", filename=str(path), immediate=immediate)
    if url == "memory://":
        return MemoryHuey("recruiter", immediate=immediate)
    raise ValueError(f"RECRUITER_QUEUE_URL must be sqlite:///PATH, redis://… or memory://, "
                     f"not {url!r}")


def init_queue(app: Flask) -> Queue:
    """Build the queue for ``app``; tasks run inside an app context of that app."""
    from .services import checkpoints, retention, sending

    huey = _huey(app.config["QUEUE_URL"], bool(app.config.get("QUEUE_IMMEDIATE")))
    timeout = timedelta(seconds=float(app.config.get("SENDING_TIMEOUT", 600)))

    @huey.task(name="send_delivery")
    def send(delivery_id: int, *more: int) -> str:
        # Claims these deliveries, topped up to SEND_CLAIM_BATCH with other due ones of the
        # organization; other messages for the ones it took find them taken and are dropped.
        with app.app_context():
            attempts = sending.deliver_ids(
                db.session, [delivery_id, *more], app.config["MAIL_URL"],
                max_attempts=int(app.config.get("SEND_MAX_ATTEMPTS", 8)),
                batch=int(app.config.get("SEND_CLAIM_BATCH", 10)), sending_timeout=timeout)
        if not huey.immediate:
            for attempt in attempts:
                if attempt.retry_at is not None:
                    send.schedule((attempt.delivery_id,), eta=attempt.retry_at)
        return attempts[0].state

    @huey.task(name="freeze_batch")
    def freeze(position_id: int, member_id: int, send_at: str | None, hold: bool) -> int:
        """Freeze a big batch away from the web request, then queue what may leave now."""
        with app.app_context():
            due = sending.freeze_for_worker(
                db.session, position_id, member_id, hold_until_accepted=hold,
                send_at=datetime.fromisoformat(send_at) if send_at else None,
                page_size=app.config.get("PAGE_SIZE") or "A4")
        queue.enqueue(due)
        return len(due)

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    def sweep() -> int:
        with app.app_context():
            due = sending.sweep(db.session, sending_timeout=timeout)
        queue.enqueue(due)
        return len(due)

    @huey.periodic_task(crontab(hour=app.config.get("PURGE_HOUR", "3"), minute="30"),
                        name="purge")
    def purge() -> int:
        """Daily: delete personal data past retention, as `recruiter audit purge` does."""
        with app.app_context():
            report = retention.run_purge(db.session, Path(app.instance_path),
                                         app.config["MAIL_URL"])
        return report.candidates

    @huey.periodic_task(crontab(hour=app.config.get("PURGE_HOUR", "3"), minute="45"),
                        name="checkpoint")
    def checkpoint() -> str:
        """Daily: a signed checkpoint of every audit chain, as `recruiter audit checkpoint`."""
        with app.app_context():
            path = checkpoints.write_daily(db.session, checkpoint_dir(app),
                                           checkpoints.checkpoint_key(app.config["SECRET_KEY"]))
            db.session.rollback()  # read only: end the transaction the heads were read in
        return str(path)

    @huey.task(name="deliver_webhooks")
    def deliver_webhooks() -> int:
        """Deliver the due webhook events, in a session of its own."""
        return _deliver_webhooks(app)

    @huey.periodic_task(crontab(minute="*"), name="webhooks")
    def webhooks_due() -> int:
        """Every minute: due webhooks (retries, lost nudges, deliveries of a dead worker)."""
        return _deliver_webhooks(app)

    queue = Queue(huey, send, sweep, purge, freeze, checkpoint, deliver_webhooks,
                  max(int(app.config.get("SEND_CLAIM_BATCH", 10)), 1))
    app.extensions["recruiter.queue"] = queue
    return queue


def _deliver_webhooks(app: Flask) -> int:
    from .services.webhooks import deliver_due

    # Its own session: an immediate-mode nudge runs inside another session's after_commit,
    # where that session may not be used.
    with app.app_context(), Session(db.engine) as session:
        return len(deliver_due(session, timeout=float(app.config.get("WEBHOOK_TIMEOUT", 10)),
                               max_attempts=int(app.config.get("WEBHOOK_MAX_ATTEMPTS", 8))))


@event.listens_for(Session, "after_commit")
def _nudge_after_commit(session: Session) -> None:
    """A commit that wrote webhook events nudges the worker; see ``Queue.nudge_webhooks``."""
    from .services.webhooks.events import NUDGE

    if session.info.pop(NUDGE, None) and has_app_context():
        found = current_app.extensions.get("recruiter.queue")
        if found is not None:
            found.nudge_webhooks()


def checkpoint_dir(app: Flask) -> Path:
    """Where the daily checkpoints go: CHECKPOINT_DIR, or <instance>/checkpoints."""
    return Path(app.config.get("CHECKPOINT_DIR") or Path(app.instance_path) / "checkpoints")


def queue() -> Queue:
    """The current app's queue."""
    return current_app.extensions["recruiter.queue"]


def consumer(workers: int = 1, **options: Any):  # noqa: ANN201
    """A Huey consumer for the current app's queue (threads; the periodic sweep included)."""
    return queue().huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                        **options)
