"""One candidate file, record by record: which column is which field, and each row's checks.

``_layout`` reads the header row against an ``ImportMapping``; ``_RowChecker`` turns every
later record into a ``CandidateRow`` or the ``RowProblem``s that keep it out. The file itself
(size, encoding, delimiter) is read by ``importing.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from email_validator import EmailNotValidError

from ..errors import CandidateImportError
from ..models.hiring import full_name
from . import ats
from .ats import ImportMapping
from .emails import normalize_email
from .languages import normalise
from .names import greeting_name, split_full_name
from .text import single_line_problem

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}

# The most characters each field may hold (the column sizes of the Candidate model).
_LIMITS = {"first_name": 200, "last_name": 200, "email": 320, "address_line1": 300,
           "address_line2": 300, "city": 200, "region": 200, "postal_code": 40, "country": 200,
           "note": 5000, "internal_note": 20000, "language": 16, "salutation": 200}
_ROW_FIELDS = ("first_name", "last_name", "address_line1", "address_line2", "city", "region",
               "postal_code", "country", "stage", "outcome", "note", "internal_note",
               "language", "salutation")
_MULTILINE = ("note", "internal_note")
_LABELS = {"first_name": "first name", "last_name": "last name", "address_line1": "address line 1",
           "address_line2": "address line 2", "postal_code": "postal code",
           "internal_note": "internal note", "salutation": "greeting name"}
# Everything str.splitlines() breaks on: any of these would split a header or an address line.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

_key = ats.key


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
    stage: str = ats.DEFAULT_STAGE
    outcome: str = ats.DEFAULT_OUTCOME
    note: str = ""
    internal_note: str = ""
    language: str = ""  # "" is the organization's language (set when the row is imported)
    salutation: str = ""

    @property
    def full_name(self) -> str:
        """First and last name, either of which may be empty."""
        return full_name(self.first_name, self.last_name)

    @property
    def greeting(self) -> str:
        """What follows "Dear" in the letter."""
        return greeting_name(self.salutation, self.first_name, self.last_name)


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
class _Layout:
    columns: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    positions: list[tuple[int, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    width: int = 0


def _layout(header: list[str], mapping: ImportMapping) -> _Layout:
    layout = _Layout(width=len(header))
    titles = [h.strip() for h in header]
    by_key = {_key(column): target for column, target in mapping.columns.items()}
    missing = [c for c in mapping.columns if c not in titles and _key(c) not in map(_key, titles)]
    if missing:
        seen = ", ".join(f"\"{t}\"" for t in titles if t)
        raise CandidateImportError(f"The file has no column \"{missing[0]}\" to map; its "
                                   f"columns are {seen}.")
    found = []
    for i, title in enumerate(titles):
        chosen = mapping.columns.get(title) or by_key.get(_key(title)) if title else None
        target = ats.propose_field(title) if chosen is None else chosen
        found.append((i, title, None if target == ats.IGNORED else target))
    has_parts = any(f in ("first_name", "last_name") for _, _, f in found)
    taken: dict[str, str] = {}
    for index, title, target in found:
        if target is None or (target == "name" and has_parts):
            if title:
                layout.ignored.append(title)
            layout.headers.append((title, ats.IGNORED))
            continue
        # Several internal-note columns (notes, feedback...) are all kept, one after another.
        if target in taken and target != "internal_note":
            raise CandidateImportError(f"The columns \"{taken[target]}\" and \"{title}\" both "
                                       f"look like the {_label(target)}; remove or rename one, "
                                       "or map one of them to another field.")
        taken[target] = title
        layout.columns[title] = target
        layout.positions.append((index, target))
        layout.headers.append((title, target))
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


class _RowChecker:
    """Validates rows one by one, remembering emails to catch duplicates."""

    def __init__(self, delimiter: str, existing_emails: Iterable[str],
                 mapping: ImportMapping) -> None:
        self.delimiter = DELIMITERS[delimiter]
        self.existing = {e.strip().lower() for e in existing_emails}
        self.first_seen: dict[str, int] = {}
        self.mapping = mapping
        self.unknown: dict[str, dict[str, str]] = {}
        self.mapped: dict[str, dict[str, tuple[str, str]]] = {}
        self.name_checks: dict[int, str] = {}

    def _values(self, row: int, cells: list[str], layout: _Layout) -> dict[str, str]:
        values: dict[str, str] = {}
        for i, name in layout.positions:
            cell = cells[i].strip() if i < len(cells) else ""
            if name == "internal_note" and name in values:
                values[name] = "\n\n".join(p for p in (values[name], cell) if p)
            else:
                values[name] = cell
        if row in self.mapping.greetings:
            values["salutation"] = " ".join(self.mapping.greetings[row].split())
        return values

    def check(self, row: int, cells: list[str], layout: _Layout
              ) -> tuple[CandidateRow | None, list[RowProblem]]:
        problems: list[RowProblem] = []

        def problem(name: str, message: str) -> None:
            problems.append(RowProblem(row, name, f"Row {row}: {message}"))

        if len(cells) > layout.width and any(c.strip() for c in cells[layout.width:]):
            problem("row", f"there are {len(cells)} cells but only {layout.width} columns; "
                    f"a value containing a {self.delimiter} needs quotes around it.")
        values = self._values(row, cells, layout)
        bad: set[str] = set()
        for name, value in values.items():
            if "\0" in value:
                problem(name, f"the {_label(name)} contains a NUL character, which is not allowed.")
            elif name not in _MULTILINE and (why := single_line_problem(value)):
                problem(name, f"the {_label(name)} {why}.")
            else:
                continue
            bad.add(name)
        if "name" in values:
            split = split_full_name(values.pop("name"))
            values["first_name"], values["last_name"] = split.first_name, split.last_name
            self.name_checks[row] = split.check
        for name in _MULTILINE:
            values[name] = values.get(name, "").replace("\r\n", "\n").replace("\r", "\n")
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
        for name, (_, allowed, default) in ats.CHOICES.items():
            raw = values.get(name, "")
            values[name] = (self.mapping.value(name, raw) or "") if raw else default
            chosen = self.mapping.values.get(name, {}).get(_key(raw)) if raw else None
            if chosen:
                self.mapped.setdefault(name, {}).setdefault(_key(raw), (raw, chosen))
            if not values[name] and name not in bad:
                self.unknown.setdefault(name, {}).setdefault(_key(raw), raw)
                problem(name, f"the {name} {_show(raw)} is not recognised; use "
                        f"{', '.join(allowed)}, or leave it blank for {default}; or map it to "
                        "one of them (in the import preview, or with --map-value).")
        values["language"] = normalise(values.get("language"))  # "FR" is fr, keeps fr-CA
        if "language" not in bad and values["language"] \
                and not _LANGUAGE.fullmatch(values["language"]):
            problem("language", f"the language {_show(values['language'])} is not a language "
                    "code such as en, fr or en_CA.")
        if values.get("salutation") == (values.get("first_name") or None):
            values["salutation"] = ""  # the same as the default greeting: nothing to keep
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
