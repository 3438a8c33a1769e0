"""The background queue: Huey, with SQLite storage by default and Redis at scale.

Tasks are thin wrappers over ``services.sending`` and carry only a delivery id (a worker sends
that delivery and a few more of the same organization, see ``SEND_CLAIM_BATCH``); the database
row, not the queue, says whether a letter still has to go. A periodic sweep re-enqueues due
deliveries, so a lost queue message delays a letter but never loses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.api import TaskWrapper

from .extensions import db


@dataclass
class Queue:
    """The app's Huey instance and its tasks."""

    huey: Huey
    send: TaskWrapper
    sweep: TaskWrapper
    purge: TaskWrapper

    def enqueue(self, delivery_ids: Iterable[int]) -> None:
        """Ask a worker to send each delivery (after the caller committed)."""
        for delivery_id in delivery_ids:
            self.send(delivery_id)


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
    from .services import retention, sending

    huey = _huey(app.config["QUEUE_URL"], bool(app.config.get("QUEUE_IMMEDIATE")))
    timeout = timedelta(seconds=float(app.config.get("SENDING_TIMEOUT", 600)))

    @huey.task(name="send_delivery")
    def send(delivery_id: int) -> str:
        # Claims this delivery and up to SEND_CLAIM_BATCH - 1 other due ones of its
        # organization; their own queue messages then find them taken and are dropped.
        with app.app_context():
            attempts = sending.deliver_batch(
                db.session, delivery_id, app.config["MAIL_URL"],
                max_attempts=int(app.config.get("SEND_MAX_ATTEMPTS", 8)),
                batch=int(app.config.get("SEND_CLAIM_BATCH", 10)), sending_timeout=timeout)
        if not huey.immediate:
            for attempt in attempts:
                if attempt.retry_at is not None:
                    send.schedule((attempt.delivery_id,), eta=attempt.retry_at)
        return attempts[0].state

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    def sweep() -> int:
        with app.app_context():
            due = sending.sweep(db.session, sending_timeout=timeout)
        for delivery_id in due:
            send(delivery_id)
        return len(due)

    @huey.periodic_task(crontab(hour=app.config.get("PURGE_HOUR", "3"), minute="30"),
                        name="purge")
    def purge() -> int:
        """Daily: delete personal data past retention, as `recruiter audit purge` does."""
        with app.app_context():
            report = retention.run_purge(db.session, Path(app.instance_path),
                                         app.config["MAIL_URL"])
        return report.candidates

    queue = Queue(huey, send, sweep, purge)
    app.extensions["recruiter.queue"] = queue
    return queue


def queue() -> Queue:
    """The current app's queue."""
    return current_app.extensions["recruiter.queue"]


def consumer(workers: int = 1, **options: Any):  # noqa: ANN201
    """A Huey consumer for the current app's queue (threads; the periodic sweep included)."""
    return queue().huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                        **options)
