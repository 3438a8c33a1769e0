"""Page latency with 5,000 applications under 10 concurrent clients, and the ZIP exports' memory.

    python bench/bench_web.py [--applications 5000] [--clients 10] [--requests 300]

A temporary instance (``recruiter.create_app``, SQLite file database in a temporary folder,
the test suite's settings with CSRF and rate limits off) gets one organization with a manager
and an admin, and one position with ``--applications`` candidates imported through
``positions.import_rows`` from a Vancouver-shaped CSV (bench_import.make_csv: one hire, notes on
about 85%, some names outside ASCII). Its letters are rendered once with
``letters.refresh_letters``. All of this is outside the timing.

The pages are then served as the README's deployment notes run the app: gunicorn with two
single-threaded (sync) worker processes per core (``--web-workers``, ``--web-threads``;
``--web werkzeug`` serves them with werkzeug's threaded ``run_simple`` in one process instead).
Until issue 17 the notes said one process per core with 4 threads each; ``--also-threads 4``
(the default) serves the notes page with CVs that way too, in the same run, for comparison.
This process signs in as the manager and runs ``--clients`` threads, each with its own
``requests.Session`` carrying the signed-in cookie, sending ``--requests`` requests in total to
each page, every request for a random page number of that list:

- the position page, ``/positions/<id>?page=N`` (the candidate table);
- the letter review list, ``/positions/<id>/letters?page=N``;
- the notes page, ``/positions/<id>/notes?page=N``.

Each page first gets ``--clients`` warm-up requests at once, not counted, so that every
server process has the page's review ready. p50 and p95 are per page; every response must be
200 and show the position's title.

**Baseline, same run:** the same pages served by the code at ``--baseline-ref`` (exported
with ``git archive`` into a temporary folder, never checked out here), on the same database,
with ``--baseline-requests`` requests per page (as many as ``--requests`` unless given). The
default is dcdff09, the pages before issue 17's last point. Issue 7's naive baseline, the code
before it (c8a1105: its letter list listed, refreshed and checked all 5,000 letters on every
view, 9.4 to 24 s a page), no longer reads today's database: issue 14 dropped a column its
models read, and today's boilerplates use filters it lacks. Its figures stay in bench/README.md.

**Exports:** the letters are then made ``sent`` with plausible stored bytes written straight
into their rows: the real PDF of one letter, rendered once, with a per-letter trailer comment,
and the real ``.eml`` of one letter (``files.letter_eml``) with each letter's own address
and Message-ID put in. Rendering 5,000 PDFs would take minutes and is ``bench_pdf``'s subject.
Then the admin downloads the audit evidence ZIP (``/audit/positions/<id>/export.zip``) and
the letters ZIP (``/positions/<id>/letters.zip``, streamed), each from a fresh werkzeug
server (one process, so its memory is the export's). For
each: the time to the last byte, the size, and the serving process's peak RSS (``VmHWM`` in
``/proc/PID/status``, reset through ``/proc/PID/clear_refs`` just before the export).

**CVs (issue 17):** after the three pages, every application gets a CV written straight into
its rows (``attach_cvs``): one real PDF rendered once by WeasyPrint, with a per-application
trailer comment, as the uploaded bytes, and about 5,000 characters of CV-like text as the
extracted text. The notes page alone is then served and loaded again, as above (``--no-cvs``
skips this). Its p95 counts towards the goal; the other pages' measurement is unchanged.

Goals (issue 7): p95 at most 150 ms on every page; each export at most 300 MB peak RSS.
Issue 17: the notes page with CVs attached to every application, p95 at most 150 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GOAL_P95_MS = 150.0
GOAL_RSS_MB = 300.0
PASSWORD = "bench password"
MANAGER, ADMIN = "manager@example.com", "admin@example.com"
TITLE = "Operations Coordinator"


def app_config(folder: Path) -> dict[str, object]:
    """The test suite's settings (tests/conftest.py), on a SQLite file in ``folder``."""
    return {"SECRET_KEY": "bench-secret", "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False, "DATABASE_URL": f"sqlite:///{folder / 'web.db'}",
            "MAIL_URL": (folder / "outbox").as_uri(),
            "QUEUE_URL": f"sqlite:///{folder / 'queue.db'}", "QUEUE_IMMEDIATE": True,
            "RATELIMIT_ENABLED": False}


def _app(folder: Path):  # noqa: ANN202
    os.environ["RECRUITER_INSTANCE_PATH"] = str(folder / "instance")
    from recruiter import create_app

    return create_app(app_config(folder))


# --- the instance ----------------------------------------------------------------------------

def build(folder: Path, applications: int) -> int:
    """Create the organization, members and the position with its letters; its id."""
    from bench_import import make_csv

    from recruiter.extensions import db
    from recruiter.services import letters
    from recruiter.services.accounts import create_member, create_organization
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    app = _app(folder)
    with app.app_context():
        db.create_all()
        session = db.session
        org = create_organization(
            session, "Harbour Air Logistics", address="1055 West Hastings Street\nVancouver BC",
            timezone="America/Vancouver", locale="en_CA", sender_name="Jordan Reyes",
            sender_title="Operations Manager", sender_email="hiring@harbourair.example.com")
        for email, role in ((MANAGER, "manager"), (ADMIN, "admin")):
            create_member(session, org, email=email, role=role, password=PASSWORD,
                          name=role.title())
        position = create_position(session, org, title=TITLE, location="Vancouver, BC",
                                   differentiator="hands-on aviation operations experience")
        import_rows(session, position, accepted_rows(parse_candidates(make_csv(applications))))
        session.commit()
        letters.refresh_letters(session, position)
        session.commit()
        position_id = position.id
        db.session.remove()
        db.engine.dispose()
    return position_id


def make_sent(folder: Path, position_id: int) -> tuple[int, float]:
    """Freeze every letter as the app does and mark it sent; (letters, mean PDF KiB).

    Each letter gets a frozen copy: its real ``.eml`` (readdressed) when it goes by email, a
    real letterhead PDF when it goes by post, in one batch of the position.
    """
    from datetime import UTC, datetime

    from sqlalchemy import insert, select, update
    from sqlalchemy.orm import selectinload

    from recruiter.extensions import db
    from recruiter.models import Application, Batch, FrozenLetter, Letter, Position
    from recruiter.services import files
    from recruiter.services.audit import sha256_hex

    app = _app(folder)
    with app.app_context():
        session = db.session
        rows = session.scalars(select(Letter).join(Application).where(
            Application.position_id == position_id, Letter.status != "cancelled")
            .options(selectinload(Letter.application).selectinload(Application.candidate))
            .order_by(Letter.id)).all()
        pdf = files.letter_pdf(rows[0])  # one real letterhead PDF
        first = next(x for x in rows if x.application.candidate.email)
        template = files.letter_eml(first).replace(  # one real message, readdressed for each
            first.application.candidate.email.encode(), b"bench@bench.example")
        now = datetime.now(UTC)
        position = session.get(Position, position_id)
        batch = Batch(organization_id=position.organization_id, position_id=position_id,
                      approved_at=now, state="released", hold_until_accepted=False)
        session.add(batch)
        session.flush()
        values, copies, pdf_bytes = [], [], 0
        for letter in rows:
            email = letter.application.candidate.email
            eml = template.replace(b"bench@bench.example", email.encode()) if email else None
            letter_pdf = None if email else pdf + f"\n% letter {letter.id}\n".encode()
            copies.append({"organization_id": letter.organization_id, "letter_id": letter.id,
                           "batch_id": batch.id, "frozen_at": now,
                           "boilerplate_version_id": letter.boilerplate_version_id,
                           "message_id": f"<bench-{letter.id}@harbourair.example.com>",
                           "eml": eml, "eml_sha256": sha256_hex(eml) if eml else None,
                           "pdf": letter_pdf,
                           "pdf_sha256": sha256_hex(letter_pdf) if letter_pdf else None})
            values.append({"id": letter.id, "status": "sent", "batch_id": batch.id})
            pdf_bytes += len(letter_pdf or b"")
        session.expunge_all()
        session.execute(insert(FrozenLetter), copies)
        session.execute(update(Letter), values)
        session.commit()
        db.session.remove()
        db.engine.dispose()
    return len(values), pdf_bytes / max(len(values), 1) / 1024


CV_PARAGRAPH = ("Dispatch lead at a regional freight carrier: planned forty daily routes, "
                "rebuilt the dispatch board and cut late deliveries from nine to three per cent. "
                "Shift supervisor at an airport cargo terminal, a team of twelve across three "
                "shifts; wrote the handover checklist still in use. ")


def attach_cvs(folder: Path, position_id: int) -> tuple[int, float, int]:
    """Give every application of the position a CV; (documents, KiB of bytes, text chars).

    Written straight into the rows, outside the timing, as an upload would leave them.
    """
    from datetime import UTC, datetime

    from sqlalchemy import insert, select
    from weasyprint import HTML

    from recruiter.extensions import db
    from recruiter.models import Application, Document, DocumentContent
    from recruiter.services.audit import sha256_hex

    text = ("Curriculum vitae\n\n" + "\n\n".join(
        f"{i + 1}. {CV_PARAGRAPH}" for i in range(16)))[:5000]
    pdf = HTML(string="".join(f"<p>{line}</p>" for line in text.split("\n\n"))).write_pdf()
    app = _app(folder)
    with app.app_context():
        session = db.session
        rows = session.execute(select(Application.id, Application.organization_id).where(
            Application.position_id == position_id).order_by(Application.id)).all()
        now = datetime.now(UTC)
        documents, contents = [], []
        for number, (application_id, org_id) in enumerate(rows, start=1):
            data = pdf + f"\n% application {application_id}\n".encode()
            documents.append({"id": number, "organization_id": org_id,
                              "application_id": application_id, "kind": "cv",
                              "file_name": f"cv-{application_id}.pdf",
                              "media_type": "application/pdf", "size": len(data),
                              "sha256": sha256_hex(data), "uploaded_at": now, "text": text,
                              "text_chars": len(text)})
            contents.append({"document_id": number, "data": data})
        session.execute(insert(Document), documents)
        session.execute(insert(DocumentContent), contents)
        session.commit()
        db.session.remove()
        db.engine.dispose()
    return len(documents), len(pdf) / 1024, len(text)


# --- the server ------------------------------------------------------------------------------

# The server runs as ``python -c SERVE`` with the code under test first on PYTHONPATH, so the
# baseline's server imports the baseline's recruiter, not this checkout's.
SERVE = """
import json, logging, sys
from werkzeug.serving import run_simple
from recruiter import create_app
logging.getLogger("werkzeug").setLevel(logging.WARNING)
app = create_app(json.loads(sys.argv[1]))
run_simple("127.0.0.1", int(sys.argv[2]), app, threaded=True, use_reloader=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A serving child process."""

    process: subprocess.Popen
    url: str

    @classmethod
    def start(cls, folder: Path, code_root: Path, web: str = "werkzeug", workers: int = 1,
              threads: int = 4) -> Server:
        """Start ``code_root``'s recruiter on the instance in ``folder``.

        ``web`` is "werkzeug" (run_simple, threaded, one process) or "gunicorn" (as the
        deployment notes run it: ``workers`` processes of ``threads`` threads each).
        """
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(code_root),
               "RECRUITER_INSTANCE_PATH": str(folder / "instance")}
        if web == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
                       "--threads", str(threads), "--timeout", "120",
                       "--bind", f"127.0.0.1:{port}",
                       "--log-level", "warning",
                       f"recruiter:create_app({app_config(folder)!r})"]
        else:
            command = [sys.executable, "-c", SERVE, json.dumps(app_config(folder)), str(port)]
        process = subprocess.Popen(command, cwd=code_root, env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return cls(process, url)
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the server exited at start-up") from None
                time.sleep(0.1)
        process.kill()
        raise RuntimeError("the server did not start within 60 s")

    def pids(self) -> list[int]:
        """The server process and its children (gunicorn's workers)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def status_kb(self, key: str) -> int:
        """A ``/proc/PID/status`` figure of the server, in kB: the largest of its processes."""
        found = 0
        for pid in self.pids():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith(key + ":"):
                    found = max(found, int(line.split()[1]))
        return found

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS; False where the kernel refuses."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the child we started."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the clients -----------------------------------------------------------------------------

def signed_in(url: str, email: str):  # noqa: ANN201
    """A requests session signed in as ``email``."""
    import requests

    session = requests.Session()
    response = session.post(f"{url}/login", data={"email": email, "password": PASSWORD},
                            allow_redirects=False, timeout=60)
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return session


@dataclass
class PageResult:
    """Latencies of one page under load."""

    name: str
    latencies: list[float] = field(default_factory=list)
    pages: int = 1
    bytes: int = 0

    def pct(self, q: float) -> float:
        """The q-th percentile, in ms (nearest rank)."""
        data = sorted(self.latencies)
        return data[max(0, min(len(data) - 1, round(q / 100 * len(data) + 0.5) - 1))] * 1000


def page_count(session, url: str) -> int:  # noqa: ANN001
    """The number of pages a list shows (``Page 1 of N``), 1 without a pager."""
    text = session.get(url, timeout=600).text
    match = re.search(r"Page \d+ of (\d+)", text)
    return int(match.group(1)) if match else 1


def _warm_up(url: str, cookies, clients: int) -> None:  # noqa: ANN001
    """``clients`` requests at once, not counted: every server process gets to the page once."""
    import requests

    def get() -> None:
        with requests.Session() as session:
            session.cookies.update(cookies)
            session.get(url, timeout=600)

    threads = [threading.Thread(target=get) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def load(url: str, cookies, pages: dict[str, str], clients: int, requests_per_page: int,
         seed: int = 1) -> tuple[dict[str, PageResult], float]:  # noqa: ANN001
    """Send ``requests_per_page`` requests to every page from ``clients`` threads at once.

    Returns the results and the seconds the measured requests took (not the warm-up).
    """
    import requests

    results = {}
    plan: list[tuple[str, str]] = []
    rng = random.Random(seed)
    for name, path in pages.items():
        warm = requests.Session()
        warm.cookies.update(cookies)
        result = PageResult(name, pages=page_count(warm, url + path))
        _warm_up(url + path, cookies, clients)
        results[name] = result
        for _ in range(requests_per_page):
            page = rng.randint(1, result.pages)
            plan.append((name, f"{path}?page={page}" if result.pages > 1 else path))
    rng.shuffle(plan)
    lock = threading.Lock()
    errors: list[str] = []

    def worker(items: list[tuple[str, str]]) -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        for name, path in items:
            start = time.perf_counter()
            try:
                response = session.get(url + path, timeout=600)
                body = response.content
            except requests.RequestException as exc:  # a dead server process: counted, not lost
                with lock:
                    errors.append(f"{path}: {exc!r}")
                continue
            elapsed = time.perf_counter() - start
            with lock:
                if response.status_code != 200 or TITLE.encode() not in body:
                    errors.append(f"{path}: {response.status_code}")
                results[name].latencies.append(elapsed)
                results[name].bytes += len(body)

    threads = [threading.Thread(target=worker, args=(plan[i::clients],))
               for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return results, seconds


def export(server: Server, path: str, cookies, form_page: str  # noqa: ANN001
           ) -> tuple[float, int, float, int]:
    """Download one export: (seconds, bytes, peak RSS MB of the server, files in the ZIP).

    Exports are POSTs (they write an audit event), so the CSRF token comes from the page that
    offers the button, as a browser's would.
    """
    import requests

    session = requests.Session()
    session.cookies.update(cookies)
    page = session.get(server.url + form_page, timeout=600).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, f"no form on {form_page}"
    server.reset_peak()
    start = time.perf_counter()
    size = 0
    buffer = io.BytesIO()
    with session.post(server.url + path, data={"csrf_token": token.group(1)}, stream=True,
                      timeout=1800) as response:
        assert response.status_code == 200, response.status_code
        for chunk in response.iter_content(1 << 16):
            size += len(chunk)
            buffer.write(chunk)
    seconds = time.perf_counter() - start
    peak = server.status_kb("VmHWM") / 1024
    with zipfile.ZipFile(buffer) as archive:
        files = len(archive.namelist())
    return seconds, size, peak, files


# --- the run ---------------------------------------------------------------------------------

def _load_avg() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def baseline_tree(ref: str, into: Path) -> Path | None:
    """The code at ``ref``, exported with git archive (the working tree is never touched)."""
    target = into / "baseline-code"
    target.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline: cannot export {ref} ({exc}); skipped")
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_pages(folder: Path, code: Path, position_id: int, clients: int, requests_: int,
              web: str, workers: int, threads: int = 4, only: tuple[str, ...] = ()
              ) -> tuple[dict[str, PageResult], float, float]:
    """Serve ``code`` and load its three pages (or ``only`` these); (results, seconds, RSS MB)."""
    server = Server.start(folder, code, web, workers, threads)
    try:
        manager = signed_in(server.url, MANAGER)
        pages = {"position page": f"/positions/{position_id}",
                 "letter review list": f"/positions/{position_id}/letters",
                 "notes page": f"/positions/{position_id}/notes"}
        pages = {name: path for name, path in pages.items() if not only or name in only}
        results, seconds = load(server.url, manager.cookies, pages, clients, requests_)
        return results, seconds, server.status_kb("VmHWM") / 1024
    finally:
        server.stop()


def print_pages(label: str, results: dict[str, PageResult], seconds: float,
                base: dict[str, PageResult] | None = None) -> None:
    """One table row per page."""
    print(f"\n{label}")
    print("| page | pages of the list | requests | p50 ms | p95 ms | max ms | KiB/response |"
          + (" p95 vs baseline |" if base else ""))
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if base else ""))
    for name, r in results.items():
        ratio = ""
        if base and name in base:
            times = base[name].pct(95) / r.pct(95)
            ratio = f" {times:.{0 if times >= 10 else 1}f}× faster |"
        print(f"| {name} | {r.pages} | {len(r.latencies)} | {r.pct(50):.0f} | {r.pct(95):.0f} | "
              f"{max(r.latencies) * 1000:.0f} | {r.bytes / len(r.latencies) / 1024:.0f} |"
              + ratio)
    total = sum(len(r.latencies) for r in results.values())
    print(f"{total} requests in {seconds:.1f} s: {total / seconds:.1f} requests/s")


def compare_threads(folder: Path, position_id: int, args: argparse.Namespace) -> None:
    """The notes page with CVs from one process per core of ``--also-threads`` threads.

    For comparison only: a failure here (a threaded worker has died under this load, see
    bench/README.md) is printed, not raised, and the run goes on.
    """
    workers = os.cpu_count() or 1
    label = (f"For comparison, not the goal: the same page from {workers} workers x "
             f"{args.also_threads} threads (the layout before issue 17):")
    try:
        threaded, seconds, peak = run_pages(folder, ROOT, position_id, args.clients,
                                            args.requests, args.web, workers,
                                            args.also_threads, only=("notes page",))
    except RuntimeError as exc:
        print(f"\n{label}\nfailed: {exc}")
        return
    print_pages(label, threaded, seconds)
    print(f"server peak RSS over the page load (largest process): {peak:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    """Build, serve, load, export, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300, help="requests per page")
    parser.add_argument("--baseline-ref", default="dcdff09",
                        help="the commit whose code is the baseline ('' to skip it)")
    parser.add_argument("--baseline-requests", type=int, default=None,
                        help="requests per page for the baseline (default: --requests)")
    parser.add_argument("--no-export", action="store_true", help="skip the ZIP exports")
    parser.add_argument("--no-cvs", action="store_true",
                        help="skip the notes page with a CV attached to every application")
    parser.add_argument("--db-dir", default=None, help="folder for the temporary instance")
    parser.add_argument("--web", choices=("gunicorn", "werkzeug"), default="gunicorn",
                        help="the page server: gunicorn as deployed, or werkzeug run_simple")
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="gunicorn worker processes (the deployment notes: 2 per core)")
    parser.add_argument("--web-threads", type=int, default=1,
                        help="threads per gunicorn worker (1: gunicorn's sync worker)")
    parser.add_argument("--also-threads", type=int, default=4,
                        help="also serve the notes page with CVs from one process per core "
                             "with this many threads, the layout before issue 17 (0: skip)")
    args = parser.parse_args(argv)
    if args.baseline_requests is None:
        args.baseline_requests = args.requests
    served = (f"gunicorn, {args.web_workers} workers x {args.web_threads} threads"
              if args.web == "gunicorn"
              else "werkzeug run_simple threaded, 1 process")

    print(f"bench_web: {args.applications} applications, {args.clients} concurrent clients, "
          f"{time.strftime('%Y-%m-%d')}; {platform.processor() or 'cpu'}, {os.cpu_count()} "
          f"cores, Python {platform.python_version()}; pages served by {served}")
    print(f"load average at the start: {_load_avg()}")
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        position_id = build(folder, args.applications)
        print(f"setup, outside the timing: {args.applications} applications imported and "
              f"their letters rendered in {time.perf_counter() - start:.1f} s")

        results, seconds, pages_peak = run_pages(folder, ROOT, position_id, args.clients,
                                                 args.requests, args.web, args.web_workers,
                                                 args.web_threads)
        base = None
        code = baseline_tree(args.baseline_ref, folder) if args.baseline_ref else None
        if code is not None:
            base, base_seconds, base_peak = run_pages(folder, code, position_id, args.clients,
                                                      args.baseline_requests, args.web,
                                                      args.web_workers, args.web_threads)
        print_pages(f"As changed (issue 7), {args.requests} requests per page:", results,
                    seconds, base)
        print(f"server peak RSS over the page load (largest process): {pages_peak:.0f} MB")
        if base is not None:
            print_pages(f"Baseline: the code at {args.baseline_ref}, "
                        f"{args.baseline_requests} requests per page:", base, base_seconds)
            print(f"baseline server peak RSS over the page load: {base_peak:.0f} MB")

        with_cvs = None
        if not args.no_cvs:
            start = time.perf_counter()
            count, pdf_kib, chars = attach_cvs(folder, position_id)
            print(f"\nCVs (issue 17): {count} applications given a CV ({pdf_kib:.0f} KiB PDF, "
                  f"{chars:,} characters of text each) in {time.perf_counter() - start:.1f} s, "
                  "outside the timing")
            with_cvs, cv_seconds, cv_peak = run_pages(
                folder, ROOT, position_id, args.clients, args.requests, args.web,
                args.web_workers, args.web_threads, only=("notes page",))
            with_cvs = {"notes page, a CV on every application": with_cvs["notes page"]}
            print_pages(f"With CVs, {args.requests} requests:", with_cvs, cv_seconds)
            print(f"server peak RSS over the page load (largest process): {cv_peak:.0f} MB")
            if args.web == "gunicorn" and args.also_threads:
                compare_threads(folder, position_id, args)

        exports = []
        if not args.no_export:
            start = time.perf_counter()
            count, pdf_kib = make_sent(folder, position_id)
            print(f"\nexports: {count} letters made sent with stored bytes (PDF {pdf_kib:.0f} "
                  f"KiB each) in {time.perf_counter() - start:.1f} s, outside the timing")
            for name, path, form_page in (
                    ("audit evidence ZIP", f"/audit/positions/{position_id}/export.zip",
                     f"/audit/positions/{position_id}"),
                    ("letters ZIP, streamed", f"/positions/{position_id}/letters.zip",
                     f"/positions/{position_id}/letters")):
                server = Server.start(folder, ROOT)  # a fresh process for each export
                try:
                    admin = signed_in(server.url, ADMIN)
                    before = server.status_kb("VmRSS") / 1024
                    seconds_, size, peak, files = export(server, path, admin.cookies, form_page)
                    exports.append((name, seconds_, size, peak, files, before))
                finally:
                    server.stop()
            print("| export | files | MB | seconds | server RSS before, MB | peak RSS, MB |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for name, seconds_, size, peak, files, before in exports:
                print(f"| {name} | {files} | {size / 2**20:.0f} | {seconds_:.1f} | {before:.0f} | "
                      f"{peak:.0f} |")
        if code is not None:
            shutil.rmtree(code, ignore_errors=True)

    print(f"\nload average at the end: {_load_avg()}")
    worst = max(r.pct(95) for r in [*results.values(), *(with_cvs or {}).values()])
    met = worst <= GOAL_P95_MS
    print(f"goal: p95 at most {GOAL_P95_MS:.0f} ms on every page -> "
          f"{'met' if met else 'NOT met'} (worst p95 {worst:.0f} ms)")
    if exports:
        peak = max(e[3] for e in exports)
        rss_met = peak <= GOAL_RSS_MB
        met = met and rss_met
        print(f"goal: export peak RSS at most {GOAL_RSS_MB:.0f} MB -> "
              f"{'met' if rss_met else 'NOT met'} (highest {peak:.0f} MB)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
