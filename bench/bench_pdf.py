"""PDF batch: 1,000 Vancouver-style letterhead letters, against the naive WeasyPrint loop.

    python bench/bench_pdf.py [--letters 1000] [--naive-letters 150] [--processes N]
                              [--pdf-variant pdf/a-2a|pdf/a-2b|pdf/ua-1|none]

The letters are the shipped boilerplate rendered for the Vancouver candidates, repeated to the
count. The product path is ``recruiter.services.pdf.render_pdfs_parallel``: chunks of letters,
each laid out in one pass without page numbers and split per letter by marker, spread over a
pool of worker processes (one per CPU) that stays alive between batches. It runs twice: cold
(the first call starts the fork server and the workers) and warm (the pool is reused).

The baseline is issue 7's naive loop: for each letter, render the letterhead HTML with the
stylesheets inline and call ``HTML(string=...).write_pdf()``, with "Page 1 of N" made the
usual way, by a ``target-counter`` to the letter's end (as recruiter itself did before). A
second naive loop, the fairer one, numbers the pages the way recruiter now does: no folio in
the first layout, and a second ``write_pdf`` only for a letter that ran past one page. Both
produce the same letters; they run on fewer letters and everything is reported as letters/s.

Every run writes one PDF variant (``--pdf-variant``, default RECRUITER_PDF_VARIANT, else
PDF/A-2a), the naive loops too: they pass WeasyPrint's public ``pdf_variant`` option and the
same metadata (title, author, language, creation date), as a naive program would.

Peak RSS: the parent's VmHWM after the product runs (before the naive loops), each pool
worker's VmHWM and the fork server's, all from /proc/PID/status while they are alive; the
total adds them (an upper bound, as the peaks need not coincide). RUSAGE_CHILDREN would miss
the workers: they are the fork server's children, not ours.

Goals (issue 7): at least 4 times the naive loop, 1,000 letters in 15 s or less, peak RSS of
600 MB or less.

``--without weasyprint_ua,gc_freeze`` instead
times the product alone, cold then warm, once with every library trick on and once without
each named one, every variant in a fresh process, in turns for ``--rounds`` rounds (see
``bench/without.py``), and says whether each variant's PDFs are byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from weasyprint import HTML  # noqa: E402

from recruiter.adapters import process_pool  # noqa: E402
from recruiter.paths import LETTERS_DIR  # noqa: E402
from recruiter.services import pdf, workers  # noqa: E402
from recruiter.services.importing import parse_candidates  # noqa: E402
from recruiter.services.pdf_layout import _base_url, _item, _now, _template, bcp47  # noqa: E402
from recruiter.services.rendering import (  # noqa: E402
    CandidateFields,
    LetterContext,
    letter_date,
    render_letter,
)
from recruiter.services.shipped import shipped_for_stage  # noqa: E402

CSV = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"
LONG = "".join(f"<p>Paragraph {i}: thank you again for the care you put into every part of "
               "your application and for the time you gave us.</p>" for i in range(30))


def make_letters(count: int, long_every: int = 0) -> list[pdf.PdfLetter]:
    """``count`` letters rendered from the Vancouver candidates, as the app renders them."""
    rows = [r for r in parse_candidates(CSV.read_bytes()).rows if r.outcome != "hired"]
    letters = []
    for i in range(count):
        row = rows[i % len(rows)]
        context = LetterContext(
            candidate=CandidateFields(first_name=row.first_name, last_name=row.last_name,
                                      full_name=row.full_name, stage=row.stage),
            note=row.note, differentiator="hands-on aviation operations experience",
            position_title="Operations Coordinator", position_location="Vancouver, BC",
            organization_name="Harbour Air Logistics", sender_name="Jordan Reyes",
            sender_title="Operations Manager", applicant_count=count, interviewed_count=3)
        rendered = render_letter(shipped_for_stage(row.stage).source, context)
        body = rendered.html + (LONG if long_every and i % long_every == long_every - 1 else "")
        letters.append(pdf.PdfLetter(
            key=f"letter-{i}", organization_name="Harbour Air Logistics",
            organization_address=("1055 West Georgia Street", "Vancouver BC V6E 3P3"),
            date=letter_date("en"), recipient=(row.full_name, row.address_line1,
                                               f"{row.city} {row.region}  {row.postal_code}"),
            subject=rendered.subject, body_html=body, sender_name=""))
    return letters


# The folio as issue 7's naive loop (and recruiter before it) made it: the first page's
# "Page 1 of N" is a counter style over target-counter(end marker), blank when N is 1.
_FOLIO_DIVS = (
    '<div class="folio-first" data-lang="en"><span class="folio-total" data-end="#{end}">'
    '</span></div><div class="folio">Page <span class="folio-page"></span> of '
    '<span class="folio-total" data-end="#{end}"></span></div>')
_TARGET_COUNTER_CSS = (
    ".folio .folio-total::after { content: target-counter(attr(data-end url), page); }\n"
    '@counter-style folio-blank { system: cyclic; symbols: ""; }\n'
    "@counter-style folio-first-en { system: fixed 2; symbols: "
    + " ".join(f'"Page 1 of {n}"' for n in range(2, 61)) + "; fallback: folio-blank; }\n"
    ".folio-first .folio-total::after { "
    "content: target-counter(attr(data-end url), page, folio-first-en); }\n")
_SECTION_RE = re.compile(r'(<section class="letter"[^>]*>)')


def _naive_html(letter: pdf.PdfLetter, pages: int | None, target_counter: bool) -> str:
    item = _item(letter, pages)
    source = _template().render(items=[item], title=letter.subject, lang="en", size="a4")
    css = (LETTERS_DIR / "letterhead.css").read_text()
    if target_counter:
        css += _TARGET_COUNTER_CSS
        source = _SECTION_RE.sub(lambda m: m.group(1) + _FOLIO_DIVS.format(end=item["end"]),
                                 source, count=1)
    return source.replace("</head>", f"<style>{css}</style></head>", 1)


PDF_VARIANT = "none"  # set by main(): the variant every loop writes


def _write_one(source: str, letter: pdf.PdfLetter) -> tuple[bytes, int]:
    options = {} if PDF_VARIANT == "none" else {"pdf_variant": PDF_VARIANT}
    document = HTML(string=source, base_url=_base_url(),
                    url_fetcher=pdf.url_fetcher).render(**options)
    document.metadata.lang = bcp47(letter.language)
    if PDF_VARIANT != "none":
        document.metadata.authors = [letter.organization_name]
        document.metadata.created = document.metadata.modified = _now()
    return document.write_pdf(**options), len(document.pages)


def naive(letters: list[pdf.PdfLetter]) -> list[bytes]:
    """Issue 7's baseline: one full WeasyPrint run per letter, folio by target-counter."""
    return [_write_one(_naive_html(letter, None, True), letter)[0] for letter in letters]


def naive_numbered_after(letters: list[pdf.PdfLetter]) -> list[bytes]:
    """One WeasyPrint run per letter, and a second one for a letter that ran past one page."""
    out = []
    for letter in letters:
        data, pages = _write_one(_naive_html(letter, None, False), letter)
        if pages > 1:
            data, _ = _write_one(_naive_html(letter, pages, False), letter)
        out.append(data)
    return out


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a live process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def helper_pids() -> list[int]:
    """The fork server and the pool's workers, while they are alive."""
    server = process_pool.forkserver_pid()
    return workers.pids() + ([server] if server else [])


def timed(func: Callable[[list[pdf.PdfLetter]], list[bytes]], letters: list[pdf.PdfLetter]
          ) -> tuple[list[bytes], float, float]:
    """Run ``func`` on ``letters``: its PDFs, wall-clock seconds, CPU seconds of every process.

    The 1-minute load average at the start and at the end goes to ``LOADS`` (the machine may be
    shared: a row's wall-clock figures mean little if the load moved during it).
    """
    LOADS.append(os.getloadavg()[0])
    before = {pid: cpu_seconds(pid) for pid in helper_pids()}
    start, cpu = time.perf_counter(), time.process_time()
    out = func(letters)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    cpu += sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in helper_pids())
    assert len(out) == len(letters) and all(x.startswith(b"%PDF-") for x in out)
    LOADS[-1] = (LOADS[-1], os.getloadavg()[0])
    return out, seconds, cpu


LOADS: list = []  # (1-minute load average at the start, at the end) of each timed run


def main() -> None:
    """Run recruiter's batch (cold, then warm) and the naive loops, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--naive-letters", type=int, default=150)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk", type=int, default=pdf.PARALLEL_CHUNK)
    parser.add_argument("--long-every", type=int, default=0, metavar="N",
                        help="make every Nth letter run to two pages (default: none)")
    parser.add_argument("--skip-fair-naive", action="store_true",
                        help="skip the second naive loop")
    parser.add_argument("--without", metavar="TRICKS",
                        help="compare the product with and without these library tricks")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of --without")
    parser.add_argument("--pdf-variant", choices=pdf.PDF_VARIANTS,
                        help="the PDF variant every loop writes (default: "
                        "RECRUITER_PDF_VARIANT, else pdf/a-2a)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one --without run, as JSON
    args = parser.parse_args()
    global PDF_VARIANT
    PDF_VARIANT = args.pdf_variant = pdf.pdf_variant(args.pdf_variant)
    if args.variant is not None:
        return variant(args)
    if args.without:
        return compare(args)
    print(f"libharfbuzz-subset: {'yes' if pdf.harfbuzz_subset_available() else 'NO'}; "
          f"CPUs: {os.cpu_count()}; PDF variant: {args.pdf_variant}; load average before: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))

    letters = make_letters(args.letters, args.long_every)

    def product(batch: list[pdf.PdfLetter]) -> list[bytes]:
        return pdf.render_pdfs_parallel(batch, processes=args.processes, chunk=args.chunk,
                                        variant=args.pdf_variant)

    rows = []
    cold, cold_s, cold_cpu = timed(product, letters)
    rows.append(("recruiter, cold pool", cold, cold_s, cold_cpu))
    ours, ours_s, ours_cpu = timed(product, letters)
    rows.append(("recruiter, warm pool", ours, ours_s, ours_cpu))
    parent = vm_hwm_mb(os.getpid())
    helpers = {pid: vm_hwm_mb(pid) for pid in helper_pids()}

    sample = letters[:args.naive_letters]
    base, naive_s, naive_cpu = timed(naive, sample)
    rows.append(("naive loop, target-counter", base, naive_s, naive_cpu))
    if not args.skip_fair_naive:
        fair, fair_s, fair_cpu = timed(naive_numbered_after, sample)
        rows.append(("naive loop, numbered after", fair, fair_s, fair_cpu))

    print(f"{'':28}{'letters':>8}{'seconds':>9}{'letters/s':>11}{'CPU ms/letter':>15}"
          f"{'avg KB':>8}  load start-end")
    for (name, out, seconds, cpu), (start, end) in zip(rows, LOADS[-len(rows):], strict=True):
        print(f"{name:28}{len(out):8}{seconds:9.1f}{len(out) / seconds:11.1f}"
              f"{cpu * 1000 / len(out):15.1f}{sum(map(len, out)) / len(out) / 1024:8.1f}"
              f"  {start:.2f}-{end:.2f}")
    ours_rate, naive_rate = len(ours) / ours_s, len(base) / naive_s
    print(f"ratio: {ours_rate / naive_rate:.2f}x the naive loop warm, "
          f"{len(cold) / cold_s / naive_rate:.2f}x cold (goal 4x)"
          + (f"; {ours_rate / (len(fair) / fair_s):.2f}x the numbered-after loop"
             if not args.skip_fair_naive else ""))
    print(f"CPU per letter: naive / recruiter warm = "
          f"{naive_cpu / len(base) / (ours_cpu / len(ours)):.2f} (the ratio a quiet machine "
          f"would give on one core; times {args.processes} processes at best)")
    print(f"1,000 letters: {1000 * ours_s / len(ours):.1f} s warm, "
          f"{1000 * cold_s / len(cold):.1f} s cold (goal 15 s), {args.processes} processes, "
          f"chunks of up to {args.chunk}")
    total = parent + sum(helpers.values())
    print(f"peak RSS (VmHWM): parent {parent:.0f} MB; workers and fork server "
          + ", ".join(f"{x:.0f}" for x in helpers.values())
          + f" MB; total {total:.0f} MB (goal 600 MB)")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    workers.shutdown()


def variant(args: argparse.Namespace) -> None:
    """One ``--without`` variant, in its own process: the product cold, then warm, as JSON."""
    import without

    without.enter_variant()
    letters = make_letters(args.letters, args.long_every)

    def product(batch: list[pdf.PdfLetter]) -> list[bytes]:
        return pdf.render_pdfs_parallel(batch, processes=args.processes, chunk=args.chunk,
                                        variant=args.pdf_variant)

    _, cold_s, cold_cpu = timed(product, letters)
    out, warm_s, warm_cpu = timed(product, letters)
    state = workers.pool(args.processes).submit(without.state).result()
    workers.shutdown()
    n = len(letters)
    print(json.dumps({
        "figures": {"warm": n / warm_s, "cold": n / cold_s, "cpu": warm_cpu * 1000 / n},
        "digest": hashlib.sha256(b"".join(hashlib.sha256(x).digest() for x in out)).hexdigest(),
        "worker_state": state}))


def compare(args: argparse.Namespace) -> None:
    """``--without``: the product with every trick on and without each named one."""
    import without

    tricks = without.names(args.without)
    passed = ["--letters", str(args.letters), "--processes", str(args.processes),
              "--chunk", str(args.chunk), "--long-every", str(args.long_every),
              "--pdf-variant", args.pdf_variant]
    print(f"bench_pdf --without {args.without}: {args.letters:,} letters, "
          f"{args.processes} processes, {args.rounds} round(s), PDF variant "
          f"{args.pdf_variant}, each variant in a fresh "
          "process; load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    results = without.run_variants(__file__, passed, ["", *tricks], args.rounds)
    without.report(results, {"warm": "letters/s warm", "cold": "letters/s cold",
                             "cpu": "CPU ms/letter warm"})
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
