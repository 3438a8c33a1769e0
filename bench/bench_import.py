"""How fast a 5,000-row candidate CSV is checked and saved, against a naive importer.

    python bench/bench_import.py [--rows 5000] [--naive-rows 5000] [--repeat 3]

The file is generated from the Vancouver demo (recruiter/demo/vancouver.csv): its notes,
addresses, stages and outcomes, with names drawn from a pool that includes accents and other
scripts (Zoë, Łukasz, Nguyễn, 王芳...), unique emails, about 3% of rows without an email
(letters by post) and one hire. Each run gets a fresh SQLite file database in a temporary
folder, with an organization, a manager and an empty position.

- **recruiter** is timed the way the browser imports: the test client uploads the file to
  ``/positions/<id>/import`` (parse, validate every row, save the upload, render the preview
  of every row), then posts the confirmation (parse again, ``accepted_rows``,
  ``positions.import_rows``, one commit). Both requests are inside the timing. The service
  calls alone (``parse_candidates`` + ``import_rows`` + commit, no HTTP, no preview page) are
  timed too, as a breakdown.
- **naive** is what a first implementation would do: ``csv.DictReader``, ``validate_email``
  per row, one SELECT per row for a duplicate email, then ``session.add`` of the candidate and
  its application and one commit per row.

Goal (issue 7): 5,000 rows checked and saved in 3 s or less. Every run checks that the
position ends up with exactly the generated rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VANCOUVER = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"
GOAL_SECONDS = 3.0
FIRST = ["Maya", "Daniel", "Arjun", "Fatima", "Liam", "Mei", "Omar", "Priya", "Grace", "Kwame",
         "Ines", "Jonas", "Dara", "Olumide", "Ana", "Yusuf", "Hiroshi", "Aoife", "Tariq", "Rosa"]
LAST = ["Chen", "Okafor", "Mehta", "Haddad", "Walsh", "Li", "Farouk", "Iyer", "Adeyemi",
        "Murphy", "Tanaka", "Silva", "Brennan", "Mensah", "Berg", "Costa", "O'Neill", "Park",
        "Novak", "Doyle"]
# About one name in five has a letter outside ASCII, as in a Vancouver applicant pool.
FIRST_INTL = ["Zoë", "Sofía", "Łukasz", "Søren", "Chloé", "José", "Björn", "Émilie", "Tomás",
              "芳", "Ólafur", "Nguyễn Văn"]
LAST_INTL = ["Lefebvre-Côté", "Núñez", "Østergaard", "García", "Šimić", "Yılmaz", "Müller",
             "王", "Gonçalves", "Kowalczyk-Wróbel", "Ægisdóttir", "Đặng"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower()) or "x"


def make_csv(rows: int, seed: int = 7) -> bytes:
    """A Vancouver-shaped candidate file with ``rows`` rows, unique emails and one hire."""
    rng = random.Random(seed)
    with VANCOUVER.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        source = list(reader)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for i in range(rows):
        row = dict(rng.choice(source))
        first = rng.choice(FIRST_INTL if rng.random() < 0.1 else FIRST)
        last = rng.choice(LAST_INTL if rng.random() < 0.1 else LAST)
        row["first_name"], row["last_name"] = first, last
        if rng.random() < 0.03:
            row["email"] = ""  # goes by post
        else:
            row["email"] = f"{_slug(first)}.{_slug(last)}.{i}@{rng.choice(DOMAINS)}"
        row["address_line1"] = f"{rng.randint(1, 9999)} {row['address_line1'].split(' ', 1)[-1]}"
        row["outcome"] = "hired" if i == 0 else rng.choice(["declined", "declined", "pending"])
        if rng.random() < 0.15:
            row["note"] = ""
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


class Instance:
    """A temporary recruiter with a SQLite file database, a manager and one empty position."""

    def __init__(self, folder: Path) -> None:
        from recruiter import create_app
        from recruiter.extensions import db
        from recruiter.services.accounts import create_member, create_organization
        from recruiter.services.positions import create_position

        os.environ["RECRUITER_INSTANCE_PATH"] = str(folder / "instance")
        self.app = create_app({
            "TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "MAIL_URL": (folder / "outbox").as_uri(),
            "QUEUE_URL": f"sqlite:///{folder / 'queue.db'}", "QUEUE_IMMEDIATE": True,
            "RATELIMIT_ENABLED": False})
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.db = db
        db.create_all()
        org = create_organization(db.session, "Harbour Air Logistics",
                                  sender_email="hiring@harbourair.example.com")
        self.member = create_member(db.session, org, email="manager@example.com",
                                    role="manager", password="bench password", name="M")
        self.position = create_position(db.session, org, title="Operations Coordinator")
        db.session.commit()
        self.position_id = self.position.id

    def count(self) -> int:
        """Applications saved for the position."""
        from sqlalchemy import func, select

        from recruiter.models import Application

        self.db.session.expire_all()
        return self.db.session.scalar(select(func.count()).select_from(Application).where(
            Application.position_id == self.position_id)) or 0

    def close(self) -> None:
        """Release the database and the app context."""
        self.db.session.remove()
        self.db.engine.dispose()
        self.ctx.pop()


def run_browser_path(inst: Instance, data: bytes) -> dict[str, float]:
    """Upload, preview and confirm through the app's own views; returns the timings."""
    client = inst.app.test_client()
    response = client.post("/login", data={"email": "manager@example.com",
                                           "password": "bench password"})
    assert response.status_code == 302, response.status_code
    url = f"/positions/{inst.position_id}/import"
    start = time.perf_counter()
    preview = client.post(url, data={"csv": (io.BytesIO(data), "candidates.csv")},
                          content_type="multipart/form-data")
    middle = time.perf_counter()
    assert preview.status_code == 200, preview.status_code
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', preview.text)
    token = token or re.search(r'id="token" name="token" type="hidden" value="([^"]+)"',
                               preview.text)
    assert token, "no import token in the preview page"
    confirm = client.post(f"{url}/confirm", data={"token": token.group(1)})
    end = time.perf_counter()
    assert confirm.status_code == 302 and "/import" not in confirm.location, confirm.location
    return {"preview": middle - start, "confirm": end - middle, "total": end - start}


def run_service_path(inst: Instance, data: bytes) -> float:
    """The service calls alone: parse, validate, import_rows and one commit."""
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import existing_emails, import_rows

    session = inst.db.session
    position = session.get(type(inst.position), inst.position_id)
    start = time.perf_counter()
    parsed = parse_candidates(data, existing_emails(session, position))
    import_rows(session, position, accepted_rows(parsed), by=None)
    session.commit()
    return time.perf_counter() - start


def run_naive(inst: Instance, data: bytes, commit_each: bool = True) -> float:
    """DictReader, validate_email, a SELECT per row, one add + flush (+ commit) per row."""
    from email_validator import EmailNotValidError, validate_email
    from sqlalchemy import func, select

    from recruiter.models import Application, Candidate

    session = inst.db.session
    start = time.perf_counter()
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        email = (row.get("email") or "").strip() or None
        if email:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError:
                continue
            taken = session.scalar(select(Application.id).join(Candidate).where(
                Application.position_id == inst.position_id,
                func.lower(Candidate.email) == email.lower()))
            if taken:
                continue
        candidate = Candidate(
            organization_id=inst.position.organization_id, first_name=row["first_name"].strip(),
            last_name=row["last_name"].strip(), email=email,
            address_line1=row["address_line1"].strip(),
            address_line2=row["address_line2"].strip(), city=row["city"].strip(),
            region=row["region"].strip(), postal_code=row["postal_code"].strip(),
            country=row["country"].strip())
        session.add(candidate)
        session.add(Application(organization_id=inst.position.organization_id,
                                position_id=inst.position_id, candidate=candidate,
                                stage="interviewed" if row["stage"] == "interviewed"
                                else "applied",
                                outcome=row["outcome"] or "pending", note=row["note"]))
        session.flush()
        if commit_each:
            session.commit()
    session.commit()
    return time.perf_counter() - start


def _naive_run(db_dir: str | None, data: bytes, rows: int, *, commit_each: bool) -> float:
    with tempfile.TemporaryDirectory(dir=db_dir) as folder:
        inst = Instance(Path(folder))
        try:
            seconds = run_naive(inst, data, commit_each=commit_each)
            assert inst.count() == rows, inst.count()
        finally:
            inst.close()
    return seconds


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--naive-rows", type=int, default=1000,
                        help="rows for the naive importer (it commits per row, so it is "
                        "run on fewer rows and its rows/s compared)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the recruiter path")
    parser.add_argument("--db-dir", default=None, help="folder for the SQLite files")
    args = parser.parse_args(argv)

    data = make_csv(args.rows)
    naive_data = make_csv(args.naive_rows)
    non_ascii = sum(1 for line in data.decode().splitlines()[1:]
                    if any(ord(ch) > 127 for ch in line.split(",", 2)[0] + line.split(",", 2)[1]))
    print(f"bench_import: {args.rows} rows ({len(data) / 1024:.0f} KiB, {non_ascii} with a "
          f"non-ASCII name), {time.strftime('%Y-%m-%d')}; {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average at the start: {_load()}")

    browser, service, naive = [], [], None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
            inst = Instance(Path(folder))
            try:
                browser.append(run_browser_path(inst, data))
                assert inst.count() == args.rows, inst.count()
            finally:
                inst.close()
        with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
            inst = Instance(Path(folder))
            try:
                service.append(run_service_path(inst, data))
                assert inst.count() == args.rows, inst.count()
            finally:
                inst.close()
    naive = _naive_run(args.db_dir, naive_data, args.naive_rows, commit_each=True)
    naive_one = _naive_run(args.db_dir, data, args.rows, commit_each=False)

    total = statistics.median(r["total"] for r in browser)
    naive_per_5000 = naive / args.naive_rows * args.rows
    print()
    print("| importer | rows | seconds (median) | range | rows/s | vs naive |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| recruiter, browser path: upload + preview page + confirm | {args.rows} | "
          f"{total:.2f} | {min(r['total'] for r in browser):.2f}–"
          f"{max(r['total'] for r in browser):.2f} | {args.rows / total:,.0f} | "
          f"**{naive_per_5000 / total:.1f}×** |")
    print(f"|   of which the upload and preview page | | "
          f"{statistics.median(r['preview'] for r in browser):.2f} | | | |")
    print(f"|   of which the confirmation (parse again, save, commit) | | "
          f"{statistics.median(r['confirm'] for r in browser):.2f} | | | |")
    med = statistics.median(service)
    print(f"| recruiter, services only: parse_candidates + import_rows + commit | {args.rows} | "
          f"{med:.2f} | {min(service):.2f}–{max(service):.2f} | {args.rows / med:,.0f} | "
          f"{naive_per_5000 / med:.1f}× |")
    print(f"| naive: DictReader, SELECT + add + flush + commit per row | {args.naive_rows} | "
          f"{naive:.2f} | | {args.naive_rows / naive:,.0f} | 1.0× |")
    print(f"| naive as above, but one commit at the end | {args.rows} | {naive_one:.2f} | | "
          f"{args.rows / naive_one:,.0f} | {naive_per_5000 / naive_one:.1f}× |")
    print()
    print(f"The naive per-row-commit importer ran on {args.naive_rows} rows: at its rate, "
          f"{args.rows} rows would take {naive_per_5000:.0f} s. Ratios compare rows/s. "
          f"Against the one-commit naive importer the browser path is "
          f"{naive_one / total:.1f}× faster.")
    print()
    print(f"load average at the end: {_load()}")
    met = total <= GOAL_SECONDS
    print(f"goal: {args.rows} rows checked and saved in {GOAL_SECONDS:.0f} s or less -> "
          f"{'met' if met else 'NOT met'} ({total:.2f} s on the browser path)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
