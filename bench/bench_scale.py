r"""Scale-out: 1,000 letters sent by 1 and 2 `recruiter worker` processes on PostgreSQL + Redis.

    pip install mailmerge          # bench environment only; not a recruiter dependency
    createdb -h 127.0.0.1 -U postgres recruiter_bench_send
    python bench/bench_scale.py \
        --postgres-url postgresql://postgres@127.0.0.1:5432/recruiter_bench_send \
        --redis-url redis://127.0.0.1:6379/12

The deployment issue 7 describes: one PostgreSQL database, one Redis queue, and N worker
processes, each the real CLI (``recruiter worker --workers T``, configured by
``RECRUITER_DATABASE_URL``, ``RECRUITER_QUEUE_URL`` and ``RECRUITER_MAIL_URL``), sending to the
loopback aiosmtpd sink of ``bench_send.py``. The letters are made and frozen once, as in
``bench_send.py``; the PostgreSQL database is emptied first (its schema is dropped: give the
bench a database of its own) and the Redis database is flushed. Each round runs mailmerge
on the same sink, then, for each process count, puts every delivery back to ``queued``, starts
the workers, waits for them to be ready, and times from the enqueue of every id until every
delivery is recorded ``sent``. Every run must deliver each letter exactly once: no duplicate
Message-ID at the sink.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_send import (  # noqa: E402
    Sink,
    _plural,
    check_sink,
    freeze,
    machine,
    make_app,
    make_people,
    need_mailmerge,
    populate,
    prepare_mailmerge,
    print_checks,
    print_head,
    requeue,
    run_mailmerge,
    spread,
    verify_audit,
    wait_until_sent,
)

ROOT = Path(__file__).resolve().parent.parent


def start_workers(app, folder: Path, processes: int, threads: int) -> list[subprocess.Popen]:  # noqa: ANN001
    """``processes`` × ``recruiter worker --workers threads``; returns once each is consuming."""
    env = {**os.environ, "RECRUITER_INSTANCE_PATH": str(folder),
           "RECRUITER_DATABASE_URL": app.config["DATABASE_URL"],
           "RECRUITER_QUEUE_URL": app.config["QUEUE_URL"],
           "RECRUITER_MAIL_URL": app.config["MAIL_URL"],
           "RECRUITER_SEND_CLAIM_BATCH": str(app.config["SEND_CLAIM_BATCH"]),
           "PYTHONUNBUFFERED": "1"}
    workers = []
    for i in range(processes):
        log = folder / f"worker-{i}.log"
        with log.open("wb") as out:
            workers.append(subprocess.Popen(
                [sys.executable, "-c", "from recruiter.cli import main; main()",
                 "worker", "--workers", str(threads)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
    deadline = time.monotonic() + 60
    for i, worker in enumerate(workers):  # its banner: the app is built, the consumer next
        log = folder / f"worker-{i}.log"
        while b"recruiter worker:" not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                stop_workers(workers)
                raise SystemExit(f"worker {i} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
    time.sleep(0.5)  # the consumer's threads start within milliseconds of the banner
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """SIGINT (a graceful stop), then SIGKILL after 15 s."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=15)


def run(app, sink: Sink, ids: list[int], folder: Path, processes: int,  # noqa: ANN001
        threads: int, batch: int) -> float:
    """One timed run: the workers start, every id is enqueued, every letter goes out.

    The deliveries are not due while the workers start: a worker's first sweep would otherwise
    send some of them before the clock starts (it sent all 200 of a small run).
    """
    from sqlalchemy import update

    from recruiter.extensions import db
    from recruiter.models import Delivery
    from recruiter.queue import queue

    requeue(app, not_before=datetime.now(UTC) + timedelta(hours=1))
    sink.reset()
    app.config["SEND_CLAIM_BATCH"] = batch  # the workers' environment and the enqueue's cut
    with app.app_context():
        the_queue = queue()
        the_queue.batch = batch
        the_queue.huey.flush()
        workers = start_workers(app, folder, processes, threads)
        try:
            if sink.count():
                raise SystemExit(f"{sink.count()} letters left before the clock started")
            start = time.perf_counter()
            db.session.execute(update(Delivery).where(Delivery.channel == "email")
                               .values(next_attempt_at=None))
            db.session.commit()
            the_queue.enqueue(ids)
            wait_until_sent(app, sink, len(ids), start)
            return time.perf_counter() - start
        finally:
            stop_workers(workers)
            the_queue.huey.flush()


def main() -> None:
    """Run mailmerge and 1 and 2 worker processes against the same sink; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", required=True,
                        help="a PostgreSQL database of the bench's own: it is emptied")
    parser.add_argument("--redis-url", required=True, help="a Redis database: it is flushed")
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--processes", default="1,2", help="worker process counts (1,2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="sending threads per worker process (`--workers` of the CLI; 1)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (3); medians are shown")
    parser.add_argument("--claim-batch", default="",
                        help="SEND_CLAIM_BATCH values to run, comma-separated (the default)")
    args = parser.parse_args()
    need_mailmerge()
    counts = [int(x) for x in args.processes.split(",") if x.strip()]
    batches = [int(x) for x in args.claim_batch.split(",") if x.strip()]
    count, people = args.letters, make_people(args.letters)
    load_before = os.getloadavg()[0]
    sink = Sink()
    runs: dict[tuple[int, int], list[float]] = {}
    mm_runs: list[float] = []
    checks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        try:
            command = prepare_mailmerge(people, sink, Path(tmp) / "mailmerge")
            app = make_app(Path(tmp) / "instance", sink, args.postgres_url, args.redis_url)
            position_id, member_id = populate(app, people)
            freeze_s, ids, message_ids = freeze(app, position_id, member_id)
            batches = batches or [int(app.config["SEND_CLAIM_BATCH"])]
            for round_ in range(args.repeat):
                sink.reset()
                mm_runs.append(run_mailmerge(command))
                checks["mailmerge"] = check_sink(sink, count, None)
                for n in counts:
                    for batch in batches:
                        runs.setdefault((n, batch), []).append(
                            run(app, sink, ids, Path(tmp) / "instance", n, args.threads, batch))
                        checks[f"{_plural(n, 'worker process')}, claims of {batch}"] = \
                            f"{check_sink(sink, count, message_ids)}, all sent"
                print(f"round {round_ + 1} of {args.repeat} done", file=sys.stderr)
            audit_check = verify_audit(app)
        finally:
            sink.stop()
    mm = statistics.median(mm_runs)
    ours = {n: statistics.median(values) for n, values in runs.items()}
    print(f"bench_scale: {count} email letters to a loopback aiosmtpd sink, PostgreSQL + Redis, "
          f"`recruiter worker --workers {args.threads}` processes, claims of "
          f"{', '.join(map(str, batches))}, median of {args.repeat} rounds "
          f"({datetime.now(UTC):%Y-%m-%d}; {machine()})\n")
    print_head(count, mm_runs, "recruiter freeze on PostgreSQL", freeze_s)
    for (n, batch), seconds in ours.items():
        print(f"| recruiter send, {_plural(n, 'worker process')} × {_plural(args.threads)}, "
              f"claims of {batch} | {seconds:.2f} | {count / seconds:,.0f} "
              f"| {spread(count, runs[n, batch])} | **{mm / seconds:.2f}** |")
    print_checks(load_before, checks, audit_check)
    for batch in batches:
        if len(counts) > 1:
            one, many = ours[counts[0], batch], ours[counts[-1], batch]
            print(f"scale-out, claims of {batch}: {counts[-1]} worker processes send "
                  f"{one / many:.2f}x as many letters per second as {counts[0]} -> "
                  f"{'more' if one / many >= 1.10 else 'NOT more'} (10% or more counts as more)")
        print(f"goal, claims of {batch}: 1 worker process at least mailmerge's throughput -> "
              + (f"{'met' if mm / ours[1, batch] >= 1.0 else 'NOT met'} "
                 f"({mm / ours[1, batch]:.2f}x)" if 1 in counts else "not run"))


if __name__ == "__main__":
    main()
