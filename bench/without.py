"""The benches' ``--without``: the same bench with some of recruiter's library tricks off.

Each trick sits behind an adapter in ``recruiter/adapters/`` with a flag that takes the public
path. A variant runs in a fresh process of its own (``RECRUITER_BENCH_WITHOUT`` names what is
off), so it starts its own fork server, which imports this module (``workers.PRELOAD``) and so
turns the same tricks off in every worker. The parent runs the variants in turns, for a number
of rounds, and prints each one's median against the run with every trick on.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from recruiter.adapters import collector, font_subsets, mime_boundary, pydyf_once, weasyprint_ua

ENV = "RECRUITER_BENCH_WITHOUT"
TRICKS = {
    "weasyprint_ua": "trimmed user-agent stylesheet (adapters/weasyprint_ua.py)",
    "mime_boundary": "boundary chosen when built (adapters/mime_boundary.py)",
    "gc_freeze": "warm-up heap frozen in the workers (adapters/collector.py)",
    "gc": "the collector tricks (now only gc_freeze)",
    "pydyf_once": "every PDF object serialised once (adapters/pydyf_once.py)",
    "font_subsets": "a font's subset per glyph set cut once (adapters/font_subsets.py)",
}


def names(text: str) -> list[str]:
    """The trick names of a comma-separated list; exits on an unknown one."""
    out = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in out if name not in TRICKS]
    if unknown:
        raise SystemExit(f"unknown trick {unknown[0]!r}: choose from {', '.join(TRICKS)}")
    return out


def wanted(off: list[str]) -> dict[str, bool]:
    """Which tricks are on once the named ones are off."""
    return {"weasyprint_ua": "weasyprint_ua" not in off,
            "mime_boundary": "mime_boundary" not in off,
            "gc_freeze": not {"gc_freeze", "gc"} & set(off),
            "pydyf_once": "pydyf_once" not in off, "font_subsets": "font_subsets" not in off}


def apply(off: list[str]) -> None:
    """Turn the named tricks off in this process."""
    on = wanted(off)
    weasyprint_ua.enabled = on["weasyprint_ua"]
    mime_boundary.enabled = on["mime_boundary"]
    collector.freeze_enabled = on["gc_freeze"]
    pydyf_once.enabled, font_subsets.enabled = on["pydyf_once"], on["font_subsets"]


def state() -> dict[str, bool]:
    """Which tricks are on in the calling process (asked of a worker to check the switch)."""
    return {"weasyprint_ua": weasyprint_ua.enabled, "mime_boundary": mime_boundary.enabled,
            "gc_freeze": collector.freeze_enabled, "pydyf_once": pydyf_once.enabled,
            "font_subsets": font_subsets.enabled}


apply(names(os.environ.get(ENV, "")))


def enter_variant() -> None:
    """In a variant's process: make its fork server (and so every worker) import this module."""
    from recruiter.services import workers

    if __name__ not in workers.PRELOAD:
        workers.PRELOAD.append(__name__)


def run_variants(script: str, args: list[str], variants: list[str], rounds: int
                 ) -> dict[str, list[dict]]:
    """Run ``script --variant V`` for every variant, ``rounds`` times in turn; their JSON."""
    bench = str(Path(script).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(bench).parent), bench, os.environ.get("PYTHONPATH", "")]))
    results: dict[str, list[dict]] = {variant: [] for variant in variants}
    for round_ in range(rounds):
        for variant in variants:
            env[ENV] = variant
            done = subprocess.run([sys.executable, script, "--variant", variant or "-", *args],
                                  env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"variant {variant or 'all on'} failed:\n{done.stderr}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if result["worker_state"] != wanted(names(variant)):
                raise SystemExit(f"variant {variant!r}: a worker had {result['worker_state']}")
            results[variant].append(result)
            print(f"  round {round_ + 1}, {variant or 'all tricks on'}: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in result["figures"].items()),
                  file=sys.stderr)
    return results


def report(results: dict[str, list[dict]], columns: dict[str, str]) -> None:
    """One row per variant: each figure's median over the rounds, and its change vs all on."""
    base = results[""]
    print("| without | " + " | ".join(columns.values()) + " | same output |")
    print("| --- |" + " ---: |" * len(columns) + " --- |")
    for variant, runs in results.items():
        cells = []
        for key in columns:
            values = [run["figures"][key] for run in runs]
            ref = statistics.median(run["figures"][key] for run in base)
            mid = statistics.median(values)
            spread = f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else ""
            change = "" if not variant else f", {100 * (mid - ref) / ref:+.1f}%"
            cells.append(f"{mid:.2f}{spread}{change}")
        same = all(run["digest"] == base[0]["digest"] for run in runs)
        print(f"| {variant or '(all tricks on)'} | " + " | ".join(cells)
              + f" | {'yes' if same else 'no'} |")
