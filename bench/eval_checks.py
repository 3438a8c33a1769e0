#!/usr/bin/env python3
"""Evaluate the risky-wording checks against a labelled set of letter sentences.

Usage (from the repo root):

    python bench/eval_checks.py [--verbose] [--strict] [--csv PATH] [--retention-months N]

Each row of ``bench/checks_eval.csv`` is one sentence from a realistic decline
letter, with ``category`` empty for an innocent sentence or one of the
risky-wording categories below, and ``ignore_names`` (optional, ``;``-separated)
naming the candidate's own names, which the checker is told to ignore.

For every sentence we call
``recruiter.services.checks.check_text(sentence, retention_months=N, ignore_names=...)``.
A sentence is predicted risky for category C when any returned finding has
``.category == C``. Findings of other kinds (``unfilled`` and so on) are ignored.

Reported: per category support, TP, FP, FN, precision and recall; overall
risky-vs-innocent precision and recall (category ignored); every miss and false
alarm (always when there are fewer than 40, else with ``--verbose``); and a
Markdown table for the README.

Exit status: 0, unless ``--strict`` is given and overall precision or recall is
below 0.9, or any category's precision or recall is below 0.8 (then 1). Exit 2
when the checker cannot be imported or the CSV is malformed.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CATEGORIES = (
    "age",
    "sex_gender",
    "pregnancy",
    "race_colour",
    "religion",
    "national_origin",
    "disability_health",
    "family_status",
    "sexual_orientation",
    "challenge_phrase",
    "negative_comparison",
    "retention_promise",
)

DEFAULT_CSV = Path(__file__).resolve().parent / "checks_eval.csv"
LIST_ALWAYS_BELOW = 40
STRICT_OVERALL = 0.9
STRICT_CATEGORY = 0.8


@dataclass
class Row:
    """One labelled sentence and what the checker said about it."""

    line: int
    sentence: str
    category: str  # "" for innocent
    ignore_names: tuple[str, ...]
    predicted: set[str] = field(default_factory=set)
    details: list[str] = field(default_factory=list)


def load(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"sentence", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, rec in enumerate(reader, start=2):
            sentence = (rec.get("sentence") or "").strip()
            category = (rec.get("category") or "").strip()
            if not sentence:
                raise ValueError(f"{path}, line {line}: empty sentence")
            if category and category not in CATEGORIES:
                raise ValueError(f"{path}, line {line}: unknown category {category!r}")
            names = tuple(
                n.strip() for n in (rec.get("ignore_names") or "").split(";") if n.strip()
            )
            rows.append(Row(line, sentence, category, names))
    return rows


def describe(finding, text: str) -> str:
    """A short description of a finding: its category and the words it points at."""
    cat = getattr(finding, "category", "?")
    start, end = getattr(finding, "start", None), getattr(finding, "end", None)
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        return f"{cat}: {text[start:end]!r}"
    for attr in ("match", "matched", "term", "phrase", "message"):
        val = getattr(finding, attr, None)
        if isinstance(val, str) and val:
            return f"{cat}: {val[:80]!r}"
    return str(cat)


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV,
                    help="labelled set (default: %(default)s)")
    ap.add_argument("--retention-months", type=int, default=6,
                    help="organization retention in months (default: 6)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="list every miss and false alarm")
    ap.add_argument("--strict", action="store_true",
                    help=f"exit 1 if overall P/R < {STRICT_OVERALL} "
                         f"or any category P/R < {STRICT_CATEGORY}")
    args = ap.parse_args(argv)

    try:
        rows = load(args.csv)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        from recruiter.services.checks import check_text
    except ImportError as exc:
        print(f"error: cannot import recruiter.services.checks.check_text: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    for row in rows:
        findings = check_text(row.sentence, retention_months=args.retention_months,
                              ignore_names=row.ignore_names)
        for f in findings:
            cat = getattr(f, "category", None)
            if cat in CATEGORIES:
                row.predicted.add(cat)
                row.details.append(describe(f, row.sentence))
    elapsed = time.perf_counter() - started

    # Per category.
    per: dict[str, dict[str, float | int | None]] = {}
    for cat in CATEGORIES:
        tp = sum(1 for r in rows if r.category == cat and cat in r.predicted)
        fn = sum(1 for r in rows if r.category == cat and cat not in r.predicted)
        fp = sum(1 for r in rows if r.category != cat and cat in r.predicted)
        per[cat] = {"support": tp + fn, "tp": tp, "fp": fp, "fn": fn,
                    "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn)}

    # Overall: risky vs innocent, category ignored.
    o_tp = sum(1 for r in rows if r.category and r.predicted)
    o_fn = sum(1 for r in rows if r.category and not r.predicted)
    o_fp = sum(1 for r in rows if not r.category and r.predicted)
    o_tn = sum(1 for r in rows if not r.category and not r.predicted)
    o_p, o_r = ratio(o_tp, o_tp + o_fp), ratio(o_tp, o_tp + o_fn)

    # Every disagreement, by kind.
    misses = [r for r in rows if r.category and not r.predicted]
    false_alarms = [r for r in rows if not r.category and r.predicted]
    wrong_cat = [r for r in rows if r.category and r.predicted and r.predicted != {r.category}]

    n_risky = sum(1 for r in rows if r.category)
    print(f"Checks evaluation: {len(rows)} sentences "
          f"({n_risky} risky, {len(rows) - n_risky} innocent), "
          f"retention {args.retention_months} months, {elapsed * 1000:.0f} ms "
          f"({elapsed * 1e6 / max(len(rows), 1):.0f} µs/sentence)\n")
    head = (f"{'category':<20} {'support':>7} {'TP':>4} {'FP':>4} {'FN':>4} "
            f"{'precision':>9} {'recall':>6}")
    print(head)
    print("-" * len(head))
    for cat in CATEGORIES:
        m = per[cat]
        print(f"{cat:<20} {m['support']:>7} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4} "
              f"{fmt(m['precision']):>9} {fmt(m['recall']):>6}")
    print("-" * len(head))
    print(f"{'overall (risky?)':<20} {n_risky:>7} {o_tp:>4} {o_fp:>4} {o_fn:>4} "
          f"{fmt(o_p):>9} {fmt(o_r):>6}   (TN {o_tn})\n")

    n_issues = len(misses) + len(false_alarms) + len(wrong_cat)
    if args.verbose or n_issues < LIST_ALWAYS_BELOW:
        sections = (
            ("Misses (risky, nothing flagged)", misses),
            ("False alarms (innocent, flagged)", false_alarms),
            ("Wrong or extra category (risky, flagged as another category)", wrong_cat),
        )
        for title, items in sections:
            print(f"{title}: {len(items)}")
            for r in items:
                want = r.category or "innocent"
                got = ", ".join(sorted(r.predicted)) or "nothing"
                names = f"  [ignore_names={';'.join(r.ignore_names)}]" if r.ignore_names else ""
                print(f"  line {r.line}: expected {want}, got {got}{names}")
                print(f"      {r.sentence}")
                if r.details:
                    print(f"      findings: {'; '.join(r.details)}")
            print()
    else:
        print(f"{len(misses)} misses, {len(false_alarms)} false alarms, "
              f"{len(wrong_cat)} wrong-category; run with --verbose to list them.\n")

    # Markdown table for the README.
    print("| category | support | TP | FP | FN | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cat in CATEGORIES:
        m = per[cat]
        print(f"| {cat} | {m['support']} | {m['tp']} | {m['fp']} | {m['fn']} | "
              f"{fmt(m['precision'])} | {fmt(m['recall'])} |")
    print(f"| **overall (risky vs innocent)** | {n_risky} | {o_tp} | {o_fp} | {o_fn} | "
          f"**{fmt(o_p)}** | **{fmt(o_r)}** |")

    if args.strict:
        failures = []
        if o_p is not None and o_p < STRICT_OVERALL:
            failures.append(f"overall precision {o_p:.2f} < {STRICT_OVERALL}")
        if o_r is None or o_r < STRICT_OVERALL:
            failures.append(f"overall recall {fmt(o_r)} < {STRICT_OVERALL}")
        for cat in CATEGORIES:
            m = per[cat]
            for key in ("precision", "recall"):
                val = m[key]
                # A category with no predictions has no precision; its recall (0) fails instead.
                if val is not None and val < STRICT_CATEGORY:
                    failures.append(f"{cat} {key} {val:.2f} < {STRICT_CATEGORY}")
            if m["support"] == 0:
                failures.append(f"{cat} has no labelled sentences")
        if failures:
            print("\nSTRICT: FAIL\n  " + "\n  ".join(failures))
            return 1
        print("\nSTRICT: pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
