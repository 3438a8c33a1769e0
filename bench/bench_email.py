"""Email batch: render and build MIME for 10,000 Vancouver-style letters, against the naive loop.

    python bench/bench_email.py [--letters 10000] [--naive-letters 10000] [--processes 2]
                                [--repeat 1] [--profile]

The letters are the shipped boilerplates rendered for the Vancouver candidates that have an
email address, repeated to the count, each with its own Message-ID. The baseline is what the
product did before issue 7, per letter: ``render_letter`` in send mode, then
``build_message(...).as_bytes()``. recruiter's figure is ``mail.render_emails``, the function
the freeze step (``sending._render_all``) calls: one header factory per batch that parses and
folds each distinct header once, and the app process's worker pool (``workers.py``, shared
with the PDF batches) for big batches. It is timed in this process alone (``processes=1``)
and as the product runs it: once with a cold pool (the first batch of a process starts the
workers), then warm. Every message is compared with
the naive one byte for byte (apart from the random MIME boundary), and a sample is parsed back.
The garbage collections of the 1-process run are counted too: a batch that keeps objects per
letter sets the collector off every few letters, which costs more CPU than it shows in a
profile (the collections are charged to whatever function happened to allocate).
Goal (issue 7): at least 800 letters/s for render + MIME on 2 cores.

``--without mime_boundary,gc_freeze`` instead times ``render_emails`` alone (1 process, then
the pool cold and warm), once with every library trick on and once without each named one,
every variant in a fresh process, in turns for ``--rounds`` rounds (``bench/without.py``), and
says whether each variant's messages are byte-identical apart from the boundary.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import hashlib
import io
import json
import os
import pstats
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recruiter.services import mail, workers  # noqa: E402
from recruiter.services.importing import parse_candidates  # noqa: E402
from recruiter.services.rendering import (  # noqa: E402
    CandidateFields,
    LetterContext,
    render_letter,
)
from recruiter.services.shipped import shipped_for_stage  # noqa: E402

CSV = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SENDER = ("Harbour Air Logistics", "hiring@harbourair.example.com")
GOAL = 800


def make_items(count: int) -> list[mail.Outgoing]:
    """``count`` letters to the Vancouver candidates that have an email address."""
    rows = [r for r in parse_candidates(CSV.read_bytes()).rows
            if r.outcome != "hired" and r.email]
    interviewed = sum(1 for r in rows if r.stage == "interviewed")
    sources = {}
    items = []
    for i in range(count):
        row = rows[i % len(rows)]
        name = shipped_for_stage(row.stage).name
        if name not in sources:  # one object per boilerplate, as _render_all passes them
            sources[name] = shipped_for_stage(row.stage).source
        context = LetterContext(
            candidate=CandidateFields.of(row, row.stage),
            note=row.note, differentiator="hands-on aviation operations experience",
            position_title="Operations Coordinator", position_location="Vancouver, BC",
            organization_name="Harbour Air Logistics", sender_name="Jordan Reyes",
            sender_title="Operations Manager", applicant_count=count,
            interviewed_count=interviewed, locale="en")
        # Every candidate of a real batch has an address of their own; a repeated one would
        # let the batch's header table serve the same To header again.
        local, _, domain = row.email.partition("@")
        envelope = mail.Envelope(*SENDER, row.full_name, f"{local}+{i}@{domain}",
                                 mail.new_message_id("harbourair.example.com"))
        items.append(mail.Outgoing(sources[name], context, envelope))
    return items


def naive(items: list[mail.Outgoing]) -> list[bytes]:
    """Per letter: sandboxed render, Markdown, one EmailMessage and ``as_bytes()``."""
    out = []
    for item in items:
        rendered = render_letter(item.boilerplate, item.context)
        out.append(mail.build_message(item.envelope, subject=rendered.subject,
                                      text=rendered.text, html=rendered.html,
                                      date=NOW).as_bytes())
    return out


def product(items: list[mail.Outgoing], processes: int) -> list[bytes]:
    """The product path: ``mail.render_emails``, which the freeze step calls."""
    results = mail.render_emails(items, date=NOW, processes=processes)
    problems = [r.error for r in results if r.error]
    if problems:
        raise SystemExit(f"render_emails refused {len(problems)} letters: {problems[0]}")
    return [r.eml for r in results]


_BOUNDARY = re.compile(rb"===============\d{19}==(?:\.\d+)?")


def _summary(raw: bytes) -> tuple:
    msg = message_from_bytes(raw, policy=policy.default)
    return (msg["Subject"], msg["From"], msg["To"], msg["Message-ID"], msg["Date"],
            msg.get_content_type(), [p.get_content_type() for p in msg.iter_parts()],
            msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content())


def check(naive_out: list[bytes], ours: list[bytes]) -> str:
    """The bytes differ only in the boundary; a sample parses back to the same fields."""
    n = min(len(naive_out), len(ours))
    for i in range(n):
        if _BOUNDARY.sub(b"B", naive_out[i]) != _BOUNDARY.sub(b"B", ours[i]):
            raise SystemExit(f"letter {i}: the batch message differs from the naive one")
        if b"\n" in ours[i].replace(b"\r\n", b""):
            raise SystemExit(f"letter {i}: a bare LF")
    # Every candidate once, then every n/300th letter: parsing all of them takes longer
    # than building them, and the identical bytes already say the rest.
    sample = sorted(set(range(min(n, 60))) | set(range(0, n, max(1, n // 300))))
    for i in sample:
        if _summary(naive_out[i]) != _summary(ours[i]):
            raise SystemExit(f"letter {i}: the batch message parses back differently")
    return (f"check: all {n:,} messages byte-identical to the naive ones apart from the random "
            f"MIME boundary; {len(sample)} of them parsed back with policy.default to the same "
            "subject, from, to, message-id, date, parts, text and HTML")


def collections() -> list[int]:
    """How many garbage collections of each generation this process has run."""
    return [stats["collections"] for stats in gc.get_stats()]


def timed(fn, *args) -> tuple[float, float, list[bytes]]:  # noqa: ANN001
    """Wall-clock and this process's CPU seconds of one call, and what it returned."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu, out


def profile(items: list[mail.Outgoing]) -> None:
    """Print a cProfile of both paths in this process, by own time."""
    for label, call in (("naive loop", lambda: naive(items)),
                        ("recruiter batch, 1 process", lambda: product(items, 1))):
        profiler = cProfile.Profile()
        profiler.runcall(call)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(14)
        print(f"\ncProfile, {label}, {len(items)} letters, by own time:")
        print("\n".join(line for line in text.getvalue().splitlines()
                        if line.strip() and "Ordered by" not in line)
              .replace(str(Path(sys.prefix)), "…"))


def main() -> None:
    """Run the naive loop and recruiter's batch on the same letters, and print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    parser.add_argument("--naive-letters", type=int, default=None,
                        help="letters for the naive loop (default: --letters)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of both paths on 2,000 letters")
    parser.add_argument("--without", metavar="TRICKS",
                        help="compare render_emails with and without these library tricks")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of --without")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one --without run, as JSON
    args = parser.parse_args()
    if args.variant is not None:
        return variant(args)
    if args.without:
        return compare(args)
    load_start = os.getloadavg()[0]
    items = make_items(args.letters)
    sample = items[:args.naive_letters or args.letters]
    runs: dict[str, list[float]] = {"naive": [], "one": [], "cold": [], "many": []}
    cpu_ms: dict[str, list[float]] = {"naive": [], "one": [], "cold": [], "many": []}
    outputs: dict[str, list[bytes]] = {}
    collected = [0, 0, 0]  # garbage collections during the 1-process runs, by generation
    # The first batch of a process starts the worker pool (services/workers.py), which the
    # process keeps for later batches: timed once cold, then warm in every round.
    workers.shutdown()
    seconds, _, out = timed(product, items, args.processes)
    runs["cold"].append(len(out) / seconds)
    for _ in range(args.repeat):
        for key, fn, data in (("naive", naive, (sample,)), ("one", product, (items, 1)),
                              ("many", product, (items, args.processes))):
            before = collections()
            seconds, cpu, out = timed(fn, *data)
            if key == "one":
                collected = [n + after - was for n, after, was
                             in zip(collected, collections(), before, strict=True)]
            runs[key].append(len(out) / seconds)
            cpu_ms[key].append(cpu * 1000 / len(out))
            outputs[key] = out
    load_end = os.getloadavg()[0]
    verdict = check(outputs["naive"], outputs["many"])
    check(outputs["naive"], outputs["one"])

    def row(label: str, key: str, letters: int) -> str:
        rates = runs[key]
        rate = statistics.median(rates)
        spread = f"{min(rates):.0f}–{max(rates):.0f}" if len(rates) > 1 else ""
        ratio = rate / statistics.median(runs["naive"])
        cpu = f"{statistics.median(cpu_ms[key]):.2f}" if key in ("naive", "one") \
            else "(workers)"
        return (f"| {label} | {letters:,} | {letters / rate:.2f} | {rate:.0f} | {spread} "
                f"| {ratio:.2f} | {cpu} |")

    cores = os.cpu_count()
    print(f"bench_email: render + MIME, {args.letters:,} letters, median of {args.repeat} "
          f"round{'s' if args.repeat > 1 else ''} (Python {sys.version.split()[0]}, "
          f"{cores} cores)\n")
    print("| path | letters | seconds | letters/s | range | vs naive | CPU ms/letter |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(row("naive: render_letter + build_message().as_bytes() per letter", "naive",
              len(sample)))
    print(row("recruiter: mail.render_emails, 1 process", "one", args.letters))
    print(row(f"recruiter: mail.render_emails, {args.processes} processes, cold pool (the "
              "first batch of a process)", "cold", args.letters))
    print(row(f"recruiter: mail.render_emails, {args.processes} processes, warm pool (every "
              "later batch)", "many", args.letters))
    best = statistics.median(runs["many"])
    cpu_ratio = statistics.median(cpu_ms["naive"]) / statistics.median(cpu_ms["one"])
    print(f"\nratio: {best / statistics.median(runs['naive']):.2f}x the naive loop "
          f"(CPU per letter in one process: {cpu_ratio:.2f}x less); "
          f"goal {GOAL} letters/s on 2 cores -> {'met' if best >= GOAL else 'NOT met'} "
          f"({best:.0f} letters/s)")
    print(f"average size: {sum(map(len, outputs['many'])) / len(outputs['many']):,.0f} bytes "
          "per message")
    print(verdict)
    print(f"garbage collections in the 1-process run{'s' if args.repeat > 1 else ''}: "
          f"{collected[0]:,} young, {collected[1]:,} middle, {collected[2]:,} full "
          f"({args.letters * args.repeat:,} letters)")
    print(f"load average (1 min) at the start {load_start:.2f}, at the end {load_end:.2f}: "
          "figures are only comparable on an otherwise idle machine.")
    if args.profile:
        profile(items[:2000])


def variant(args: argparse.Namespace) -> None:
    """One ``--without`` variant, in its own process: 1 process, cold pool, warm pool, as JSON."""
    import without

    without.enter_variant()
    items = [dataclasses.replace(item, envelope=dataclasses.replace(
        item.envelope, message_id=f"<bench-{i}@harbourair.example.com>"))
        for i, item in enumerate(make_items(args.letters))]  # the same bytes in every variant
    workers.shutdown()
    one_s, one_cpu, out = timed(product, items, 1)
    cold_s, _, _ = timed(product, items, args.processes)
    warm_s, _, out = timed(product, items, args.processes)
    state = workers.pool(args.processes).submit(without.state).result()
    workers.shutdown()
    n = len(items)
    digest = hashlib.sha256(b"".join(hashlib.sha256(_BOUNDARY.sub(b"B", x)).digest()
                                     for x in out)).hexdigest()
    print(json.dumps({
        "figures": {"one": n / one_s, "cpu": one_cpu * 1000 / n, "cold": n / cold_s,
                    "warm": n / warm_s},
        "digest": digest, "worker_state": state}))


def compare(args: argparse.Namespace) -> None:
    """``--without``: render_emails with every trick on and without each named one."""
    import without

    tricks = without.names(args.without)
    passed = ["--letters", str(args.letters), "--processes", str(args.processes)]
    print(f"bench_email --without {args.without}: {args.letters:,} letters, "
          f"{args.processes} processes, {args.rounds} round(s), each variant in a fresh "
          "process; load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    results = without.run_variants(__file__, passed, ["", *tricks], args.rounds)
    without.report(results, {"one": "letters/s 1 process", "cpu": "CPU ms/letter 1 process",
                             "cold": "letters/s cold", "warm": "letters/s warm"})
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
