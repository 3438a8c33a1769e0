"""The API's bulk upsert of 5,000 applications over real HTTP, against two naive baselines.

    python bench/bench_api_upsert.py [--rows 5000] [--naive-requests 500] [--orm-rows 5000]
                                     [--web gunicorn|werkzeug] [--repeat 3]

A fresh instance in a temporary folder (SQLite file database) is set up on the command line, as
a user would: ``recruiter users create`` (which migrates the new database) and
``recruiter tokens create --scope write``, whose secret the script reads from the output. The
app is then served on loopback, by gunicorn as the README's deployment notes run it (one worker
process, 4 threads) or by werkzeug's threaded server, and every figure below is a real HTTP
request with ``requests``, body encoding and JSON parsing included.

The 5,000 applications are bench_import.make_csv's Vancouver-shaped rows (names with accents
and other scripts, unique emails, 3% without an email, internal notes), each with an external
id. For each of ``--repeat`` rounds, on a new empty position:

- **create**: ``POST /api/v1/positions/{id}/applications/bulk`` with all of them: 5,000 created;
- **unchanged**: the same request again: 5,000 unchanged, nothing written;
- **update**: the same rows with a tenth of them changed (the city): 500 updated.

Baselines, same run:

- **naive HTTP**: one request per application (``applications`` holding one item), as a
  client without a bulk call would send them; ``--naive-requests`` of them, timed, and the
  rate scaled to 5,000 (the rate is flat: every request does the same work);
- **ORM per row**: the browser's one-candidate service, ``positions.save_candidate``, called
  for each of ``--orm-rows`` rows in one process and one transaction, committed once: the
  ORM's unit of work, one INSERT and several SELECTs per row. No HTTP: it is a lower bound of
  what a per-row implementation of the endpoint would cost.

Goal (issue 15): 5,000 applications upserted in at most 3 s through HTTP.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_import import make_csv  # noqa: E402
from bench_web import Server, app_config  # noqa: E402

GOAL_SECONDS = 3.0
ORG = "Harbour Air Logistics"
FIELDS = ("first_name", "last_name", "email", "address_line1", "address_line2", "city",
          "region", "postal_code", "country")
STAGES = ("applied", "screened", "interviewed")


def items(rows: int, batch: int = 0) -> list[dict[str, str]]:
    """``rows`` applications as an ATS sends them, each with its external id.

    Each ``batch`` has its own people (emails), so that every round creates new candidates.
    """
    reader = csv.DictReader(io.StringIO(make_csv(rows, seed=7 + batch).decode("utf-8")))
    out = []
    for number, row in enumerate(reader, start=1):
        if row["email"]:
            row["email"] = row["email"].replace("@", f".b{batch}@")
        item = {"external_id": f"ats-{number:06d}", **{f: row[f] for f in FIELDS},
                "stage": row["stage"] if row["stage"] in STAGES else "screened"}
        if row.get("note"):
            item["internal_note"] = row["note"]
        out.append(item)
    return out


def cli(folder: Path, *args: str, stdin: str = "") -> str:
    """Run ``recruiter ARGS`` on the instance; its output."""
    env = {**os.environ, "RECRUITER_INSTANCE_PATH": str(folder / "instance"),
           "RECRUITER_DATABASE_URL": str(app_config(folder)["DATABASE_URL"]),
           "RECRUITER_SECRET_KEY": "bench-secret", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", "from recruiter.cli import main; main()",
                           *args], input=stdin, capture_output=True, text=True, env=env,
                          cwd=folder, check=False)
    if done.returncode:
        raise SystemExit(f"recruiter {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def setup(folder: Path) -> str:
    """A migrated instance with an admin and a write token; the token's secret."""
    cli(folder, "users", "create", "--org", ORG, "--email", "admin@example.com", "--role",
        "admin", stdin="bench password\nbench password\n")
    return cli(folder, "tokens", "create", "--org", ORG, "--name", "bench", "--scope",
               "write").strip().splitlines()[-1]


class Api:
    """The served API with the token."""

    def __init__(self, url: str, secret: str) -> None:
        import requests

        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {secret}"
        self.url = url + "/api/v1"

    def position(self, title: str) -> str:
        """A new empty position; its id."""
        made = self.http.post(self.url + "/positions", json={"title": title})
        made.raise_for_status()
        return made.json()["id"]

    def upsert(self, position_id: str, rows: list[dict]) -> tuple[float, dict]:
        """(seconds, answer) of one bulk upsert."""
        start = time.perf_counter()
        answer = self.http.post(f"{self.url}/positions/{position_id}/applications/bulk",
                                json={"applications": rows})
        seconds = time.perf_counter() - start
        if answer.status_code != 200:
            raise SystemExit(f"upsert refused: {answer.status_code} {answer.text[:500]}")
        return seconds, answer.json()


def orm_per_row(folder: Path, rows: list[dict]) -> float:
    """Seconds for ``save_candidate`` per row, one transaction, in this process."""
    os.environ["RECRUITER_INSTANCE_PATH"] = str(folder / "instance")
    from recruiter import create_app
    from recruiter.extensions import db
    from recruiter.models import Organization
    from recruiter.services.positions import create_position, save_candidate

    app = create_app(app_config(folder))
    with app.app_context():
        org = db.session.query(Organization).one()
        position = create_position(db.session, org, title="ORM per row")
        db.session.commit()
        start = time.perf_counter()
        for row in rows:
            application = save_candidate(db.session, position, row, stage=row["stage"],
                                         channel="auto")
            application.external_id = row["external_id"]
        db.session.commit()
        seconds = time.perf_counter() - start
        db.session.remove()
        db.engine.dispose()
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and the baselines; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--naive-requests", type=int, default=500)
    parser.add_argument("--orm-rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--web", choices=("gunicorn", "werkzeug"), default="gunicorn")
    args = parser.parse_args(argv)
    rows = items(args.rows)
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.web}; {args.rows:,} applications, "
          f"{len(str(rows)) / 2**20:.1f} MB of JSON")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        secret = setup(folder)
        server = Server.start(folder, ROOT, web=args.web, workers=1, threads=4)
        try:
            api = Api(server.url, secret)
            api.upsert(api.position("warm-up"), rows[:50])
            timings: dict[str, list[float]] = {"create": [], "unchanged": [], "update": []}
            for round_ in range(args.repeat):
                rows = items(args.rows, round_ + 1)
                changed = [dict(r, city=r["city"] + " North") if i % 10 == 0 else r
                           for i, r in enumerate(rows)]
                position_id = api.position(f"Operations Coordinator {round_ + 1}")
                seconds, answer = api.upsert(position_id, rows)
                assert answer["created"] == args.rows, answer["created"]
                timings["create"].append(seconds)
                seconds, answer = api.upsert(position_id, rows)
                assert answer["unchanged"] == args.rows, answer["unchanged"]
                timings["unchanged"].append(seconds)
                seconds, answer = api.upsert(position_id, changed)
                assert answer["updated"] == len(range(0, args.rows, 10)), answer["updated"]
                timings["update"].append(seconds)
            naive_id = api.position("naive, one request per application")
            start = time.perf_counter()
            for row in rows[:args.naive_requests]:
                api.upsert(naive_id, [row])
            naive = (time.perf_counter() - start) / args.naive_requests * args.rows
        finally:
            server.stop()
        orm = orm_per_row(folder, rows[:args.orm_rows]) / args.orm_rows * args.rows
    print(f"{'':34}{'median':>9}{'best':>9}{'worst':>9}")
    for label, values in timings.items():
        print(f"bulk upsert, {label:<21}{statistics.median(values):8.2f}s"
              f"{min(values):8.2f}s{max(values):8.2f}s")
    create = statistics.median(timings["create"])
    print(f"naive HTTP, 1 request per row   {naive:8.2f}s  ({args.naive_requests:,} requests "
          f"timed, scaled to {args.rows:,}): {naive / create:.1f}x the bulk create")
    print(f"ORM per row (save_candidate)    {orm:8.2f}s  ({args.orm_rows:,} rows, no HTTP): "
          f"{orm / create:.1f}x the bulk create")
    worst = max(max(v) for v in timings.values())
    met = "yes" if worst <= GOAL_SECONDS else "no"
    print(f"goal: {args.rows:,} in at most {GOAL_SECONDS:.0f} s through HTTP; slowest "
          f"request {worst:.2f} s: {met}")
    return 0 if met == "yes" else 1


if __name__ == "__main__":
    raise SystemExit(main())
