"""End-to-end send of 1,000 email letters to a loopback SMTP sink, against mailmerge.

    pip install mailmerge          # bench environment only; not a recruiter dependency
    python bench/bench_send.py [--letters 1000] [--threads 1,2] [--repeat 3] [--variants]

A loopback aiosmtpd sink (a Controller on 127.0.0.1 in its own process, counting messages and
answering 250) receives both senders' mail in the same run:

- the anchor: awdeorio's ``mailmerge`` CLI, run as a subprocess with ``--no-dry-run
  --no-limit``, renders a text template resembling our letter from a CSV of the same
  candidates and sends each message over a new connection (no security, no rate limit);
- recruiter: a temporary instance (SQLite file DB) with one position of ``--letters``
  declined candidates plus the hire, each with a note. Its letters are approved
  (``approve_all``) and frozen once (``freeze_batch``: render in send mode, MIME, PDF, one
  delivery per letter), then sent (1) by calling ``sending.deliver`` for every delivery id
  from a pool of worker threads, each with its own app context and its own reused SMTP
  connection, and (2) through the product path: ``queue.enqueue`` then
  ``queue.consumer(workers=N)`` (Huey threads, SQLite queue, periodic sweep on). Both keep
  every guarantee: claim committed before DATA, result committed after. The organization's
  rate limit is set above the bench's speed, so its per-message count runs but never waits.

Each round runs mailmerge and every recruiter configuration once; figures are medians over
``--repeat`` rounds, with the range. The sink must count exactly ``--letters`` messages per
run, and for recruiter no Message-ID twice and every delivery ``sent``; the audit chain must
verify at the end. Between recruiter runs the deliveries are put back to ``queued`` (the
frozen bytes are reused).

``--variants`` also sends with proposed changes applied by monkeypatching (to
``sending.py``, ``queue.py`` and the SQLite settings), and with a prototype worker loop
written here, to measure what each would gain; ``--profile`` prints a cProfile of the
one-thread send. ``--db-dir`` puts the SQLite files elsewhere (``/dev/shm`` removes fsync
cost). Goal (issues 4 and 7): at least mailmerge's throughput on the same sink, and
measurably more with 2 workers than with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import multiprocessing as mp
import os
import platform
import pstats
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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

    received: list[tuple[bytes | None, str]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            head = envelope.content.split(b"\r\n\r\n", 1)[0]
            found = _MESSAGE_ID.search(head)
            received.append((found.group(1) if found else None, envelope.rcpt_tos[0]))
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

    def received(self) -> list[tuple[bytes | None, str]]:
        """(Message-ID, recipient) of every message since the last reset."""
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


def make_app(folder: Path, sink: Sink):  # noqa: ANN201
    """A temporary recruiter instance whose mail goes to the sink."""
    os.environ["RECRUITER_INSTANCE_PATH"] = str(folder)
    from recruiter import create_app
    from recruiter.extensions import db

    app = create_app({"TESTING": True, "MAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                      "QUEUE_URL": f"sqlite:///{folder / 'queue.db'}",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'recruiter.db'}"})
    with app.app_context():
        db.create_all()
    return app


def populate(app, people: list[Person]) -> tuple[int, int]:  # noqa: ANN001
    """One organization, member and position with the hire and every candidate, approved."""
    from recruiter.extensions import db
    from recruiter.services import accounts, letters, positions
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
        letters.approve_all(session, position, member, expected_count=len(people),
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
        deliveries = [d for d in sending._deliveries(session, batch)
                      if d.channel == "email" and d.state == "queued"]
        ids = [d.id for d in deliveries]
        message_ids = {d.letter.message_id.encode() for d in deliveries}
        return seconds, ids, message_ids


def requeue(app) -> None:  # noqa: ANN001
    """Put every email delivery back to queued, as frozen, for the next run."""
    from sqlalchemy import update

    from recruiter.extensions import db
    from recruiter.models import Delivery, Letter

    with app.app_context():
        db.session.execute(update(Delivery).where(Delivery.channel == "email").values(
            state="queued", attempts=0, next_attempt_at=None, claimed_at=None, sent_at=None,
            server_reply=None, last_error=None))
        db.session.execute(update(Letter).where(Letter.batch_id.is_not(None))
                           .values(status="frozen"))
        db.session.commit()


def send(app, ids: list[int], threads: int,  # noqa: ANN001
         profiler: cProfile.Profile | None = None) -> tuple[float, Counter]:
    """Deliver every id from ``threads`` worker threads; (seconds, final states)."""
    from recruiter.extensions import db
    from recruiter.services import sending

    todo: queue_module.SimpleQueue[int] = queue_module.SimpleQueue()
    for delivery_id in ids:
        todo.put(delivery_id)
    states: Counter = Counter()
    errors: list[BaseException] = []
    url = app.config["MAIL_URL"]

    def worker() -> None:
        if profiler is not None:
            profiler.enable()
        with app.app_context():
            try:
                while True:
                    try:
                        delivery_id = todo.get_nowait()
                    except queue_module.Empty:
                        break
                    states[sending.deliver(db.session, delivery_id, url).state] += 1
            except BaseException as exc:  # noqa: BLE001  (reported after the run)
                errors.append(exc)
            finally:
                sending.transport_for(url).close()
                db.session.remove()
                if profiler is not None:
                    profiler.disable()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds, states


def prototype_send(app, ids: list[int], threads: int,  # noqa: ANN001, C901
                   batch: int = 1) -> tuple[float, Counter]:
    """A prototype of a leaner worker loop, to measure what a rewrite of ``deliver`` would gain.

    Not product code. It keeps the guarantees of ``sending.deliver``: each claim is a
    conditional UPDATE committed before that letter's DATA, the envelope recipient is
    validated again, every outcome and its audit event are committed before the worker's next
    letters can leave, and a worker that dies after DATA leaves the row ``sending`` for the
    sweeper to mark in doubt. What changes: the outcomes of the previous letters and the next
    claims share one commit; the claim returns what the send needs (UPDATE ... RETURNING, no
    ORM loads, no refresh); only ``eml`` and ``message_id`` of the letter are read (not the
    PDF and HTML); the sender and rate are read once per worker and the rate COUNT at most
    once a second (plus the worker's own sends since); no NOOP per message; the outcomes are
    written with bulk UPDATEs and their audit events appended to the chain together (one lock,
    one read of the last event), as an ``audit.record_many`` would. Outcomes other than
    ``sent`` fall back to ``sending._record``.

    ``batch`` > 1 claims that many letters in one commit before sending them one by one: fewer
    commits, but a worker killed mid-batch leaves up to ``batch`` letters in doubt, not one.
    """
    from sqlalchemy import func, or_, select, update

    from recruiter.extensions import db
    from recruiter.models import AuditEvent, Delivery, Letter, Organization
    from recruiter.services import sending
    from recruiter.services.mail import valid_address

    todo: queue_module.SimpleQueue[int] = queue_module.SimpleQueue()
    for delivery_id in ids:
        todo.put(delivery_id)
    states: Counter = Counter()
    errors: list[BaseException] = []
    url = app.config["MAIL_URL"]

    def record_sent(session, pending: list[tuple]) -> None:  # noqa: ANN001
        """The outcomes of the worker's last letters: bulk UPDATEs and one audit append.

        The audit events are chained exactly as ``audit.record`` chains them, one lock of
        the organization row and one read of the chain's last event for all of them.
        """
        if not pending:
            return
        at = datetime.now(UTC)
        session.execute(update(Delivery), [
            {"id": delivery_id, "state": "sent", "sent_at": at, "server_reply": outcome.reply,
             "last_error": None, "claimed_at": None}
            for delivery_id, _, _, _, _, outcome in pending])
        session.execute(update(Letter), [{"id": letter_id, "status": "sent"}
                                         for _, _, letter_id, _, _, _ in pending])
        by_org: dict[int, list[tuple]] = {}
        for item in pending:
            by_org.setdefault(item[1], []).append(item)
        for org_id, items in by_org.items():
            if session.get_bind().dialect.name == "sqlite":
                session.execute(update(Organization).where(Organization.id == org_id)
                                .values(id=Organization.id)
                                .execution_options(synchronize_session=False))
            else:
                session.execute(select(Organization.id).where(Organization.id == org_id)
                                .with_for_update())
            last = session.execute(
                select(AuditEvent.seq, AuditEvent.hash)
                .where(AuditEvent.organization_id == org_id)
                .order_by(AuditEvent.seq.desc()).limit(1)).first()
            seq, prev = (last[0], last[1]) if last else (0, sending.audit.GENESIS)
            events = []
            for delivery_id, _, _, attempts, message_id, outcome in items:
                seq += 1
                event = AuditEvent(
                    organization_id=org_id, seq=seq, actor_id=None, action="delivery.attempt",
                    subject_type="delivery", subject_id=delivery_id, created_at=at,
                    payload={"attempt": attempts, "state": "sent",
                             "reply_code": sending._reply_code(outcome.reply),
                             "message_id_sha256": sending.audit.sha256_hex(message_id)},
                    prev_hash=prev)
                event.hash = prev = sending.audit.chain_hash(prev, event)
                events.append(event)
            session.add_all(events)
        session.flush()
        states["sent"] += len(pending)

    def take() -> list[int]:
        taken = []
        while len(taken) < batch:
            try:
                taken.append(todo.get_nowait())
            except queue_module.Empty:
                break
        return taken

    def worker() -> None:  # noqa: C901
        transport = sending.SmtpTransport(url)
        transport._connection = _connection_without_noop.__get__(transport)
        orgs: dict[int, tuple[str, int]] = {}
        window = {"fetched": 0.0, "count": 0}
        with app.app_context():
            session = db.session
            pending: list[tuple] = []
            try:
                while True:
                    taken = take()
                    record_sent(session, pending)  # in the same transaction as the next claims
                    pending = []
                    now = datetime.now(UTC)
                    claimed = []
                    for delivery_id in taken:
                        row = session.execute(
                            update(Delivery)
                            .where(Delivery.id == delivery_id, Delivery.channel == "email",
                                   Delivery.state.in_(sending.CLAIMABLE),
                                   or_(Delivery.next_attempt_at.is_(None),
                                       Delivery.next_attempt_at <= now))
                            .values(state="sending", claimed_at=now,
                                    attempts=Delivery.attempts + 1)
                            .returning(Delivery.organization_id, Delivery.letter_id,
                                       Delivery.recipient, Delivery.attempts)
                            .execution_options(synchronize_session=False)).first()
                        if row is None:
                            states["skipped"] += 1
                            continue
                        org_id = row[0]
                        if org_id not in orgs:
                            org = session.get(Organization, org_id)
                            orgs[org_id] = (valid_address(org.sender_email, "sender address"),
                                            org.send_rate_per_minute)
                        if orgs[org_id][1]:
                            if time.monotonic() - window["fetched"] > 1.0:
                                window["count"] = session.scalar(
                                    select(func.count()).select_from(Delivery).where(
                                        Delivery.organization_id == org_id,
                                        Delivery.sent_at > now - timedelta(minutes=1)))
                                window["fetched"] = time.monotonic()
                            if window["count"] >= orgs[org_id][1]:
                                raise SystemExit("prototype: rate limit reached (not modelled)")
                            window["count"] += 1
                        claimed.append((delivery_id, *row))
                    session.commit()  # the claims, and the previous outcomes, before DATA
                    if not taken:
                        break
                    for delivery_id, org_id, letter_id, recipient, attempts in claimed:
                        eml, message_id = session.execute(
                            select(Letter.eml, Letter.message_id).where(Letter.id == letter_id)
                        ).one()
                        outcome = transport.send(orgs[org_id][0], valid_address(recipient or ""),
                                                 eml or b"", message_id or "")
                        if outcome.state == "sent":
                            pending.append((delivery_id, org_id, letter_id, attempts,
                                            message_id or "", outcome))
                        else:
                            delivery = session.get(Delivery, delivery_id)
                            session.refresh(delivery)
                            states[sending._record(session, delivery, outcome, now,
                                                   sending.MAX_ATTEMPTS).state] += 1
            except BaseException as exc:  # noqa: BLE001  (reported after the run)
                errors.append(exc)
            finally:
                transport.close()
                db.session.remove()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds, states


def send_via_huey(app, sink: Sink, ids: list[int],  # noqa: ANN001
                  workers: int) -> tuple[float, float]:
    """The product path: enqueue every id, run ``queue.consumer(workers)`` until all are sent.

    Returns (enqueue seconds, drain seconds). The consumer's worker threads run the ``send``
    task, which calls ``sending.deliver``; the periodic sweep runs as in ``recruiter worker``.
    """
    from sqlalchemy import func, select

    from recruiter.extensions import db
    from recruiter.models import Delivery
    from recruiter.queue import consumer, queue

    with app.app_context():
        the_queue = queue()
        the_queue.huey.flush()
        start = time.perf_counter()
        the_queue.enqueue(ids)
        enqueue_s = time.perf_counter() - start
        worker_pool = consumer(workers=workers)
        start = time.perf_counter()
        worker_pool.start()
        try:
            # Watch the sink first (no database reads to count or to compete with), then wait
            # for the last results to be committed.
            while sink.count() < len(ids) and time.perf_counter() - start < 3600:
                time.sleep(0.02)
            while True:
                pending = db.session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.channel == "email", Delivery.state != "sent"))
                db.session.rollback()
                if not pending:
                    break
                if time.perf_counter() - start > 3600:
                    raise SystemExit(f"Huey consumer: {pending} deliveries still not sent")
                time.sleep(0.01)
            drain_s = time.perf_counter() - start
        finally:
            worker_pool.stop(graceful=True)
            the_queue.huey.flush()
            db.session.remove()
    return enqueue_s, drain_s


class SqlCounter:
    """Counts SQL statements and commits on the app's engine while active."""

    def __init__(self, app) -> None:  # noqa: ANN001
        from sqlalchemy import event

        from recruiter.extensions import db

        with app.app_context():
            self.engine = db.engine
        self.statements = self.commits = 0
        self.active = False
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)

    def _statement(self, *args) -> None:  # noqa: ANN002
        if self.active:
            self.statements += 1

    def _commit(self, *args) -> None:  # noqa: ANN002
        if self.active:
            self.commits += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count from zero inside the block."""
        self.statements = self.commits = 0
        self.active = True
        try:
            yield
        finally:
            self.active = False


# --- variants: proposed changes, applied by monkeypatching ------------------------------------


@dataclass(frozen=True)
class Changes:
    """Proposed changes to measure; all off is recruiter as shipped."""

    no_noop: bool = False  # reuse the connection without a NOOP before every message
    no_rate_query: bool = False  # no per-message COUNT of the last minute's sends
    no_pre_ping: bool = False  # no SELECT 1 at every pool checkout (pool_pre_ping)
    journal: str = "delete"  # SQLite: "delete" (as shipped), "wal" (synchronous=FULL) or
    #                          "wal-normal" (synchronous=NORMAL)
    no_audit: bool = False  # informational only: no audit event per attempt
    huey_results: bool = True  # Huey stores each task's return value (a write per message)
    claim_batch: int = 1  # prototype worker only: letters claimed per commit


def _connection_without_noop(self):  # noqa: ANN001, ANN202
    if self._conn is None:
        self._conn = self._connect()
    return self._conn


@contextlib.contextmanager
def applied(app, changes: Changes) -> Iterator[None]:  # noqa: ANN001
    """Apply ``changes`` for the duration of the block, then restore everything."""
    from sqlalchemy import event

    from recruiter.extensions import db
    from recruiter.services import sending

    with app.app_context():
        engine = db.engine
    saved = (sending.SmtpTransport._connection, sending._rate_limited)
    audit = getattr(sending, "audit", None)
    saved_record = getattr(audit, "record", None)
    synchronous = "NORMAL" if changes.journal == "wal-normal" else "FULL"

    def on_connect(dbapi_connection, record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    if changes.journal != "delete":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        event.listen(engine, "connect", on_connect)
        engine.dispose()
    pre_ping = engine.pool._pre_ping
    if changes.no_pre_ping:
        engine.pool._pre_ping = False
    if changes.no_noop:
        sending.SmtpTransport._connection = _connection_without_noop
    if changes.no_rate_query:
        sending._rate_limited = lambda session, delivery, now: None
    if changes.no_audit and audit is not None:
        audit.record = lambda *args, **kwargs: None
    huey = app.extensions["recruiter.queue"].huey
    huey_results = huey.results
    huey.results = changes.huey_results
    try:
        yield
    finally:
        sending.SmtpTransport._connection, sending._rate_limited = saved
        if audit is not None:
            audit.record = saved_record
        engine.pool._pre_ping = pre_ping
        huey.results = huey_results
        if changes.journal != "delete":
            event.remove(engine, "connect", on_connect)
            engine.dispose()
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            engine.dispose()


CODE = dict(no_noop=True, no_rate_query=True)
VARIANTS: list[tuple[str, Changes]] = [
    ("sending.py: no NOOP before each message", Changes(no_noop=True)),
    ("sending.py: no rate-limit COUNT per message", Changes(no_rate_query=True)),
    ("config.py: no pool_pre_ping", Changes(no_pre_ping=True)),
    ("SQLite WAL, synchronous=FULL", Changes(journal="wal")),
    ("SQLite WAL, synchronous=NORMAL", Changes(journal="wal-normal")),
    ("both sending.py changes + no pre-ping + WAL FULL",
     Changes(**CODE, no_pre_ping=True, journal="wal")),
    ("both sending.py changes + no pre-ping + WAL NORMAL",
     Changes(**CODE, no_pre_ping=True, journal="wal-normal")),
    ("(not a proposal) no audit event per attempt", Changes(no_audit=True)),
]


# --- the run ----------------------------------------------------------------------------------


def check_sink(sink: Sink, expected: int, message_ids: set[bytes] | None) -> str:
    """Count what the sink got; refuse a run that lost or duplicated a letter."""
    received = sink.received()
    recipients = Counter(rcpt for _, rcpt in received)
    problems = []
    if len(received) != expected:
        problems.append(f"{len(received)} messages, expected {expected}")
    if len(recipients) != len(received):
        problems.append(f"{len(received) - len(recipients)} recipients got two messages")
    if message_ids is not None:
        ids = Counter(mid for mid, _ in received)
        if (twice := sum(1 for c in ids.values() if c > 1)):
            problems.append(f"{twice} Message-IDs arrived twice")
        if set(ids) != message_ids:
            problems.append("the Message-IDs differ from the frozen letters'")
    if problems:
        raise SystemExit("The sink check failed: " + "; ".join(problems))
    return f"{len(received)} received, {len(recipients)} distinct recipients" + (
        ", 0 duplicate Message-IDs" if message_ids is not None else "")


def verify_audit(app) -> str:  # noqa: ANN001
    """Check the audit chain after every run, when this recruiter has one."""
    from recruiter.extensions import db
    from recruiter.services import sending

    audit = getattr(sending, "audit", None)
    if audit is None or not hasattr(audit, "verify"):
        return "no audit chain in this version"
    with app.app_context():
        problems = audit.verify(db.session)
        events = db.session.scalar(db.select(db.func.count()).select_from(
            audit.AuditEvent))
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


def _plural(n: int) -> str:
    return f"{n} worker thread{'s' if n > 1 else ''}"


DIRECT, HUEY, PROTO = "deliver() per id", "Huey consumer", "prototype worker loop"
PROTO_VARIANTS: list[tuple[str, Changes]] = [
    ("prototype, SQLite as shipped", Changes()),
    ("prototype + no pre-ping + WAL FULL", Changes(no_pre_ping=True, journal="wal")),
    ("prototype + no pre-ping + WAL NORMAL", Changes(no_pre_ping=True, journal="wal-normal")),
    ("prototype, claims 10 per commit, SQLite as shipped", Changes(claim_batch=10)),
    ("prototype, claims 10 per commit + no pre-ping + WAL FULL",
     Changes(no_pre_ping=True, journal="wal", claim_batch=10)),
]
HUEY_VARIANTS: list[tuple[str, Changes]] = [
    ("queue.py: Huey results=False", Changes(huey_results=False)),
    ("queue.py: results=False + all proposed changes with WAL FULL",
     Changes(**CODE, no_pre_ping=True, journal="wal", huey_results=False)),
]


def main() -> None:  # noqa: C901, PLR0912, PLR0915  (a linear script)
    """Run mailmerge and recruiter against the same sink and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--threads", default="1,2",
                        help="worker thread counts to send with, comma-separated (1,2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each figure is the median of its rounds (3)")
    parser.add_argument("--db-dir", default=None,
                        help="where the temporary instance and its SQLite files live "
                             "(default: the system temp dir)")
    parser.add_argument("--no-huey", action="store_true",
                        help="skip the runs through the Huey consumer")
    parser.add_argument("--variants", action="store_true",
                        help="also send with proposed changes applied by monkeypatching")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one one-thread send")
    args = parser.parse_args()
    if shutil.which("mailmerge") is None:
        print("The anchor, awdeorio's mailmerge CLI, is not installed. Install it in the bench "
              "environment only (it is not a recruiter dependency):\n\n"
              "    pip install mailmerge\n", file=sys.stderr)
        sys.exit(2)
    threads = [int(x) for x in args.threads.split(",") if x.strip()]
    count = args.letters
    people = make_people(count)
    configs = [(DIRECT, "as shipped", Changes())]
    if not args.no_huey:
        configs.append((HUEY, "as shipped", Changes()))
    if args.variants:
        configs += [(DIRECT, label, changes) for label, changes in VARIANTS]
        if not args.no_huey:
            configs += [(HUEY, label, changes) for label, changes in HUEY_VARIANTS]
        configs += [(PROTO, label, changes) for label, changes in PROTO_VARIANTS]

    load_before = os.getloadavg()[0]
    sink = Sink()
    mm_runs: list[float] = []
    runs: dict[tuple[str, str, int], list[float]] = {}
    enqueues: dict[int, list[float]] = {}
    statements: dict[tuple[str, str, int], float] = {}
    commits: dict[tuple[str, str, int], float] = {}
    checks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-send-", dir=args.db_dir) as tmp:
        folder = Path(tmp)
        try:
            command = prepare_mailmerge(people, sink, folder / "mailmerge")
            startup = mailmerge_startup()
            app = make_app(folder / "instance", sink)
            populate_start = time.perf_counter()
            position_id, member_id = populate(app, people)
            populate_s = time.perf_counter() - populate_start
            freeze_s, ids, message_ids = freeze(app, position_id, member_id)
            if len(ids) != count:
                raise SystemExit(f"{len(ids)} email deliveries queued, expected {count}")
            counter = SqlCounter(app)

            for round_ in range(args.repeat):
                sink.reset()
                mm_runs.append(run_mailmerge(command))
                checks["mailmerge"] = check_sink(sink, count, None)
                for path, label, changes in configs:
                    for n in threads:
                        key = (path, label, n)
                        requeue(app)
                        sink.reset()
                        with applied(app, changes), counter.counting():
                            if path in (DIRECT, PROTO):
                                if path == DIRECT:
                                    seconds, states = send(app, ids, n)
                                else:
                                    seconds, states = prototype_send(app, ids, n,
                                                                     changes.claim_batch)
                                if states != Counter(sent=count):
                                    raise SystemExit(f"{key}: states {dict(states)}")
                            else:
                                enqueue_s, seconds = send_via_huey(app, sink, ids, n)
                                if label == "as shipped":
                                    enqueues.setdefault(n, []).append(enqueue_s)
                        result = check_sink(sink, count, message_ids)
                        runs.setdefault(key, []).append(seconds)
                        statements[key] = counter.statements / count
                        commits[key] = counter.commits / count
                        if label == "as shipped":
                            checks[f"recruiter, {path}, {_plural(n)}"] = \
                                f"{result}, all {count} sent"
                print(f"round {round_ + 1} of {args.repeat} done", file=sys.stderr)

            audit_check = verify_audit(app)

            if args.profile:
                requeue(app)
                sink.reset()
                profiler = cProfile.Profile()
                send(app, ids, 1, profiler)
                check_sink(sink, count, message_ids)
        finally:
            sink.stop()
    load_after = os.getloadavg()[0]

    def rate(seconds: float) -> float:
        return count / seconds

    def spread(values: list[float]) -> str:
        return f"{rate(max(values)):,.0f}–{rate(min(values)):,.0f}"

    mm = statistics.median(mm_runs)
    ours = {key: statistics.median(values) for key, values in runs.items()}
    first = threads[0]
    print(f"bench_send: {count} email letters to a loopback aiosmtpd sink, median of "
          f"{args.repeat} rounds ({datetime.now(UTC):%Y-%m-%d}; {machine()}; "
          f"SQLite files in {args.db_dir or tempfile.gettempdir()})")
    print()
    print("| sender | seconds | letters/s | range, letters/s | vs mailmerge |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| mailmerge CLI: render + send, new connection per message | {mm:.2f} "
          f"| {rate(mm):,.0f} | {spread(mm_runs)} | 1.00 |")
    print(f"| recruiter freeze: render + MIME + PDF, once | {freeze_s:.2f} "
          f"| {rate(freeze_s):,.1f} | | |")
    for path, label, _ in configs:
        if label != "as shipped":
            continue
        for n in threads:
            key = (path, label, n)
            print(f"| recruiter send, {path}, {_plural(n)} | {ours[key]:.2f} "
                  f"| {rate(ours[key]):,.0f} | {spread(runs[key])} "
                  f"| **{mm / ours[key]:.2f}** |")
    main_key = (DIRECT, "as shipped", first)
    total = freeze_s + ours[main_key]
    print(f"| recruiter freeze + send, {DIRECT}, {_plural(first)} | {total:.2f} "
          f"| {rate(total):,.1f} | | {mm / total:.3f} |")
    if args.variants:
        print()
        print("Proposed changes, applied by monkeypatching (same frozen letters, same sink, "
              "same rounds):")
        print()
        print("| path | change | threads | seconds | letters/s | range, letters/s "
              "| vs as shipped | vs mailmerge | SQL/letter |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for path, label, _ in configs:
            for n in threads:
                key = (path, label, n)
                base = ours[(DIRECT if path == PROTO else path, "as shipped", n)]
                print(f"| {path} | {label} | {n} | {ours[key]:.2f} | {rate(ours[key]):,.0f} "
                      f"| {spread(runs[key])} | {base / ours[key]:.2f} "
                      f"| {mm / ours[key]:.2f} | {statements[key]:.1f} |")
    print()
    print(f"load average (1 min) at the start {load_before:.2f}, at the end {load_after:.2f}: "
          f"figures are only comparable on an otherwise idle machine.")
    print(f"mailmerge CLI start-up (`mailmerge --version`): {startup:.2f} s; without it "
          f"mailmerge sends {count / (mm - startup):,.0f} letters/s.")
    print(f"recruiter setup, outside the timing: {count} applications imported and approved "
          f"in {populate_s:.1f} s.")
    for n, values in enqueues.items():
        print(f"Huey enqueue of {count} ids before the {_plural(n)} consumer run (not in its "
              f"time): {statistics.median(values):.2f} s.")
    print(f"recruiter send as shipped, {DIRECT}: {statements[main_key]:.1f} SQL statements "
          f"(pool pre-ping not counted) and {commits[main_key]:.1f} commits per letter.")
    for name, line in checks.items():
        print(f"sink check, {name}: {line}")
    print(f"audit chain after every run: {audit_check}")
    print(f"goal: send at least mailmerge's throughput -> "
          f"{'met' if ours[main_key] <= mm else 'NOT met'} ({mm / ours[main_key]:.2f}x with "
          f"{_plural(first)})")
    if len(threads) > 1:
        last = (DIRECT, "as shipped", threads[-1])
        gain = ours[main_key] / ours[last]
        print(f"goal: measurably more with {threads[-1]} workers than with {first} (10% or "
              f"more, beyond run-to-run noise) -> {'met' if gain >= 1.10 else 'NOT met'} "
              f"({gain:.2f}x)")
    if args.profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(12)
        print()
        print("cProfile of one one-thread send as shipped (the worker thread), by own time:")
        print(out.getvalue())


if __name__ == "__main__":
    main()
