"""End-to-end send of 1,000 email letters to a loopback SMTP sink, against mailmerge.

    pip install mailmerge          # bench environment only; not a recruiter dependency
    python bench/bench_send.py [--letters 1000] [--threads 1,2] [--repeat 3]

A loopback aiosmtpd sink (a Controller on 127.0.0.1 in its own process, counting messages and
answering 250) receives both senders' mail in the same run:

- the anchor: awdeorio's ``mailmerge`` CLI, run as a subprocess with ``--no-dry-run
  --no-limit``, renders a text template resembling our letter from a CSV of the same
  candidates and sends each message over a new connection (no security, no rate limit);
- recruiter as shipped: a temporary instance (SQLite file DB, WAL) with one position of
  ``--letters`` declined candidates plus the hire, each with a note. Its letters are approved
  and frozen once (``freeze_batch``: render in send mode, MIME, PDF, one delivery per
  letter), then sent (1) by calling ``sending.deliver_ids`` for every queue message (ids cut
  into messages of ``SEND_CLAIM_BATCH``, as ``Queue.enqueue`` does) from a pool of worker
  threads, as the queue task does (one claim and one commit of outcomes per message, each
  thread with its own SMTP connection), and (2) through the product
  path: ``queue.enqueue`` then ``queue.consumer(workers=N)`` (Huey threads, SQLite queue,
  periodic sweep on). The organization's rate limit is set above the bench's speed, so its
  count runs but never waits.

Each round runs mailmerge and every recruiter configuration once; figures are medians over
``--repeat`` rounds, with the range. The sink must count exactly ``--letters`` messages per
run, each to a different recipient, and for recruiter no Message-ID twice and every delivery
``sent``; the audit chain must verify at the end. Between recruiter runs the deliveries are
put back to ``queued`` (the frozen bytes are reused). ``--claim-batch 1,10`` compares claim
batch sizes. Goal (issues 4 and 7): at least mailmerge's throughput on the same sink, and
measurably more with 2 workers than with 1. ``bench/bench_scale.py`` runs the same letters on
PostgreSQL and Redis with 1 and 2 ``recruiter worker`` processes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing as mp
import os
import platform
import queue as queue_module
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORG = "Harbour Air Logistics"
SENDER_NAME, SENDER_TITLE = "Jordan Reyes", "Operations Manager"
SENDER_EMAIL = "hiring@harbourair.example.com"
TITLE, LOCATION = "Operations Coordinator", "Vancouver, BC"
DIFFERENTIATOR = "hands-on aviation operations experience"
HIRE = ("Maya", "Thorvaldsen", "maya.thorvaldsen@example.com")

FIRST = ["Daniel", "Zoë", "Arjun", "Seun", "Priya", "Liam", "Mei", "Nadia", "Omar", "Grace",
         "Hugo", "Inès", "Jonas", "Kiri", "Rosa", "Sven", "Tariq", "Ana", "Bo", "Christian",
         "Dara", "Elif", "Femi", "Aisha", "Mateo", "Hana", "Lucas", "Amara", "Noah", "Sofia",
         "Kwame", "Yuki", "Olivia", "Rahul", "Chloé", "Ibrahim", "Lena", "Diego", "Freya", "Jin"]
LAST = ["Okafor", "Lefebvre", "Mehta", "Adeyemi", "Silva", "Novak", "Kaya", "Park", "Moreau",
        "Ruiz", "Berg", "Tane", "Walsh", "Haddad", "Farouk", "Iyer", "Doyle", "Costa", "Lund",
        "Aziz", "Nguyen", "Kowalski", "O'Brien", "Santos", "Fischer", "Yamamoto", "Mensah",
        "Rossi", "Dubois", "Andersen", "Gupta", "Tremblay", "MacLeod", "Petrov", "Ali",
        "Fernández", "Kim", "Osei", "Larsen", "Sato"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.ca"]
CITIES = [("Vancouver", "BC", "V6B 1A1"), ("Burnaby", "BC", "V5H 4M9"),
          ("Richmond", "BC", "V6X 1B2"), ("Surrey", "BC", "V3T 0A3"),
          ("North Vancouver", "BC", "V7M 2H4"), ("New Westminster", "BC", "V3M 1C8")]
STREETS = ["West 4th Avenue", "Granville Street", "Kingsway", "McKay Avenue", "Main Street",
           "Commercial Drive", "Lonsdale Avenue", "No. 3 Road", "King George Boulevard"]
OPENINGS = ["Your work", "Your experience", "The project you described", "Your record",
            "The way you handled", "Your time"]
SUBJECTS = ["rebuilding the shift roster at a 24-hour distribution centre",
            "running receiving at a busy hardware store", "coordinating festival volunteers",
            "moving a conference to a new venue at two weeks' notice",
            "scheduling a fleet of delivery vans", "documenting the returns process",
            "leading the site safety committee", "training new warehouse staff",
            "cutting overtime at a regional depot", "building an inventory dashboard for a "
            "food bank", "calming a room of stranded travellers as a hotel night manager",
            "planning crew changes for a ferry operator"]
ENDINGS = ["stood out to both reviewers.", "is directly relevant to operations work.",
           "showed real care for the people involved.", "was explained with unusual clarity.",
           "is the kind of initiative we value.", "made a strong impression on the panel."]

# What mailmerge sends: the shipped "not interviewed" letter, as a plain-text Jinja template.
MAILMERGE_TEMPLATE = """\
TO: "{{full_name}}" <{{email}}>
SUBJECT: Your application for {{position}}
FROM: "SENDER_NAME" <SENDER_EMAIL>

Dear {{first_name}},

Thank you for applying for the {{position}} position at {{organization}}. A good application \
takes time and thought, and we are grateful that you chose to spend them with us.

We have now filled the role. The person we hired brings {{differentiator}}, which this role \
depends on every day, and in the end that is what decided it.

We received {{applicant_count}} applications, and every one of them, yours included, was read \
in full and with care.

{{note}}

We would be glad to hear from you again when another opening at {{organization}} suits your \
experience. Thank you again, and we wish you every success in your search.

Warm regards,

SENDER_NAME
SENDER_TITLE
""".replace("SENDER_NAME", SENDER_NAME).replace("SENDER_EMAIL", SENDER_EMAIL) \
    .replace("SENDER_TITLE", SENDER_TITLE)

MAILMERGE_CONF = """\
[smtp_server]
host = 127.0.0.1
port = {port}
security = Never
ratelimit = 0
"""


# --- candidates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One declined candidate, the same for both senders."""

    first: str
    last: str
    email: str
    address: str
    city: str
    region: str
    postal: str
    stage: str
    note: str

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first} {self.last}"


def _ascii(text: str) -> str:
    table = str.maketrans("ëèéáíóúçñ", "eeeaioucn", "'")
    return text.lower().translate(table).replace(" ", "")


def make_people(count: int, seed: int = 4) -> list[Person]:
    """``count`` candidates with unique addresses and personal notes."""
    rng = random.Random(seed)
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, region, postal = rng.choice(CITIES)
        note = (f"{rng.choice(OPENINGS)} {rng.choice(SUBJECTS)} {rng.choice(ENDINGS)} "
                f"We noted in particular your answer about site {i + 1}'s night shift.")
        people.append(Person(
            first=first, last=last,
            email=f"{_ascii(first)}.{_ascii(last)}.{i + 1}@{rng.choice(DOMAINS)}",
            address=f"{rng.randint(100, 9999)} {rng.choice(STREETS)}", city=city,
            region=region, postal=postal, stage=rng.choice(("applied", "screened")),
            note=note))
    return people


# --- the SMTP sink, in its own process --------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def _sink_main(port: int, conn) -> None:  # noqa: ANN001  (a multiprocessing Connection)
    """Run an aiosmtpd Controller until told to stop; answer reset/stats requests."""
    from aiosmtpd.controller import Controller

    received: list[tuple[bytes | None, str, int]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            head = envelope.content.split(b"\r\n\r\n", 1)[0]
            found = _MESSAGE_ID.search(head)
            received.append((found.group(1) if found else None, envelope.rcpt_tos[0],
                             session.peer[1]))
            return "250 OK queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("ready")
    while True:
        command = conn.recv()
        if command == "reset":
            received.clear()
            conn.send("ok")
        elif command == "stats":
            conn.send(list(received))
        elif command == "count":
            conn.send(len(received))
        else:
            break
    controller.stop()
    conn.send("stopped")


class Sink:
    """The loopback SMTP server: what it received since the last reset."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._conn, child = mp.get_context("spawn").Pipe()
        self._process = mp.get_context("spawn").Process(target=_sink_main,
                                                        args=(self.port, child), daemon=True)
        self._process.start()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            raise SystemExit("The aiosmtpd sink did not start.")

    def reset(self) -> None:
        """Forget every message."""
        self._conn.send("reset")
        self._conn.recv()

    def count(self) -> int:
        """How many messages arrived since the last reset."""
        self._conn.send("count")
        return self._conn.recv()

    def received(self) -> list[tuple[bytes | None, str, int]]:
        """(Message-ID, recipient, client port) of every message since the last reset."""
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> None:
        """Stop the server and its process."""
        with contextlib.suppress(OSError, EOFError):
            self._conn.send("stop")
            self._conn.recv()
        self._process.join(10)


# --- mailmerge --------------------------------------------------------------------------------


def prepare_mailmerge(people: list[Person], sink: Sink, folder: Path) -> list[str]:
    """Write mailmerge's template, database CSV and server config; return its command."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "mailmerge_template.txt"
    database = folder / "mailmerge_database.csv"
    config = folder / "mailmerge_server.conf"
    template.write_text(MAILMERGE_TEMPLATE, encoding="utf-8")
    config.write_text(MAILMERGE_CONF.format(port=sink.port), encoding="utf-8")
    with database.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "first_name", "full_name", "note", "position",
                         "organization", "differentiator", "applicant_count"])
        for person in people:
            writer.writerow([person.email, person.first, person.full_name, person.note, TITLE,
                             ORG, DIFFERENTIATOR, len(people) + 1])
    return ["mailmerge", "--no-dry-run", "--no-limit", "--template", str(template),
            "--database", str(database), "--config", str(config), "--output-format", "text"]


def run_mailmerge(command: list[str]) -> float:
    """Send every letter with the mailmerge CLI; wall seconds, start-up included."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mailmerge failed ({done.returncode}): {done.stderr.strip()}")
    return wall


def mailmerge_startup() -> float:
    """Seconds for ``mailmerge --version``: the CLI's own start-up."""
    start = time.perf_counter()
    subprocess.run(["mailmerge", "--version"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


# --- recruiter --------------------------------------------------------------------------------


def make_app(folder: Path, sink: Sink, database_url: str | None = None,  # noqa: ANN201
             queue_url: str | None = None):
    """A temporary recruiter instance whose mail goes to the sink, on an empty database.

    SQLite files in ``folder`` by default; a PostgreSQL URL is emptied first (its schema is
    dropped), so give it a database of its own.
    """
    os.environ["RECRUITER_INSTANCE_PATH"] = str(folder)
    from sqlalchemy import text

    from recruiter import create_app
    from recruiter.extensions import db

    database_url = database_url or f"sqlite:///{folder / 'recruiter.db'}"
    app = create_app({"TESTING": True, "MAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                      "DATABASE_URL": database_url,
                      "QUEUE_URL": queue_url or f"sqlite:///{folder / 'queue.db'}"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
    return app


def populate(app, people: list[Person]) -> tuple[int, int]:  # noqa: ANN001
    """One organization, member and position with the hire and every candidate, approved."""
    from recruiter.extensions import db
    from recruiter.services import accounts, approval, positions
    from recruiter.services.importing import CandidateRow

    with app.app_context():
        session = db.session
        org = accounts.create_organization(
            session, ORG, address="1055 West Hastings Street, Suite 300\nVancouver BC  V6E 2E9"
            "\nCanada", timezone="America/Vancouver", locale="en_CA", sender_name=SENDER_NAME,
            sender_title=SENDER_TITLE, sender_email=SENDER_EMAIL,
            send_rate_per_minute=10_000_000)  # above any speed here: counted, never waited on
        member = accounts.create_member(session, org, email="jordan.reyes@example.com",
                                        role="admin", password="bench-password-1",
                                        name=SENDER_NAME)
        position = positions.create_position(session, org, title=TITLE, location=LOCATION,
                                             differentiator=DIFFERENTIATOR)
        rows = [CandidateRow(row=2, first_name=HIRE[0], last_name=HIRE[1], email=HIRE[2],
                             stage="interviewed", outcome="hired",
                             note="Eight years running ground operations for a regional "
                                  "airline.")]
        rows += [CandidateRow(row=i + 3, first_name=p.first, last_name=p.last, email=p.email,
                              address_line1=p.address, city=p.city, region=p.region,
                              postal_code=p.postal, country="Canada", stage=p.stage,
                              outcome="declined", note=p.note)
                 for i, p in enumerate(people)]
        positions.import_rows(session, position, rows)
        session.commit()
        approval.approve_all(session, position, member, expected_count=len(people),
                            acknowledge_warnings=True)
        session.commit()
        return position.id, member.id


def freeze(app, position_id: int, member_id: int) -> tuple[float, list[int], set[bytes]]:  # noqa: ANN001
    """Freeze the batch; (seconds, queued email delivery ids, their Message-IDs)."""
    from recruiter.extensions import db
    from recruiter.models import Member, Position
    from recruiter.services import sending

    with app.app_context():
        session = db.session
        position, member = session.get(Position, position_id), session.get(Member, member_id)
        start = time.perf_counter()
        batch, created = sending.freeze_batch(session, position, member,
                                              hold_until_accepted=False)
        session.commit()
        seconds = time.perf_counter() - start
        assert created and batch.state == "released", (created, batch.state)
        deliveries = [d for d in sending.deliveries_of(session, batch)
                      if d.channel == "email" and d.state == "queued"]
        ids = [d.id for d in deliveries]
        message_ids = {d.letter.frozen.message_id.encode() for d in deliveries}
        return seconds, ids, message_ids


def requeue(app, *, not_before: datetime | None = None) -> None:  # noqa: ANN001
    """Put every email delivery back to queued, as frozen, for the next run.

    With ``not_before`` the deliveries are not due until then: no sweep sends them early.
    """
    from sqlalchemy import update

    from recruiter.extensions import db
    from recruiter.models import Delivery, Letter

    with app.app_context():
        db.session.execute(update(Delivery).where(Delivery.channel == "email").values(
            state="queued", attempts=0, next_attempt_at=not_before, claimed_at=None,
            sent_at=None, server_reply=None, last_error=None))
        db.session.execute(update(Letter).where(Letter.batch_id.is_not(None))
                           .values(status="frozen"))
        db.session.commit()


def unsent(app) -> int:  # noqa: ANN001
    """Email deliveries not yet ``sent``."""
    from sqlalchemy import func, select

    from recruiter.extensions import db
    from recruiter.models import Delivery

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.channel == "email", Delivery.state != "sent"))
        db.session.remove()
    return count


def send(app, ids: list[int], threads: int) -> float:  # noqa: ANN001
    """The queue task without Huey: ``deliver_ids`` from ``threads`` threads; wall seconds.

    The ids are cut into messages of ``SEND_CLAIM_BATCH`` ids, as ``Queue.enqueue`` does.
    """
    from recruiter.extensions import db
    from recruiter.services import sending

    url, batch = app.config["MAIL_URL"], int(app.config["SEND_CLAIM_BATCH"])
    todo: queue_module.SimpleQueue[list[int]] = queue_module.SimpleQueue()
    for start in range(0, len(ids), batch):
        todo.put(ids[start:start + batch])
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                try:
                    message = todo.get_nowait()
                except queue_module.Empty:
                    break
                with app.app_context():  # as the queue task: one app context per message
                    sending.deliver_ids(db.session, message, url, batch=batch)
        except BaseException as exc:  # noqa: BLE001  (reported after the run)
            errors.append(exc)
        finally:
            sending.transport_for(url).close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds


def send_via_huey(app, sink: Sink, ids: list[int], workers: int) -> float:  # noqa: ANN001
    """The product path: enqueue every id, run ``queue.consumer(workers)`` until all are sent.

    Returns the seconds from the consumer's start until every delivery is recorded ``sent``
    (the enqueue, 0.03 s for 1,000 ids, is not counted).
    """
    from recruiter.queue import consumer, queue

    with app.app_context():
        the_queue = queue()
        the_queue.batch = int(app.config["SEND_CLAIM_BATCH"])  # --claim-batch may change it
        the_queue.huey.flush()
        the_queue.enqueue(ids)
        worker_pool = consumer(workers=workers)
        start = time.perf_counter()
        worker_pool.start()
        try:
            wait_until_sent(app, sink, len(ids), start)
            return time.perf_counter() - start
        finally:
            worker_pool.stop(graceful=True)
            the_queue.huey.flush()


def wait_until_sent(app, sink: Sink, count: int, start: float, limit: float = 600) -> None:  # noqa: ANN001
    """Watch the sink (no database reads meanwhile), then wait for every outcome's commit."""
    while sink.count() < count and time.perf_counter() - start < limit:
        time.sleep(0.02)
    while (pending := unsent(app)) and time.perf_counter() - start < limit:
        time.sleep(0.01)
    if pending:
        raise SystemExit(f"{pending} deliveries still not sent after {limit} s")


def check_sink(sink: Sink, expected: int, message_ids: set[bytes] | None) -> str:
    """Count what the sink got; refuse a run that lost or duplicated a letter."""
    received = sink.received()
    recipients = Counter(rcpt for _, rcpt, _ in received)
    problems = []
    if len(received) != expected:
        problems.append(f"{len(received)} messages, expected {expected}")
    if len(recipients) != len(received):
        problems.append(f"{len(received) - len(recipients)} recipients got two messages")
    if message_ids is not None:
        ids = Counter(mid for mid, _, _ in received)
        if (twice := sum(1 for c in ids.values() if c > 1)):
            problems.append(f"{twice} Message-IDs arrived twice")
        if set(ids) != message_ids:
            problems.append("the Message-IDs differ from the frozen letters'")
    if problems:
        raise SystemExit("The sink check failed: " + "; ".join(problems))
    return f"{len(received)} received, {len(recipients)} distinct recipients" + (
        ", 0 duplicate Message-IDs" if message_ids is not None else "") + \
        f", over {len({port for _, _, port in received})} connections"


def verify_audit(app) -> str:  # noqa: ANN001
    """The audit chain must verify after every run."""
    from recruiter.extensions import db
    from recruiter.models import AuditEvent
    from recruiter.services import audit

    with app.app_context():
        problems = audit.verify(db.session)
        events = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))
        db.session.remove()
    if problems:
        raise SystemExit(f"The audit chain does not verify: {problems[0]}")
    return f"{events} events, verify() found no problem"


def machine() -> str:
    """Processor and core count, for the README."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def need_mailmerge() -> None:
    """Exit 2, saying how to install it, when the anchor is missing."""
    if shutil.which("mailmerge") is None:
        print("The anchor, awdeorio's mailmerge CLI, is not installed. Install it in the bench "
              "environment only (it is not a recruiter dependency):\n\n"
              "    pip install mailmerge\n", file=sys.stderr)
        sys.exit(2)


def spread(count: int, values: list[float]) -> str:
    """The range of a figure's rounds, in letters/s."""
    return f"{count / max(values):,.0f}–{count / min(values):,.0f}"


def _plural(n: int, what: str = "worker thread") -> str:
    return f"{n} {what}" + ("" if n == 1 else "es" if what.endswith("s") else "s")


def print_head(count: int, mm_runs: list[float], freeze_label: str, freeze_s: float) -> None:
    """The table's head, mailmerge's row and the freeze's row (bench_scale prints them too)."""
    mm = statistics.median(mm_runs)
    print("| sender | seconds | letters/s | range, letters/s | vs mailmerge |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| mailmerge CLI: render + send, new connection per message | {mm:.2f} "
          f"| {count / mm:,.0f} | {spread(count, mm_runs)} | 1.00 |")
    print(f"| {freeze_label}: render + MIME + PDF, once | {freeze_s:.2f} "
          f"| {count / freeze_s:,.1f} | | |")


def print_checks(load_before: float, checks: dict[str, str], audit_check: str) -> None:
    """The load, what the sink received per sender, and the audit chain's verdict."""
    print(f"\nload average (1 min) at the start {load_before:.2f}, at the end "
          f"{os.getloadavg()[0]:.2f}: figures are only comparable on an otherwise idle machine.")
    for name, line in checks.items():
        print(f"sink check, {name}: {line}")
    print(f"audit chain after every run: {audit_check}")


def main() -> None:
    """Run mailmerge and recruiter against the same sink and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--threads", default="1,2", help="worker thread counts (1,2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each figure is the median of its rounds (3)")
    parser.add_argument("--claim-batch", default="",
                        help="SEND_CLAIM_BATCH values to run, comma-separated (the default)")
    parser.add_argument("--db-dir", default=None,
                        help="where the instance and its SQLite files live (the temp dir)")
    parser.add_argument("--no-huey", action="store_true", help="skip the Huey consumer runs")
    args = parser.parse_args()
    need_mailmerge()
    threads = [int(x) for x in args.threads.split(",") if x.strip()]
    count, people = args.letters, make_people(args.letters)
    load_before = os.getloadavg()[0]
    sink = Sink()
    runs: dict[tuple[str, int, int], list[float]] = {}
    mm_runs: list[float] = []
    checks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-send-", dir=args.db_dir) as tmp:
        try:
            command = prepare_mailmerge(people, sink, Path(tmp) / "mailmerge")
            app = make_app(Path(tmp) / "instance", sink)
            batches = [int(x) for x in args.claim_batch.split(",") if x.strip()] or \
                [app.config["SEND_CLAIM_BATCH"]]
            paths = ["deliver_ids() per message"] + ([] if args.no_huey else ["Huey consumer"])
            position_id, member_id = populate(app, people)
            freeze_s, ids, message_ids = freeze(app, position_id, member_id)
            for round_ in range(args.repeat):
                sink.reset()
                mm_runs.append(run_mailmerge(command))
                checks["mailmerge"] = check_sink(sink, count, None)
                for path in paths:
                    for batch in batches:
                        app.config["SEND_CLAIM_BATCH"] = batch
                        for n in threads:
                            requeue(app)
                            sink.reset()
                            if path.startswith("Huey"):
                                seconds = send_via_huey(app, sink, ids, n)
                            else:
                                seconds = send(app, ids, n)
                            if (left := unsent(app)):
                                raise SystemExit(f"{path}, {n} threads: {left} not sent")
                            name = f"{path}, claims {batch} per commit, {_plural(n)}"
                            checks[name] = f"{check_sink(sink, count, message_ids)}, all sent"
                            runs.setdefault((path, batch, n), []).append(seconds)
                print(f"round {round_ + 1} of {args.repeat} done", file=sys.stderr)
            audit_check = verify_audit(app)
        finally:
            sink.stop()
    mm = statistics.median(mm_runs)
    ours = {key: statistics.median(values) for key, values in runs.items()}
    print(f"bench_send: {count} email letters to a loopback aiosmtpd sink, median of "
          f"{args.repeat} rounds ({datetime.now(UTC):%Y-%m-%d}; {machine()}; SQLite (WAL, "
          f"synchronous=FULL) in {args.db_dir or tempfile.gettempdir()})\n")
    print_head(count, mm_runs, "recruiter freeze", freeze_s)
    for (path, batch, n), seconds in ours.items():
        print(f"| recruiter send, {path}, claims {batch} per commit, {_plural(n)} "
              f"| {seconds:.2f} | {count / seconds:,.0f} | {spread(count, runs[path, batch, n])} "
              f"| **{mm / seconds:.2f}** |")
    print_checks(load_before, checks, audit_check)
    for path in paths:
        for batch in batches:
            one, two = ours[path, batch, threads[0]], ours[path, batch, threads[-1]]
            print(f"goal, {path}, claims {batch}: at least mailmerge's throughput -> "
                  f"{'met' if min(one, two) <= mm else 'NOT met'} ({mm / one:.2f}x with "
                  f"{threads[0]}, {mm / two:.2f}x with {threads[-1]}); more with "
                  f"{threads[-1]} than {threads[0]} (10% or more) -> "
                  f"{'met' if one / two >= 1.10 else 'NOT met'} ({one / two:.2f}x)")


if __name__ == "__main__":
    main()
