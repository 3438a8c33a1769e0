"""Webhook fan-out must not slow the letter send: the same send with and without an endpoint.

    python bench/bench_webhooks.py [--letters 5000] [--repeat 3]

Uses bench_send.py's instance, loopback SMTP sink, letters and its send path (``deliver_ids``
per queue message, one thread). After an uncounted warm-up send, each round sends once with no
endpoint and once with one active endpoint (the order alternates between rounds) that
takes every event (its nudges go to the SQLite queue; no consumer runs, so what is measured is
the outbox: the staged row written with each chunk, and the enqueue after each commit). The
staged rows are expanded into events after the clock stops, and their count is checked.
Goal (issue 15): at most 10% slower with the endpoint.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_send as bs  # noqa: E402


def _endpoint(app, active: bool) -> None:  # noqa: ANN001
    from sqlalchemy import delete, select

    from recruiter.extensions import db
    from recruiter.models import (
        Organization,
        WebhookDelivery,
        WebhookEndpoint,
        WebhookEvent,
        WebhookFanout,
    )
    from recruiter.services import webhooks

    with app.app_context():
        session = db.session
        session.execute(delete(WebhookFanout))
        session.execute(delete(WebhookDelivery))
        session.execute(delete(WebhookEvent))
        org = session.scalar(select(Organization))
        endpoint = session.scalar(select(WebhookEndpoint))
        if endpoint is None:
            org.webhooks_allow_private = True
            endpoint = webhooks.add_endpoint(session, org, "http://127.0.0.1:9/hook", "all")
        endpoint.active = active
        session.commit()


def _events(app) -> int:  # noqa: ANN001
    """Expand what the send staged (as the webhook worker would, after the clock stops)."""
    from sqlalchemy import func, select

    from recruiter.extensions import db
    from recruiter.models import WebhookEvent
    from recruiter.services.webhooks.letters import expand_staged

    with app.app_context():
        while expand_staged(db.session):
            db.session.commit()
        return db.session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def main() -> None:
    """Run the rounds and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sink = bs.Sink()
    runs: dict[bool, list[float]] = {False: [], True: []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
            app = bs.make_app(Path(tmp) / "instance", sink)
            position_id, member_id = bs.populate(app, bs.make_people(args.letters))
            _, ids, _ = bs.freeze(app, position_id, member_id)
            bs.send(app, ids, 1)  # a warm-up round, not counted: the first send is slower
            for round_ in range(args.repeat):
                # Alternating which goes first, so neither gains from the other's warm caches.
                for hooked in ((False, True) if round_ % 2 == 0 else (True, False)):
                    _endpoint(app, hooked)
                    bs.requeue(app)
                    sink.reset()
                    runs[hooked].append(bs.send(app, ids, 1))
                    if (left := bs.unsent(app)):
                        raise SystemExit(f"{left} letters not sent")
                    events = _events(app)
                    assert events == (len(ids) + 1 if hooked else 0), events
    finally:
        sink.stop()
    without, with_ = statistics.median(runs[False]), statistics.median(runs[True])
    print(f"bench_webhooks: {args.letters} email letters, median of {args.repeat}; "
          f"{bs.machine()}")
    print(f"| no endpoint | {without:.2f} s | {args.letters / without:,.0f} letters/s |")
    print(f"| one endpoint, every event | {with_:.2f} s | {args.letters / with_:,.0f} letters/s"
          f" | {100 * (with_ / without - 1):+.1f}% |")
    print(f"goal: at most 10% slower -> {'met' if with_ <= 1.1 * without else 'NOT met'}")


if __name__ == "__main__":
    main()
