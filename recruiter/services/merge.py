"""Stateless mail merge: a candidate CSV in, a folder of letters out, no database."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from ..errors import RecruiterError
from . import checks
from .csvcells import csv_safe
from .importing import (
    CandidateRow,
    ImportMapping,
    accepted_rows,
    check_hires,
    parse_candidates,
)
from .languages import display_name, letter_locale, normalise, primary, typography
from .mail import Envelope, Mail, build_messages, new_message_id
from .names import name_slug
from .pdf import PdfLetter, render_pdfs_parallel
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, Rendered, letter_date, render_letter
from .shipped import load_template, shipped_for_stage

FORMATS = ("pdf", "eml", "txt")
CHANNELS = {"pdf": "post", "eml": "email", "txt": "text"}
INDEX_NAME = "index.csv"
INDEX_COLUMNS = ("file", "row", "name", "email", "channel", "boilerplate", "language",
                 "warnings")
# Only a decline gets a decline letter; why each other outcome gets none.
NO_LETTER = {"hired": "hired, so no letter", "withdrawn": "withdrew, so no letter",
             "pending": "pending (no decision yet), so no letter"}


@dataclass(frozen=True)
class Sender:
    """Who the letters come from."""

    organization: str = "our company"
    address: tuple[str, ...] = ()
    name: str = "The hiring team"
    title: str = ""
    email: str = "hiring@example.com"
    locale: str = "en"
    title_in: tuple[tuple[str, str], ...] = ()  # the title in other languages: (lang, title)

    @property
    def language(self) -> str:
        """The sender's own language, which a letter falls back to."""
        return primary(self.locale) or "en"

    def title_for(self, language: str) -> str:
        """The title in ``language``: ``title`` in the sender's own, else ``title_in``."""
        if primary(language) == self.language:
            return self.title
        return next((t for code, t in self.title_in if primary(code) == primary(language)), "")


@dataclass
class MergeSummary:
    """What a merge wrote, skipped and warned about."""

    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid_rows: list[str] = field(default_factory=list)
    index: Path | None = None


def context_for(row: CandidateRow, *, position: str, differentiator: str, sender: Sender,
                applicant_count: int, interviewed_count: int, today: date | None,
                language: str | None = None, sender_title: str | None = None
                ) -> LetterContext:
    """The letter context of one CSV row, in ``language`` (default: the sender's).

    ``differentiator`` and ``sender_title`` are those of that language.
    """
    language = language or sender.language
    return LetterContext(
        candidate=CandidateFields.of(row, row.stage),
        note=typography(row.note, language),
        differentiator=typography(differentiator, language), position_title=position,
        position_location="", organization_name=sender.organization, sender_name=sender.name,
        sender_title=sender.title if sender_title is None else sender_title,
        applicant_count=applicant_count, interviewed_count=interviewed_count, today=today,
        locale=_locale(language, sender))


def _locale(language: str, sender: Sender) -> str:
    """The Babel locale of a letter in ``language`` from ``sender`` (``letter_locale``)."""
    return letter_locale(language, SimpleNamespace(locale=sender.locale))  # type: ignore[arg-type]


def postal_lines(row: CandidateRow) -> tuple[str, ...]:
    """The address block for the envelope window."""
    locality = " ".join(p for p in (row.city, row.region) if p)
    if row.postal_code:
        locality = f"{locality}  {row.postal_code}".strip()
    lines = (row.full_name, row.address_line1, row.address_line2, locality, row.country)
    return tuple(line for line in lines if line)


def file_stem(row: CandidateRow) -> str:
    """A safe, sortable file name for a row's letter: ``007-okafor-daniel``."""
    return f"{row.row:03d}-{name_slug(row.last_name, row.first_name) or 'candidate'}"


def merge(data: bytes, *, position: str, differentiator: str, fmt: str, out: Path,
          template: str | None = None, skip_invalid: bool = False, sender: Sender = Sender(),
          page_size: str = "A4", today: date | None = None,
          mapping: ImportMapping | None = None, openings: int = 1,
          differentiator_in: Mapping[str, str] | None = None) -> MergeSummary:
    """Write one letter per declined candidate and index.csv; everything renders first.

    Each letter is in its row's language (blank: the sender's) when the boilerplate is
    shipped in it, else in the sender's language with a warning; ``differentiator_in`` gives
    the differentiator in other languages. A row whose language needs a differentiator (or
    a sender title) that was not given refuses the merge, naming the rows.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    translations = {primary(code): text for code, text in (differentiator_in or {}).items()}
    parsed = parse_candidates(data, mapping=mapping)
    summary = MergeSummary(invalid_rows=[p.message for p in parsed.problems])
    rows = accepted_rows(parsed, skip_invalid=skip_invalid)
    check_hires(rows, openings)
    forced = load_template(template) if template else None
    interviewed = sum(1 for r in rows if r.stage == "interviewed")
    hires = [r for r in rows if r.outcome == "hired"]
    rendered: list[tuple[CandidateRow, Rendered]] = []
    labels: dict[int, str] = {}
    languages: dict[int, str] = {}
    fallbacks: dict[int, str] = {}
    missing: list[str] = []
    index: list[tuple[int, list[str]]] = []
    for row in rows:
        reason = NO_LETTER.get(row.outcome)
        if reason is None and fmt == "eml" and not row.email:
            reason = "no email address; send this letter by post (--format pdf)"
        if reason is not None:
            summary.skipped.append(f"Row {row.row} ({row.full_name}): {reason}.")
            index.append((row.row, ["", str(row.row), row.full_name, row.email or "", "", "",
                                    row.language or sender.language, f"no letter: {reason}"]))
            continue
        wanted = normalise(row.language) or sender.language
        label, boilerplate, language, title = _boilerplate(template, forced, row.stage, wanted,
                                                           sender)
        labels[row.row], languages[row.row] = label, language
        if primary(language) != primary(wanted):
            fallbacks[row.row] = (f"No {display_name(wanted)} version of “{title}”: this "
                                  f"letter is in {display_name(language)}.")
        own = primary(language) == sender.language
        row_differentiator = differentiator if own else translations.get(primary(language), "")
        for what, given, there in (("differentiator", differentiator, row_differentiator),
                                   ("sender title", sender.title, sender.title_for(language))):
            if given.strip() and not there.strip():
                flag = ("--differentiator-in" if what == "differentiator"
                        else "a sender title in that language")
                missing.append(f"Row {row.row} ({row.full_name}): this letter is in "
                               f"{display_name(language)} and there is no {what} in "
                               f"{display_name(language)}: add {flag}"
                               f"{f' {primary(language)} TEXT' if flag.startswith('--') else ''}.")
        ctx = context_for(row, position=position, differentiator=row_differentiator,
                          sender=sender, applicant_count=len(rows),
                          interviewed_count=interviewed, today=today, language=language,
                          sender_title=sender.title_for(language))
        rendered.append((row, render_letter(boilerplate, ctx)))
    if missing:
        more = f" (and {len(missing) - 10} more rows)" if len(missing) > 10 else ""
        raise RecruiterError("Nothing was written. " + " ".join(missing[:10]) + more)

    general, by_row = _check(rendered, hires, differentiator, languages, sender,
                             translations)
    for number, line in fallbacks.items():
        by_row.setdefault(number, []).insert(0, line)
    summary.warnings.extend(general)
    files = _outputs(rendered, fmt=fmt, sender=sender, page_size=page_size, today=today,
                     languages=languages)
    for (row, _), (name, _) in zip(rendered, files, strict=True):
        index.append((row.row, [name, str(row.row), row.full_name, row.email or "",
                                CHANNELS[fmt], labels[row.row], languages[row.row],
                                "; ".join(by_row.get(row.row, []))]))
    summary.warnings.extend(f"Row {row.row} ({row.full_name}): {line}"
                            for row, _ in rendered for line in by_row.get(row.row, []))
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in files:
        summary.written.append(_write_atomic(out / name, payload))
    summary.index = _write_atomic(out / INDEX_NAME, index_csv(index))
    return summary


def _boilerplate(template: str | None, forced: tuple[str, Source] | None, stage: str,
                 language: str, sender: Sender) -> tuple[str, Source, str, str]:
    """(what the index names it, source, its language, its title).

    The --template given (in the sender's language), else the shipped one for the stage in
    ``language`` when it is shipped in it, else in the sender's language.
    """
    if forced is not None and template is not None:
        name, source = forced
        return (name if name == template else template), source, sender.language, name
    shipped = shipped_for_stage(stage)
    for code in (language, sender.language):
        found = shipped.source_in(code)
        if found is not None:
            return shipped.name, found, primary(code), shipped.title_in(sender.language)
    return shipped.name, shipped.source, "en", shipped.title_in(sender.language)


def index_csv(entries: list[tuple[int, list[str]]]) -> bytes:
    """index.csv in row order, every cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(INDEX_COLUMNS)
    for _, cells in sorted(entries, key=lambda entry: entry[0]):
        writer.writerow([csv_safe(cell) for cell in cells])
    return buffer.getvalue().encode("utf-8")


def _check(rendered: list[tuple[CandidateRow, Rendered]], hires: list[CandidateRow],
           differentiator: str, languages: dict[int, str], sender: Sender,
           translations: Mapping[str, str]) -> tuple[list[str], dict[int, list[str]]]:
    """The differentiators' findings, and each row's findings by row number."""
    facts = checks.BatchFacts(
        differentiator=differentiator,
        hire_names=tuple(n for h in hires for n in (h.full_name,) if n),
        hire_email=hires[0].email if hires else None, language=sender.language)
    letters = [checks.LetterUnderCheck(key=row.row, text=r.text,
                                       note=typography(row.note, languages[row.row]),
                                       candidate_names=(row.first_name, row.last_name),
                                       language=primary(languages[row.row]))
               for row, r in rendered]
    found = checks.check_batch(letters, facts)
    general = [f"Differentiator: {f.message}" for f in checks.check_differentiator(
        differentiator, facts, language=sender.language)]
    for code, text in sorted(translations.items()):
        if code != sender.language and text.strip():
            general += [f"Differentiator in {display_name(code)}: {f.message}"
                        for f in checks.check_differentiator(text, facts, language=code)]
    lines: dict[int, list[str]] = {}
    for key, findings in found.items():
        for finding in findings:
            level = "" if finding.severity == "warning" else "ERROR: "
            lines.setdefault(int(key), []).append(f"{level}{finding.message}")
    return general, lines


def _outputs(rendered: list[tuple[CandidateRow, Rendered]], *, fmt: str, sender: Sender,
             page_size: str, today: date | None, languages: dict[int, str]
             ) -> list[tuple[str, bytes]]:
    if fmt == "txt":
        return [(f"{file_stem(row)}.txt", f"Subject: {r.subject}\n\n{r.text}".encode())
                for row, r in rendered]
    if fmt == "eml":
        # Mailed by the user: each its own Message-ID, and replies to the sender, as frozen
        # letters have (services/sending/freeze.py).
        domain = sender.email.rpartition("@")[2]
        emls = build_messages(
            Mail(Envelope(sender.name, sender.email, row.full_name, row.email or "",
                          new_message_id(domain), sender.email), r.subject, r.text, r.html,
                 _locale(languages[row.row], sender))
            for row, r in rendered)
        return [(f"{file_stem(row)}.eml", eml)
                for (row, _), eml in zip(rendered, emls, strict=True)]
    letters = [PdfLetter(key=str(row.row), organization_name=sender.organization,
                         organization_address=sender.address,
                         date=letter_date(_locale(languages[row.row], sender), today),
                         recipient=postal_lines(row), subject=r.subject, body_html=r.html,
                         sender_name="", language=languages[row.row])
               for row, r in rendered]
    pdfs = render_pdfs_parallel(letters, page_size=page_size)
    return [(f"{file_stem(row)}.pdf", pdf) for (row, _), pdf in zip(rendered, pdfs, strict=True)]


def _write_atomic(path: Path, payload: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)
    return path
