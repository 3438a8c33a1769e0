"""Freezing an approved batch of email letters: the code at a git ref against the working tree.

    python bench/bench_freeze.py [--letters 5000] [--baseline-ref c84dcaa] [--only now|today]

Two code trees in one run, each used only through ``PYTHONPATH`` in subprocesses (the
recruiter each imports is checked to come from its tree):

- "today": the commit before the change, exported with ``git archive REF | tar -x`` into a
  temporary folder (nothing in the repo's git state changes);
- "now": the working tree this script runs from.

For each tree, a temporary instance (SQLite file database, WAL) is created as ``recruiter
serve`` does on its first run (``flask_migrate.upgrade()``), then seeded with that tree's own
services: one organization with a valid sender, one admin, one position with the hire and
``--letters`` declined candidates who all have an email address, an address and a note (the
candidates of ``bench_send.py``); every letter rendered (``letters.refresh_letters``) and
approved (``letters.approve_all``), and the hire's acceptance recorded with ``recruiter
positions release`` so the frozen batch is released at once. The database is then copied for
the in-process run. Timed, per tree:

- the user's path: ``recruiter letters send POSITION --no-dry-run --yes``, a subprocess of the
  tree's CLI (start-up, the checks it runs, the freeze, one commit, the enqueue);
- its start-up alone: ``recruiter letters status POSITION`` on the same seeded instance;
- in-process: ``sending.freeze_batch`` and the commit, on the copy, in a process that has
  already imported recruiter and built the app (that process's start-up is timed apart).

No queue consumer runs, so nothing is delivered: the CLI only puts the ids on the SQLite queue,
and the mail URL is a ``file://`` outbox in the temp folder, which must stay empty. Afterwards
``recruiter letters status POSITION`` must count ``--letters`` deliveries, every one
``queued``, on both copies. The bench never reads a letter's frozen bytes.

Peak RSS: the largest single process (``ru_maxrss`` from ``os.wait4`` on the subprocess: the
process and the descendants it reaped), and the process tree's total (every descendant's RSS
summed, sampled every 50 ms from /proc; an upper bound, since forked workers share pages).
``RUSAGE_CHILDREN`` alone would miss the PDF and email workers, which are the fork server's
children.

Goal (issue 14, point 6): 5,000 email letters frozen in at most 20 s on 2 cores, and at least
4 times today's path, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-freeze-not-a-secret-" + "0" * 32
MEMBER_EMAIL = "jordan.reyes@example.com"
GOAL_SECONDS, GOAL_LETTERS, GOAL_RATIO = 20.0, 5000, 4.0
# Run the tree's CLI exactly as the console script does, after saying where recruiter came from.
CLI = ("import sys, recruiter; print('recruiter from', recruiter.__file__, file=sys.stderr); "
       "sys.argv[0] = 'recruiter'; from recruiter.cli import main; main()")


# --- in the child processes: only the tree's own recruiter is imported here -------------------


def _child_app():  # noqa: ANN202
    import recruiter
    from recruiter import create_app

    tree = Path(os.environ["BENCH_FREEZE_TREE"]).resolve()
    if not Path(recruiter.__file__).resolve().is_relative_to(tree):
        raise SystemExit(f"recruiter came from {recruiter.__file__}, not from {tree}")
    return create_app(), recruiter.__file__


def _find(name: str, *modules: str):  # noqa: ANN202
    """``name`` from the first of ``modules`` that has it: a service may move between trees."""
    import importlib

    for module in modules:
        try:
            found = getattr(importlib.import_module(f"recruiter.services.{module}"), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    raise SystemExit(f"no {name} in recruiter.services.{{{', '.join(modules)}}}")


def child_seed(people_file: Path, schema: str) -> None:
    """Create the schema as on first run, seed and approve every letter; print a JSON line."""
    start = time.perf_counter()
    app, origin = _child_app()
    from sqlalchemy import text

    from recruiter.extensions import db
    from recruiter.services import accounts, letters, positions

    candidate_row = _find("CandidateRow", "importing", "import_rows")
    approve_all = _find("approve_all", "letters", "approval")

    people = json.loads(people_file.read_text(encoding="utf-8"))
    with app.app_context():
        if schema == "upgrade":  # as `recruiter serve` does on an empty instance
            from flask_migrate import upgrade

            upgrade()
        else:
            db.create_all()
        session = db.session
        org = accounts.create_organization(
            session, "Harbour Air Logistics", address="1055 West Hastings Street, Suite 300\n"
            "Vancouver BC  V6E 2E9\nCanada", timezone="America/Vancouver", locale="en_CA",
            sender_name="Jordan Reyes", sender_title="Operations Manager",
            sender_email="hiring@harbourair.example.com")
        member = accounts.create_member(session, org, email=MEMBER_EMAIL, role="admin",
                                        password="bench-password-1", name="Jordan Reyes")
        position = positions.create_position(
            session, org, title="Operations Coordinator", location="Vancouver, BC",
            differentiator="hands-on aviation operations experience")
        rows = [candidate_row(row=2, first_name="Maya", last_name="Thorvaldsen",
                             email="maya.thorvaldsen@example.com", stage="interviewed",
                             outcome="hired", note="Eight years running ground operations.")]
        rows += [candidate_row(row=i + 3, first_name=p["first"], last_name=p["last"],
                              email=p["email"], address_line1=p["address"], city=p["city"],
                              region=p["region"], postal_code=p["postal"], country="Canada",
                              stage=p["stage"], outcome="declined", note=p["note"])
                 for i, p in enumerate(people)]
        positions.import_rows(session, position, rows)
        session.commit()
        drafts = [x for x in letters.refresh_letters(session, position) if x.status == "draft"]
        session.commit()
        approved = approve_all(session, position, member, expected_count=len(drafts),
                               acknowledge_warnings=True)
        session.commit()
        revision = session.scalar(text("SELECT version_num FROM alembic_version")) \
            if schema == "upgrade" else "create_all"
        print(json.dumps({"position": position.id, "letters": approved, "recruiter": origin,
                          "revision": revision, "seconds": time.perf_counter() - start}))


def child_freeze(position_id: int) -> None:
    """Time ``sending.freeze_batch`` and its commit in a warm process; print a JSON line."""
    import inspect

    start = time.perf_counter()
    app, origin = _child_app()
    from sqlalchemy import select

    from recruiter.extensions import db
    from recruiter.models import Member, Position
    from recruiter.services import sending

    with app.app_context():
        session = db.session
        position = session.get(Position, position_id)
        member = session.scalars(select(Member).where(Member.email == MEMBER_EMAIL)).one()
        options = {"page_size": app.config["PAGE_SIZE"]} \
            if "page_size" in inspect.signature(sending.freeze_batch).parameters else {}
        cpu_before, ready = _tree_cpu(os.getpid()), time.perf_counter()
        batch, created = sending.freeze_batch(session, position, member, **options)
        session.commit()
        done = time.perf_counter()
        cpu = _tree_cpu(os.getpid()) - cpu_before  # the worker pools are still alive here
        assert created, "the batch was already frozen"
        print(json.dumps({"startup": ready - start, "freeze": done - ready, "cpu": cpu,
                          "recruiter": origin, "state": batch.state}))


def _tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and its live descendants."""
    return sum(_tree_sample(root)[1].values())


# --- in the parent: no recruiter import at all ------------------------------------------------


@dataclass
class Run:
    """One timed subprocess."""

    seconds: float
    cpu: float
    maxrss_mb: float
    tree_mb: float
    stdout: str
    stderr: str


@dataclass
class Tree:
    """One code tree's figures, or why it has none."""

    label: str
    path: Path
    describe: str
    seed: dict = field(default_factory=dict)
    startup: Run | None = None
    send: Run | None = None
    inproc: dict = field(default_factory=dict)
    inproc_run: Run | None = None
    checks: list[str] = field(default_factory=list)
    error: str | None = None


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _tree_sample(root: int) -> tuple[float, dict[int, float]]:
    """RSS of ``root`` and its descendants summed (MB), and each one's CPU seconds so far."""
    page, tick, total, cpu = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK"), 0, {}
    for pid in _descendants(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total / 2**20, cpu


def run(command: list[str], env: dict[str, str], cwd: Path, what: str) -> Run:
    """Run ``command``; wall seconds, its largest process's and its tree's peak RSS."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("wb") as fh_out, err.open("wb") as fh_err:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=fh_out, stderr=fh_err)
        peak, cpu, stop = [0.0], {}, threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                rss, seen = _tree_sample(process.pid)
                peak[0] = max(peak[0], rss)
                cpu.update(seen)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    # Each process's own CPU as last sampled (up to 50 ms short each): wait4's figure would
    # count the descendants the child reaped a second time.
    result = Run(seconds, sum(cpu.values()), usage.ru_maxrss / 1024, peak[0],
                 out.read_text(encoding="utf-8", errors="replace"),
                 err.read_text(encoding="utf-8", errors="replace"))
    if process.returncode != 0:
        raise RuntimeError(f"{what} exited {process.returncode}: "
                           + "\n".join(result.stderr.strip().splitlines()[-15:]))
    return result


def environment(tree: Path, instance: Path, outbox: Path) -> dict[str, str]:
    """The environment of a child: this tree first on the path, this instance's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RECRUITER_", "FLASK_")) and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tree), BENCH_FREEZE_TREE=str(tree),
               RECRUITER_INSTANCE_PATH=str(instance),
               RECRUITER_DATABASE_URL=f"sqlite:///{instance / 'recruiter.db'}",
               RECRUITER_QUEUE_URL=f"sqlite:///{instance / 'queue.db'}",
               RECRUITER_MAIL_URL=outbox.as_uri(), RECRUITER_SECRET_KEY=SECRET)
    return env


def cli(tree: Path, instance: Path, outbox: Path, *args: str) -> Run:
    """The tree's `recruiter` command on this instance, checked to import the tree's code."""
    result = run([sys.executable, "-c", CLI, *args], environment(tree, instance, outbox),
                 instance, "recruiter " + " ".join(args))
    origin = re.search(r"^recruiter from (.+)$", result.stderr, re.MULTILINE)
    if origin is None or not Path(origin.group(1)).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"recruiter did not come from {tree}: {result.stderr[:300]}")
    return result


def statuses(text: str) -> dict[str, int]:
    """The counts `recruiter letters status` printed."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\w+): (\d+)$", text, re.MULTILINE)}


def copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite database, WAL included, through SQLite's backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def bench_tree(tree: Tree, folder: Path, people_file: Path, count: int, schema: str) -> None:
    """Seed, time and check one tree; figures or the error go into ``tree``."""
    main_instance, copy_instance = folder / "cli", folder / "inproc"
    outbox = folder / "outbox"
    for path in (main_instance, copy_instance):
        path.mkdir(parents=True)
    env = environment(tree.path, main_instance, outbox)
    seeded = run([sys.executable, __file__, "--child", "seed", "--people", str(people_file),
                  "--schema", schema], env, main_instance, "seeding")
    tree.seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    if tree.seed["letters"] != count:
        raise RuntimeError(f"seeding approved {tree.seed['letters']} letters, not {count}")
    position = str(tree.seed["position"])
    cli(tree.path, main_instance, outbox, "positions", "release", position)
    copy_database(main_instance / "recruiter.db", copy_instance / "recruiter.db")
    print(f"{tree.label}: seeded {count} letters in {tree.seed['seconds']:.1f} s "
          f"(schema {tree.seed['revision']}); timing", file=sys.stderr)

    tree.startup = cli(tree.path, main_instance, outbox, "letters", "status", position)
    tree.send = cli(tree.path, main_instance, outbox, "letters", "send", position,
                    "--no-dry-run", "--yes")
    froze = re.search(r"^Froze batch \d+ \((\w+)\); (\d+) emails queued\.$", tree.send.stdout,
                      re.MULTILINE)
    if froze is None or int(froze.group(2)) != count:
        raise RuntimeError("`letters send` did not say it froze and queued every letter: "
                           + tree.send.stdout.strip().splitlines()[-1])
    tree.inproc_run = run([sys.executable, __file__, "--child", "freeze", "--position",
                           position], environment(tree.path, copy_instance, outbox),
                          copy_instance, "in-process freeze")
    tree.inproc = json.loads(tree.inproc_run.stdout.strip().splitlines()[-1])

    for name, instance in (("CLI", main_instance), ("in-process", copy_instance)):
        counts = statuses(cli(tree.path, instance, outbox, "letters", "status", position).stdout)
        total = sum(counts.values())
        if total != count or counts.get("queued") != count:
            raise RuntimeError(f"{name}: `letters status` counted {counts}, expected "
                               f"{count} queued")
        tree.checks.append(f"{name}: `letters status` counts {total} deliveries, "
                           f"{counts['queued']} queued")
    sent = list(outbox.rglob("*")) if outbox.exists() else []
    if sent:
        raise RuntimeError(f"the outbox holds {len(sent)} files: something was delivered")
    tree.checks.append("outbox empty (nothing delivered)")


def export(ref: str, target: Path) -> str:
    """``git archive REF`` into ``target``, read-only for the repo; the commit's description."""
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", ref], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {ref} failed")
    return subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cs", ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def working_tree() -> str:
    """The working tree's HEAD and how many paths differ from it."""
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h"],
                          capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                             capture_output=True, text=True).stdout.splitlines()
    return f"working tree at {head} + {len(changed)} changed paths"


def report(trees: list[Tree], count: int, machine: str) -> None:
    """The table, the ratios, the goal and the checks."""
    print(f"bench_freeze: {count} email letters frozen ({datetime.now(UTC):%Y-%m-%d}; "
          f"{machine})\n")
    print("| tree | path | seconds | letters/s | CPU s, all processes | "
          "peak RSS, largest process | peak RSS, process tree |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for tree in trees:
        if tree.error:
            continue
        rows = [("`recruiter letters send --no-dry-run --yes`", tree.send, True),
                ("start-up: `recruiter letters status`", tree.startup, False),
                ("in-process `freeze_batch` + commit", tree.inproc_run, True)]
        for name, result, rate in rows:
            seconds, cpu = (tree.inproc["freeze"], tree.inproc["cpu"]) \
                if result is tree.inproc_run else (result.seconds, result.cpu)
            print(f"| {tree.label} | {name} | {seconds:.2f} | "
                  f"{f'{count / seconds:,.1f}' if rate else ''} | {cpu:.1f} "
                  f"| {result.maxrss_mb:.0f} MB "
                  f"| {result.tree_mb:.0f} MB |")
    print()
    for tree in trees:
        print(f"{tree.label}: {tree.describe}")
        if tree.error:
            print(f"  FAILED: {tree.error}")
            continue
        print(f"  recruiter from {tree.seed['recruiter']}; schema {tree.seed['revision']}; "
              f"seeding {tree.seed['seconds']:.1f} s (not timed)")
        outside = tree.send.seconds - tree.inproc["freeze"]
        print(f"  CLI {tree.send.seconds:.2f} s = in-process freeze {tree.inproc['freeze']:.2f} s"
              f" + {outside:.2f} s outside it (start-up alone {tree.startup.seconds:.2f} s; "
              f"in-process import and create_app {tree.inproc['startup']:.2f} s)")
        for line in tree.checks:
            print(f"  check, {line}")
    done = {t.label: t for t in trees if not t.error}
    if "today" in done and "now" in done:
        today, now = done["today"], done["now"]
        cli_ratio = today.send.seconds / now.send.seconds
        freeze_ratio = today.inproc["freeze"] / now.inproc["freeze"]
        print(f"\nratio today / now: {cli_ratio:.2f}x on the CLI path, {freeze_ratio:.2f}x "
              f"in-process (freeze only); CPU: "
              f"{today.send.cpu / now.send.cpu:.2f}x on the CLI path, "
              f"{today.inproc['cpu'] / now.inproc['cpu']:.2f}x in-process (CPU is what a busy "
              "machine disturbs least)")
        verdict = ("met" if now.send.seconds <= GOAL_SECONDS else "NOT met") \
            if count == GOAL_LETTERS else "not judged (run --letters 5000)"
        print(f"goal: {GOAL_LETTERS:,} letters in at most {GOAL_SECONDS:.0f} s -> {verdict} "
              f"({now.send.seconds:.1f} s for {count:,}); at least {GOAL_RATIO:.0f}x today's "
              "path -> "
              f"{'met' if cli_ratio >= GOAL_RATIO else 'NOT met'} ({cli_ratio:.2f}x)")
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    """Seed, time and check each tree in turn, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=5000)
    parser.add_argument("--baseline-ref", default="c84dcaa",
                        help="the git ref of today's code (c84dcaa, before the change)")
    parser.add_argument("--only", choices=("now", "today"), help="run one tree only")
    parser.add_argument("--schema", choices=("upgrade", "create_all"), default="upgrade",
                        help="how the empty database gets its tables (upgrade: as on first run)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", choices=("seed", "freeze"), help=argparse.SUPPRESS)
    parser.add_argument("--people", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--position", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "seed":
        return child_seed(args.people, args.schema)
    if args.child == "freeze":
        return child_freeze(args.position)

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_send import machine, make_people  # the same candidates as the send bench

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the start: {load}", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="bench-freeze-"))
    try:
        people_file = folder / "people.json"
        people_file.write_text(json.dumps([vars(p) for p in make_people(args.letters)]),
                               encoding="utf-8")
        trees = []
        if args.only in (None, "today"):
            baseline = folder / "baseline"
            describe = export(args.baseline_ref, baseline)
            trees.append(Tree("today", baseline, f"{args.baseline_ref} ({describe}), "
                                                  "exported with git archive"))
        if args.only in (None, "now"):
            trees.append(Tree("now", ROOT, working_tree()))
        for tree in trees:
            try:
                bench_tree(tree, folder / tree.label, people_file, args.letters, args.schema)
            except (RuntimeError, ValueError, KeyError, json.JSONDecodeError) as exc:
                tree.error = str(exc)
                print(f"{tree.label}: FAILED: {exc}", file=sys.stderr)
        print(f"load average at the start: {load}")
        report(trees, args.letters, machine())
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if any(tree.error for tree in trees):
        sys.exit(1)


if __name__ == "__main__":
    main()
