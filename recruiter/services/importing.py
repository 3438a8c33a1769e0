"""Candidate CSV import: decode, find the columns, check every row, and change nothing.

Row numbers are the row numbers a spreadsheet shows. Each CSV record is one row, counted from 1
at the top of the file, so with the header on the first line the first candidate is row 2. A
quoted cell that spans several lines is still one row (numbered by the record, not by physical
line), and blank rows count toward the numbering, as in a spreadsheet, but are otherwise ignored.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from ..errors import CandidateImportError
from ..models.hiring import OUTCOMES, STAGES, full_name

__all__ = ["MAX_BYTES", "MAX_ROWS", "OUTCOMES", "STAGES", "CandidateRow", "ParsedImport",
           "RowProblem", "accepted_rows", "parse_candidates"]

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def _names(spec: dict[str, str]) -> dict[str, str]:
    return {key: target for target, keys in spec.items() for key in keys.split()}


# Keys are header or cell text casefolded with everything but letters and digits removed.
_HEADERS = _names({
    "first_name": "first firstname givenname givennames forename forenames",
    "last_name": "last lastname surname familyname",
    "name": "name fullname candidate candidatename applicant applicantname",
    "email": "email emailaddress mail mailaddress",
    "address_line1": "address address1 addressline1 street streetaddress",
    "address_line2": "address2 addressline2 street2",
    "city": "city town",
    "region": "region state province county stateprovince",
    "postal_code": "zip zipcode postcode postalcode",
    "country": "country",
    "stage": "stage",
    "outcome": "outcome",
    "note": "note notes reviewernote reviewernotes comment comments",
    "language": "language locale lang",
})
_STAGE_VALUES = _names({"applied": "applied new received",
                        "screened": "screened shortlisted phonescreen screening",
                        "interviewed": "interviewed interview onsite finalround"})
_OUTCOME_VALUES = _names({"pending": "pending", "hired": "hired hire offeraccepted",
                          "declined": "declined rejected notselected unsuccessful",
                          "withdrawn": "withdrawn withdrew"})
# The most characters each field may hold (the column sizes of the Candidate model).
_LIMITS = {"first_name": 200, "last_name": 200, "email": 320, "address_line1": 300,
           "address_line2": 300, "city": 200, "region": 200, "postal_code": 40, "country": 200,
           "note": 5000, "language": 16}
_CHOICES = {"stage": (_STAGE_VALUES, STAGES, "applied"),
            "outcome": (_OUTCOME_VALUES, OUTCOMES, "pending")}
_ROW_FIELDS = ("first_name", "last_name", "address_line1", "address_line2", "city", "region",
               "postal_code", "country", "stage", "outcome", "note", "language")
_LABELS = {"first_name": "first name", "last_name": "last name", "address_line1": "address line 1",
           "address_line2": "address line 2", "postal_code": "postal code"}
# Everything str.splitlines() breaks on: any of these would split a header or an address line.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class CandidateRow:
    """One valid candidate; ``row`` is the spreadsheet row number (the header is row 1)."""

    row: int
    first_name: str
    last_name: str
    email: str | None
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    stage: str = "applied"
    outcome: str = "pending"
    note: str = ""
    language: str = "en"

    @property
    def full_name(self) -> str:
        """First and last name, either of which may be empty."""
        return full_name(self.first_name, self.last_name)


@dataclass(frozen=True)
class RowProblem:
    """Why one row cannot be imported; ``message`` is a full sentence naming the row.

    ``field`` is the recognised field (``email``, ``first_name``...), ``name`` for the name as a
    whole, or ``row`` when the row itself is malformed.
    """

    row: int
    field: str
    message: str


@dataclass
class ParsedImport:
    """The outcome of reading a candidate file: valid rows, every problem, and the layout."""

    rows: list[CandidateRow]
    problems: list[RowProblem]
    columns: dict[str, str]
    ignored_columns: list[str]
    encoding: str
    delimiter: str
    total_rows: int
    skipped_rows: int

    @property
    def ok(self) -> bool:
        """Whether every row is valid."""
        return not self.problems


@dataclass
class _Layout:
    columns: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    positions: list[tuple[int, str]] = field(default_factory=list)
    width: int = 0


def parse_candidates(data: bytes, existing_emails: Iterable[str] = ()) -> ParsedImport:
    """Read a candidate CSV; row problems are collected, file problems raise."""
    if len(data) > MAX_BYTES:
        raise CandidateImportError(f"The file is larger than {MAX_BYTES // 2**20} MB; "
                                   "split it into smaller files.")
    text, encoding = _decode(data)
    if not text.strip(" \t\r\n,;"):
        raise CandidateImportError("The file is empty.")
    delimiter = max(DELIMITERS, key=lambda d: _header_score(text, d))
    checker = _RowChecker(delimiter, existing_emails)
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
                layout = _layout(cells)
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
                        ignored_columns=layout.ignored, encoding=encoding, delimiter=delimiter,
                        total_rows=total, skipped_rows=skipped)


def accepted_rows(parsed: ParsedImport, skip_invalid: bool = False) -> list[CandidateRow]:
    """The rows to import: all of them, or refuse the whole file unless told to skip bad rows."""
    if parsed.problems and not skip_invalid:
        bad = parsed.skipped_rows
        verb = "is" if bad == 1 else "are"
        raise CandidateImportError(
            f"{bad} of {parsed.total_rows} rows {verb} invalid, so the file was refused; fix "
            "them, or import only the valid rows.", parsed.problems)
    return parsed.rows


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CandidateImportError("The file is UTF-16 text; save it as \"CSV UTF-8\" instead.")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CandidateImportError("This is a spreadsheet workbook, not a CSV file; save it as "
                                   "\"CSV UTF-8\" first.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if data.startswith(codecs.BOM_UTF8):
            # The BOM promises UTF-8, so guessing another encoding would garble names.
            raise CandidateImportError(f"The file is marked as UTF-8 but line {line} is not; "
                                       "save it again as \"CSV UTF-8\".") from exc
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError as again:
            line = data.count(b"\n", 0, again.start) + 1
            raise CandidateImportError(f"Line {line} of the file is neither UTF-8 nor "
                                       "Windows-1252 text; save it as \"CSV UTF-8\".") from again
    if text.startswith("\ufeff"):
        return text[1:], "utf-8-sig"
    return text, "utf-8"


def _reader(text: str, delimiter: str) -> Iterable[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True,
                      skipinitialspace=True)


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _header_score(text: str, delimiter: str) -> tuple[int, int]:
    """(recognised columns, columns) of the first non-blank record split on ``delimiter``."""
    try:
        for cells in _reader(text, delimiter):
            if any(c.strip() for c in cells):
                return len({_HEADERS.get(_key(c)) for c in cells} - {None}), len(cells)
    except csv.Error:
        pass
    return -1, 0


def _layout(header: list[str]) -> _Layout:
    layout = _Layout(width=len(header))
    found = [(i, h.strip(), _HEADERS.get(_key(h))) for i, h in enumerate(header)]
    has_parts = any(f in ("first_name", "last_name") for _, _, f in found)
    taken: dict[str, str] = {}
    for index, title, target in found:
        if target is None or (target == "name" and has_parts):
            if title:
                layout.ignored.append(title)
            continue
        if target in taken:
            raise CandidateImportError(f"The columns \"{taken[target]}\" and \"{title}\" both "
                                       f"look like the {_label(target)}; remove or rename one.")
        taken[target] = title
        layout.columns[title] = target
        layout.positions.append((index, target))
    if not any(target in taken for target in ("first_name", "last_name", "name")):
        seen = ", ".join(f"\"{h.strip()}\"" for h in header if h.strip())
        raise CandidateImportError(
            "No name column was found; name the columns first_name and last_name, or name. "
            f"The columns found were {seen}.")
    return layout


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " "))


def _show(value: str) -> str:
    return f"\"{value}\"" if len(value) <= 60 else f"\"{value[:57]}…\""


def _split_name(full: str) -> tuple[str, str]:
    """(first, last) from "First Middle Last" or "Last, First"; one word is a first name."""
    if "," in full:
        last, _, first = full.partition(",")
        return " ".join(first.split()), " ".join(last.split())
    words = full.split()
    if len(words) < 2:
        return full, ""
    return " ".join(words[:-1]), words[-1]


class _RowChecker:
    """Validates rows one by one, remembering emails to catch duplicates."""

    def __init__(self, delimiter: str, existing_emails: Iterable[str]) -> None:
        self.delimiter = DELIMITERS[delimiter]
        self.existing = {e.strip().lower() for e in existing_emails}
        self.first_seen: dict[str, int] = {}

    def check(self, row: int, cells: list[str], layout: _Layout
              ) -> tuple[CandidateRow | None, list[RowProblem]]:
        problems: list[RowProblem] = []

        def problem(name: str, message: str) -> None:
            problems.append(RowProblem(row, name, f"Row {row}: {message}"))

        if len(cells) > layout.width and any(c.strip() for c in cells[layout.width:]):
            problem("row", f"there are {len(cells)} cells but only {layout.width} columns; "
                    f"a value containing a {self.delimiter} needs quotes around it.")
        values = {name: cells[i].strip() if i < len(cells) else "" for i, name in layout.positions}
        bad: set[str] = set()
        for name, value in values.items():
            if "\0" in value:
                problem(name, f"the {_label(name)} contains a NUL character, which is not allowed.")
            elif name != "note" and _LINE_BREAK.search(value):
                problem(name, f"the {_label(name)} contains a line break; it must fit on one line.")
            else:
                continue
            bad.add(name)
        if "name" in values:
            values["first_name"], values["last_name"] = _split_name(values.pop("name"))
        values["note"] = values.get("note", "").replace("\r\n", "\n").replace("\r", "\n")
        for name, limit in _LIMITS.items():
            size = len(values.get(name, ""))
            if size > limit:
                bad.add(name)
                problem(name, f"the {_label(name)} is {size:,} characters long; the limit is "
                        f"{limit:,}.")
        if not bad & {"name", "first_name", "last_name"} and not (
                values.get("first_name") or values.get("last_name")):
            problem("name", "there is no name; a candidate needs a first or a last name.")
        email = values.get("email", "")
        if email and "email" not in bad:
            email, message = self._email(email, row)
            if message:
                problem("email", message)
        for name, (synonyms, allowed, default) in _CHOICES.items():
            raw = values.get(name, "")
            values[name] = synonyms.get(_key(raw), "") if raw else default
            if not values[name] and name not in bad:
                problem(name, f"the {name} {_show(raw)} is not recognised; use "
                        f"{', '.join(allowed)}, or leave it blank for {default}.")
        values["language"] = values.get("language") or "en"
        if "language" not in bad and not _LANGUAGE.fullmatch(values["language"]):
            problem("language", f"the language {_show(values['language'])} is not a language "
                    "code such as en, fr or en_CA.")
        if problems:
            return None, problems
        return CandidateRow(row=row, email=email or None,
                            **{name: values.get(name, "") for name in _ROW_FIELDS}), problems

    def _email(self, email: str, row: int) -> tuple[str, str | None]:
        """The normalised address, and what is wrong with it if anything."""
        try:
            normalized = normalize_email(email)
        except EmailNotValidError as exc:
            return email, (f"email {_show(email)} is not a valid address "
                           f"({str(exc).rstrip('.')}).")
        key = normalized.lower()
        first = self.first_seen.setdefault(key, row)
        if first != row:
            return normalized, (f"email {_show(normalized)} is already used by row {first}; "
                                "each candidate may appear only once.")
        if key in self.existing:
            return normalized, (f"email {_show(normalized)} already belongs to a candidate for "
                                "this position.")
        return normalized, None


# --- email addresses -------------------------------------------------------------------------
# validate_email spends most of its time on the domain (IDNA), and a file has few domains. An
# address whose part before the @ is plain ASCII gets its domain checked once per file; every
# other address, and every address with a problem, goes through validate_email whole, so the
# result and the message are always validate_email's own.
try:
    from email_validator.rfc_constants import (
        CASE_INSENSITIVE_MAILBOX_NAMES,
        DOT_ATOM_TEXT,
        EMAIL_MAX_LENGTH,
        LOCAL_PART_MAX_LENGTH,
    )
except ImportError:  # a future email_validator: every address takes the whole check
    DOT_ATOM_TEXT = None


@lru_cache(maxsize=1024)
def _domain(domain: str) -> tuple[str, str] | None:
    """(domain, ASCII domain) as validate_email normalises them, or None when invalid."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def normalize_email(address: str) -> str:
    """``validate_email(address, check_deliverability=False).normalized``, checked faster."""
    local, at, domain = address.rpartition("@")
    if (DOT_ATOM_TEXT is not None and at and DOT_ATOM_TEXT.match(local)
            and len(local) <= LOCAL_PART_MAX_LENGTH
            and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES):
        domains = _domain(domain)
        if domains is not None:
            normalized = f"{local}@{domains[0]}"
            if max(len(text.encode()) for text in (address, normalized,
                                                   f"{local}@{domains[1]}")) <= EMAIL_MAX_LENGTH:
                return normalized
    return validate_email(address, check_deliverability=False).normalized
