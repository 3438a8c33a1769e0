#!/usr/bin/env python3
"""Evaluate the risky-wording checks against a labelled set of letter sentences.

Usage (from the repo root):

    python bench/eval_checks.py [--language all|en|fr|es|de] [--set eval|heldout|both]
                                [--verbose] [--strict] [--csv PATH] [--retention-months N]

Sets, per language (``--language``, default every language; ``--set``, default both):

    language  eval (for tuning the word lists)  heldout (never look at it while tuning)
    en        checks_eval.csv                   checks_heldout.csv + checks_heldout_en2.csv
    fr        checks_eval_fr.csv                checks_heldout_fr.csv
    es        checks_eval_es.csv                checks_heldout_es.csv
    de        checks_eval_de.csv                checks_heldout_de.csv

A missing file is reported and skipped. ``--csv PATH`` evaluates one file instead, in
``--language`` (English by default).

Each row is one sentence from a realistic decline letter, with ``category`` empty for
an innocent sentence or one of the categories below (``placeholder`` for a hand-made
placeholder such as "[NOM]"), and ``ignore_names`` (optional, ``;``-separated) naming
the candidate's own names, which the checker is told to ignore.

For every sentence we call ``recruiter.services.checks.check_text(sentence,
language=L, retention_months=N, ignore_names=...)``. A sentence is predicted risky for
category C when any returned finding has ``.category == C`` (a finding whose check is
``placeholder`` counts as ``placeholder``). Other findings are ignored.

Reported: per category support, TP, FP, FN, precision and recall; overall
risky-vs-innocent precision and recall (category ignored); every miss and false
alarm (always when there are fewer than 40, else with ``--verbose``); and, per set, a
Markdown table, then a summary table (language x set: precision, recall, sentences)
for the README.

Exit status: 0, unless ``--strict`` is given and, in any set evaluated, overall
precision or recall is below 0.9, or any category's precision or recall is below 0.8
(then 1). Exit 2 when the checker cannot be imported, a CSV is malformed, or no set
could be read.
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
    "placeholder",
)

BENCH = Path(__file__).resolve().parent
DEFAULT_CSV = BENCH / "checks_eval.csv"
LANGUAGES = ("en", "fr", "es", "de")
SETS: dict[str, dict[str, tuple[Path, ...]]] = {
    "en": {"eval": (DEFAULT_CSV,),
           "heldout": (BENCH / "checks_heldout.csv", BENCH / "checks_heldout_en2.csv")},
    **{lang: {"eval": (BENCH / f"checks_eval_{lang}.csv",),
              "heldout": (BENCH / f"checks_heldout_{lang}.csv",)} for lang in ("fr", "es", "de")},
}
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
    source: str = ""  # the file's name, when a set has several


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


def predict(rows: list[Row], language: str, retention_months: int) -> float:
    """Run the checker over ``rows``; the time it took, in seconds."""
    from recruiter.services.checks import check_text

    started = time.perf_counter()
    for row in rows:
        findings = check_text(row.sentence, language=language,
                              retention_months=retention_months,
                              ignore_names=row.ignore_names)
        for f in findings:
            cat = "placeholder" if getattr(f, "check", None) == "placeholder" else getattr(
                f, "category", None)
            if cat in CATEGORIES:
                row.predicted.add(cat)
                row.details.append(describe(f, row.sentence))
    return time.perf_counter() - started


def report(rows: list[Row], title: str, args: argparse.Namespace, elapsed: float
           ) -> dict[str, object]:
    """Print one set's figures; return its summary and strict failures."""
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
    print(f"== {title}: {len(rows)} sentences "
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
        for heading, items in sections:
            print(f"{heading}: {len(items)}")
            for r in items:
                want = r.category or "innocent"
                got = ", ".join(sorted(r.predicted)) or "nothing"
                names = f"  [ignore_names={';'.join(r.ignore_names)}]" if r.ignore_names else ""
                print(f"  {r.source}line {r.line}: expected {want}, got {got}{names}")
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
        if m["support"] == 0 and m["fp"] == 0:
            continue
        print(f"| {cat} | {m['support']} | {m['tp']} | {m['fp']} | {m['fn']} | "
              f"{fmt(m['precision'])} | {fmt(m['recall'])} |")
    print(f"| **overall (risky vs innocent)** | {n_risky} | {o_tp} | {o_fp} | {o_fn} | "
          f"**{fmt(o_p)}** | **{fmt(o_r)}** |\n")

    failures = []
    if o_p is not None and o_p < STRICT_OVERALL:
        failures.append(f"{title}: overall precision {o_p:.2f} < {STRICT_OVERALL}")
    if o_r is None or o_r < STRICT_OVERALL:
        failures.append(f"{title}: overall recall {fmt(o_r)} < {STRICT_OVERALL}")
    for cat in CATEGORIES:
        m = per[cat]
        for key in ("precision", "recall"):
            val = m[key]
            # A category with no predictions has no precision; its recall (0) fails instead.
            if val is not None and val < STRICT_CATEGORY:
                failures.append(f"{title}: {cat} {key} {val:.2f} < {STRICT_CATEGORY}")
        if m["support"] == 0 and cat != "placeholder":
            failures.append(f"{title}: {cat} has no labelled sentences")
    return {"precision": o_p, "recall": o_r, "sentences": len(rows), "risky": n_risky,
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=None,
                    help="evaluate this one labelled file instead of the standard sets")
    ap.add_argument("--language", default="all", choices=("all", *LANGUAGES),
                    help="language(s) to evaluate (default: all)")
    ap.add_argument("--set", dest="which", default="both", choices=("eval", "heldout", "both"),
                    help="evaluation (tuning) set, held-out set, or both (default: both)")
    ap.add_argument("--retention-months", type=int, default=6,
                    help="organization retention in months (default: 6)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="list every miss and false alarm")
    ap.add_argument("--strict", action="store_true",
                    help=f"exit 1 if overall P/R < {STRICT_OVERALL} "
                         f"or any category P/R < {STRICT_CATEGORY}")
    args = ap.parse_args(argv)

    try:
        import recruiter.services.checks  # noqa: F401
    except ImportError as exc:
        print(f"error: cannot import recruiter.services.checks.check_text: {exc}", file=sys.stderr)
        return 2

    if args.csv is not None:
        language = "en" if args.language == "all" else args.language
        jobs = [(language, "file", (args.csv,))]
    else:
        languages = LANGUAGES if args.language == "all" else (args.language,)
        kinds = ("eval", "heldout") if args.which == "both" else (args.which,)
        jobs = [(lang, kind, SETS[lang][kind]) for lang in languages for kind in kinds]

    summary: list[tuple[str, str, dict[str, object]]] = []
    failures: list[str] = []
    for language, kind, paths in jobs:
        rows: list[Row] = []
        read: list[str] = []
        for path in paths:
            if not path.is_file():
                print(f"note: {path.name} is missing; {language} {kind} goes on without it.\n")
                continue
            try:
                loaded = load(path)
            except (OSError, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if len(paths) > 1:
                for row in loaded:
                    row.source = f"{path.name} "
            rows += loaded
            read.append(path.name)
        if not rows:
            continue
        elapsed = predict(rows, language, args.retention_months)
        result = report(rows, f"{language} {kind} ({' + '.join(read)})", args, elapsed)
        failures += result.pop("failures")  # type: ignore[arg-type]
        summary.append((language, kind, result))
    if not summary:
        print("error: no labelled set could be read.", file=sys.stderr)
        return 2

    print("Summary (risky vs innocent):\n")
    print("| language | set | precision | recall | sentences (risky) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for language, kind, m in summary:
        print(f"| {language} | {kind} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
              f"{m['sentences']} ({m['risky']}) |")

    if args.strict:
        if failures:
            print("\nSTRICT: FAIL\n  " + "\n  ".join(failures))
            return 1
        print("\nSTRICT: pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
