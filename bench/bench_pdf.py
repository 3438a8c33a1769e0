"""PDF batch: 1,000 Vancouver-style letterhead letters, against the naive WeasyPrint loop.

    python bench/bench_pdf.py [--letters 1000] [--naive-letters 200] [--processes 2]

The letters are the shipped boilerplate rendered for the Vancouver candidates, repeated to the
count. The baseline is what one writes first: for each letter, render the letterhead HTML and
call ``HTML(string=...).write_pdf()``. recruiter lays out chunks of letters in one pass each,
splits them per letter by marker, and spreads the chunks over processes. Both produce the same
letters; the naive loop runs on fewer letters and both are reported as letters/s.
Goals (issue 7): at least 4 times the naive loop, 1,000 letters in 15 s or less, peak RSS of
600 MB or less.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from weasyprint import HTML  # noqa: E402

from recruiter.services import pdf  # noqa: E402
from recruiter.services.boilerplates import shipped_for_stage  # noqa: E402
from recruiter.services.importing import parse_candidates  # noqa: E402
from recruiter.services.rendering import (  # noqa: E402
    CandidateFields,
    LetterContext,
    letter_date,
    render_letter,
)

CSV = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"


def make_letters(count: int) -> list[pdf.PdfLetter]:
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
        letters.append(pdf.PdfLetter(
            key=f"letter-{i}", organization_name="Harbour Air Logistics",
            organization_address=("1055 West Georgia Street", "Vancouver BC V6E 3P3"),
            date=letter_date("en"), recipient=(row.full_name, row.address_line1,
                                               f"{row.city} {row.region}  {row.postal_code}"),
            subject=rendered.subject, body_html=rendered.html, sender_name=""))
    return letters


def naive(letters: list[pdf.PdfLetter]) -> list[bytes]:
    """One full WeasyPrint run per letter, stylesheet parsing included."""
    out = []
    for letter in letters:
        source = pdf._template().render(items=[pdf._item(letter)], title=letter.subject,
                                        lang="en", size="a4")
        css = (pdf.LETTERS_DIR / "letterhead.css").read_text()
        page = f"<style>{css}\n{pdf._folio_css()}</style>"
        out.append(HTML(string=source.replace("</head>", page + "</head>", 1),
                        base_url=pdf._base_url(), url_fetcher=pdf.url_fetcher).write_pdf())
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main() -> None:
    """Run recruiter's batch and the naive loop, and print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--naive-letters", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=pdf.PARALLEL_CHUNK)
    args = parser.parse_args()
    print(f"libharfbuzz-subset: {'yes' if pdf.harfbuzz_subset_available() else 'NO'}")

    letters = make_letters(args.letters)
    start = time.perf_counter()
    ours = pdf.render_pdfs_parallel(letters, processes=args.processes, chunk=args.chunk)
    ours_s = time.perf_counter() - start
    rss = peak_rss_mb()

    sample = letters[:args.naive_letters]
    start = time.perf_counter()
    base = naive(sample)
    naive_s = time.perf_counter() - start

    ours_rate, naive_rate = len(ours) / ours_s, len(base) / naive_s
    print(f"{'':28}{'letters':>9}{'seconds':>10}{'letters/s':>11}{'avg KB':>9}")
    print(f"{'recruiter (' + str(args.processes) + ' processes)':28}{len(ours):9}{ours_s:10.1f}"
          f"{ours_rate:11.1f}{sum(map(len, ours)) / len(ours) / 1024:9.1f}")
    print(f"{'naive write_pdf loop':28}{len(base):9}{naive_s:10.1f}{naive_rate:11.1f}"
          f"{sum(map(len, base)) / len(base) / 1024:9.1f}")
    print(f"ratio: {ours_rate / naive_rate:.1f}x the naive loop (goal 4x); "
          f"1,000 letters would take {1000 / ours_rate:.1f} s (goal 15 s); "
          f"peak RSS {rss:.0f} MB, all processes (goal 600 MB)")


if __name__ == "__main__":
    main()
