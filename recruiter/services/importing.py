"""Candidate CSV import: decode, map the columns, check every row, and change nothing.

Row numbers are the row numbers a spreadsheet shows. Each CSV record is one row, counted from 1
at the top of the file, so with the header on the first line the first candidate is row 2. A
quoted cell that spans several lines is still one row (numbered by the record, not by physical
line), and blank rows count toward the numbering, as in a spreadsheet, but are otherwise ignored.

Which column becomes which field, and what stage and status words mean, is services/ats.py;
an ``ImportMapping`` carries the choices the person importing made over those proposals.
This module reads the file as a whole; services/import_rows.py checks its header and rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import CandidateImportError
from ..models.hiring import OUTCOMES, STAGES
from . import ats
from .ats import ImportMapping
from .emails import normalize_email
from .encodings import Decoded, decode_csv
from .import_rows import (
    DELIMITERS,
    CandidateRow,
    RowProblem,
    _Layout,
    _layout,
    _RowChecker,
)

__all__ = ["MAX_BYTES", "MAX_ROWS", "OUTCOMES", "STAGES", "CandidateRow", "ImportMapping",
           "ParsedImport", "RowProblem", "accepted_rows", "check_hires", "parse_candidates",
           "normalize_email", "read_headers"]

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000

_HEADERS = ats.HEADERS
_STAGE_VALUES = ats.STAGE_VALUES
_OUTCOME_VALUES = ats.OUTCOME_VALUES


@dataclass
class ParsedImport:
    """The outcome of reading a candidate file: valid rows, every problem, and the layout.

    ``columns`` maps each used header to its field; ``headers`` lists every header with the
    field it became (``ignored`` when none); ``unknown_values`` holds, per field, the distinct
    values nobody has mapped yet, and ``mapped_values`` those the mapping chose for, as (value,
    canonical); ``name_checks`` holds every row whose name was split from a full name, with why
    the split deserves a look ("" when it is a plain two-word name).
    """

    rows: list[CandidateRow]
    problems: list[RowProblem]
    columns: dict[str, str]
    ignored_columns: list[str]
    encoding: str
    delimiter: str
    total_rows: int
    skipped_rows: int
    encoding_warning: str = ""  # the file was not UTF-8: which encoding was guessed, and how sure
    headers: list[tuple[str, str]] = field(default_factory=list)
    unknown_values: dict[str, list[str]] = field(default_factory=dict)
    mapped_values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    name_checks: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every row is valid."""
        return not self.problems



def parse_candidates(data: bytes, existing_emails: Iterable[str] = (),
                     mapping: ImportMapping | None = None) -> ParsedImport:
    """Read a candidate CSV; row problems are collected, file problems raise."""
    mapping = mapping or ImportMapping()
    text, decoded, delimiter = _open(data)
    checker = _RowChecker(delimiter, existing_emails, mapping)
    layout: _Layout | None = None
    rows: list[CandidateRow] = []
    problems: list[RowProblem] = []
    total = skipped = row = 0
    try:
        for cells in _reader(text, delimiter):
            row += 1
            if not any(c.strip() for c in cells):
                continue
            if layout is None:
                layout = _layout(cells, mapping)
                continue
            total += 1
            if total > MAX_ROWS:
                raise CandidateImportError(f"The file has more than {MAX_ROWS:,} candidates; "
                                           "split it into smaller files.")
            candidate, found = checker.check(row, cells, layout)
            if found:
                skipped += 1
                problems.extend(found)
            elif candidate is not None:
                rows.append(candidate)
    except csv.Error as exc:
        raise CandidateImportError(
            f"Row {row + 1} could not be read as CSV ({exc}); check its quotes: a quoted value "
            "must be quoted as a whole, and every opening quote needs a closing one.") from exc
    if layout is None:
        raise CandidateImportError("The file is empty.")
    if not total:
        raise CandidateImportError("The file has a header row but no candidates.")
    return ParsedImport(rows=rows, problems=problems, columns=layout.columns,
                        ignored_columns=layout.ignored, encoding=decoded.encoding,
                        encoding_warning=decoded.warning, delimiter=delimiter,
                        total_rows=total, skipped_rows=skipped, headers=layout.headers,
                        unknown_values={k: list(v.values()) for k, v in checker.unknown.items()},
                        mapped_values={k: list(v.values()) for k, v in checker.mapped.items()},
                        name_checks=checker.name_checks)


def read_headers(data: bytes) -> list[str]:
    """The header row of a candidate file as written (for a mapping form), or []."""
    try:
        text, _, delimiter = _open(data)
        for cells in _reader(text, delimiter):
            if any(c.strip() for c in cells):
                return [c.strip() for c in cells]
    except (CandidateImportError, csv.Error):
        pass
    return []


def accepted_rows(parsed: ParsedImport, skip_invalid: bool = False) -> list[CandidateRow]:
    """The rows to import: all of them, or refuse the whole file unless told to skip bad rows."""
    if parsed.problems and not skip_invalid:
        bad = parsed.skipped_rows
        verb = "is" if bad == 1 else "are"
        raise CandidateImportError(
            f"{bad} of {parsed.total_rows} rows {verb} invalid, so the file was refused; fix "
            "them, or import only the valid rows.", parsed.problems)
    return parsed.rows


def check_hires(rows: Iterable[CandidateRow], openings: int, already_hired: int = 0) -> None:
    """Refuse a file that marks more hires than the position has openings, naming the rows."""
    hires = [r.row for r in rows if r.outcome == "hired"]
    if hires and len(hires) + already_hired > openings:
        listed = ", ".join(map(str, hires))
        have = f" and {already_hired} already hired" if already_hired else ""
        plural = "opening" if openings == 1 else "openings"
        raise CandidateImportError(
            f"The file marks {len(hires)} {'hire' if len(hires) == 1 else 'hires'} (row"
            f"{'s' if len(hires) > 1 else ''} {listed}){have}, but the position has {openings} "
            f"{plural}; raise the number of openings first, or correct the file.")


def _open(data: bytes) -> tuple[str, Decoded, str]:
    """(text, how it was decoded, delimiter) of a candidate file, or a refusal."""
    if len(data) > MAX_BYTES:
        raise CandidateImportError(f"The file is larger than {MAX_BYTES // 2**20} MB; "
                                   "split it into smaller files.")
    decoded = decode_csv(data)
    text = decoded.text
    if not text.strip(" \t\r\n,;"):
        raise CandidateImportError("The file is empty.")
    return text, decoded, max(DELIMITERS, key=lambda d: _header_score(text, d))


def _reader(text: str, delimiter: str) -> Iterable[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True,
                      skipinitialspace=True)


_key = ats.key


def _header_score(text: str, delimiter: str) -> tuple[int, int]:
    """(recognised columns, columns) of the first non-blank record split on ``delimiter``."""
    try:
        for cells in _reader(text, delimiter):
            if any(c.strip() for c in cells):
                return len({_HEADERS.get(_key(c)) for c in cells} - {None}), len(cells)
    except csv.Error:
        pass
    return -1, 0
