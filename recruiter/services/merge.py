"""Stateless mail merge: a candidate CSV in, a folder of letters out, no database."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..errors import RecruiterError
from . import checks
from .boilerplates import shipped_boilerplates, shipped_for_stage
from .importing import CandidateRow, accepted_rows, parse_candidates
from .mail import Envelope, Mail, build_messages, new_message_id
from .pdf import PdfLetter, render_pdfs_parallel
from .rendering import CandidateFields, LetterContext, Rendered, letter_date, render_letter

FORMATS = ("pdf", "eml", "txt")


@dataclass(frozen=True)
class Sender:
    """Who the letters come from."""

    organization: str = "our company"
    address: tuple[str, ...] = ()
    name: str = "The hiring team"
    title: str = ""
    email: str = "hiring@example.com"
    locale: str = "en"


@dataclass
class MergeSummary:
    """What a merge wrote, skipped and warned about."""

    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid_rows: list[str] = field(default_factory=list)


def context_for(row: CandidateRow, *, position: str, differentiator: str, sender: Sender,
                applicant_count: int, interviewed_count: int, today: date | None) -> LetterContext:
    """The letter context of one CSV row."""
    return LetterContext(
        candidate=CandidateFields.of(row, row.stage),
        note=row.note, differentiator=differentiator, position_title=position,
        position_location="", organization_name=sender.organization, sender_name=sender.name,
        sender_title=sender.title, applicant_count=applicant_count,
        interviewed_count=interviewed_count, today=today, locale=sender.locale)


def postal_lines(row: CandidateRow) -> tuple[str, ...]:
    """The address block for the envelope window."""
    locality = " ".join(p for p in (row.city, row.region) if p)
    if row.postal_code:
        locality = f"{locality}  {row.postal_code}".strip()
    lines = (row.full_name, row.address_line1, row.address_line2, locality, row.country)
    return tuple(line for line in lines if line)


def file_stem(row: CandidateRow) -> str:
    """A safe, sortable file name for a row's letter: ``007-okafor-daniel``."""
    ascii_name = unicodedata.normalize("NFKD", f"{row.last_name} {row.first_name}")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.encode("ascii", "ignore").decode().lower())
    return f"{row.row:03d}-{slug.strip('-') or 'candidate'}"


def merge(data: bytes, *, position: str, differentiator: str, fmt: str, out: Path,
          template: str | None = None, skip_invalid: bool = False, sender: Sender = Sender(),
          page_size: str = "A4", today: date | None = None) -> MergeSummary:
    """Write one letter per candidate who was not hired; everything renders before any write."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    parsed = parse_candidates(data)
    summary = MergeSummary(invalid_rows=[p.message for p in parsed.problems])
    rows = accepted_rows(parsed, skip_invalid=skip_invalid)
    forced = shipped_boilerplates().get(template) if template else None
    if template and forced is None:
        names = ", ".join(shipped_boilerplates())
        raise RecruiterError(f"There is no boilerplate called {template!r}; choose one of {names}.")
    interviewed = sum(1 for r in rows if r.stage == "interviewed")
    hires = [r for r in rows if r.outcome == "hired"]
    rendered: list[tuple[CandidateRow, Rendered]] = []
    for row in rows:
        if row.outcome == "hired":
            continue
        if row.outcome == "withdrawn":
            summary.skipped.append(f"Row {row.row} ({row.full_name}): withdrew, so no letter.")
            continue
        if fmt == "eml" and not row.email:
            summary.skipped.append(f"Row {row.row} ({row.full_name}): no email address; "
                                   "send this letter by post (--format pdf).")
            continue
        boilerplate = (forced or shipped_for_stage(row.stage)).source
        ctx = context_for(row, position=position, differentiator=differentiator,
                          sender=sender, applicant_count=len(rows),
                          interviewed_count=interviewed, today=today)
        rendered.append((row, render_letter(boilerplate, ctx)))

    summary.warnings.extend(_check(rendered, hires, differentiator))
    files = _outputs(rendered, fmt=fmt, sender=sender, page_size=page_size, today=today)
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in files:
        summary.written.append(_write_atomic(out / name, payload))
    return summary


def _check(rendered: list[tuple[CandidateRow, Rendered]], hires: list[CandidateRow],
           differentiator: str) -> list[str]:
    facts = checks.BatchFacts(
        differentiator=differentiator,
        hire_names=tuple(n for h in hires for n in (h.full_name,) if n),
        hire_email=hires[0].email if hires else None)
    letters = [checks.LetterUnderCheck(key=row.row, text=r.text, note=row.note,
                                       candidate_names=(row.first_name, row.last_name))
               for row, r in rendered]
    by_row = {row.row: row for row, _ in rendered}
    found = checks.check_batch(letters, facts)
    lines = [f"Differentiator: {f.message}" for f in checks.check_differentiator(
        differentiator, facts)]
    for key, findings in found.items():
        for finding in findings:
            row = by_row[key]
            level = "" if finding.severity == "warning" else "ERROR: "
            lines.append(f"Row {row.row} ({row.full_name}): {level}{finding.message}")
    return lines


def _outputs(rendered: list[tuple[CandidateRow, Rendered]], *, fmt: str, sender: Sender,
             page_size: str, today: date | None) -> list[tuple[str, bytes]]:
    if fmt == "txt":
        return [(f"{file_stem(row)}.txt", f"Subject: {r.subject}\n\n{r.text}".encode())
                for row, r in rendered]
    if fmt == "eml":
        domain = sender.email.rpartition("@")[2]
        emls = build_messages(
            Mail(Envelope(sender.name, sender.email, row.full_name, row.email or "",
                          new_message_id(domain)), r.subject, r.text, r.html)
            for row, r in rendered)
        return [(f"{file_stem(row)}.eml", eml)
                for (row, _), eml in zip(rendered, emls, strict=True)]
    letters = [PdfLetter(key=str(row.row), organization_name=sender.organization,
                         organization_address=sender.address,
                         date=letter_date(sender.locale, today),
                         recipient=postal_lines(row), subject=r.subject, body_html=r.html,
                         sender_name="", language=row.language)
               for row, r in rendered]
    pdfs = render_pdfs_parallel(letters, page_size=page_size)
    return [(f"{file_stem(row)}.pdf", pdf) for (row, _), pdf in zip(rendered, pdfs, strict=True)]



def _write_atomic(path: Path, payload: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
    return path
