"""Candidate CSV import: layouts, encodings, every row check, and refusing files whole."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest

from recruiter.errors import CandidateImportError
from recruiter.services import importing
from recruiter.services.importing import (
    OUTCOMES,
    STAGES,
    CandidateRow,
    ParsedImport,
    accepted_rows,
    parse_candidates,
)

# The same bytes as /work/shared/examples/vancouver/candidates.csv, shipped with the demo.
VANCOUVER = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"


def make_csv(*lines: str, newline: str = "\n", encoding: str = "utf-8") -> bytes:
    return (newline.join(lines) + newline).encode(encoding)


def parse(*lines: str, **kwargs) -> ParsedImport:  # noqa: ANN003
    return parse_candidates(make_csv(*lines), **kwargs)


def table(*rows: dict[str, str]) -> ParsedImport:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n",
                            quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    return parse_candidates(out.getvalue().encode())


def messages(parsed: ParsedImport) -> list[str]:
    return [p.message for p in parsed.problems]


def refusal(data: bytes) -> str:
    with pytest.raises(CandidateImportError) as info:
        parse_candidates(data)
    return str(info.value)


# The real file


def test_vancouver_file_imports_whole() -> None:
    """The demo file gives 30 valid rows numbered 2 to 31 with every column recognised."""
    parsed = parse_candidates(VANCOUVER.read_bytes())
    assert parsed.ok
    assert (parsed.total_rows, parsed.skipped_rows, len(parsed.rows)) == (30, 0, 30)
    assert (parsed.encoding, parsed.delimiter) == ("utf-8", ",")
    assert parsed.ignored_columns == []
    assert set(parsed.columns.values()) == {
        "first_name", "last_name", "email", "address_line1", "address_line2", "city", "region",
        "postal_code", "country", "stage", "outcome", "note"}
    assert [r.row for r in parsed.rows] == list(range(2, 32))
    assert accepted_rows(parsed) == parsed.rows


def test_vancouver_facts() -> None:
    """One hire, two shortlisted mapped to screened, two empty notes, one row without email."""
    rows = parse_candidates(VANCOUVER.read_bytes()).rows
    assert [r.full_name for r in rows if r.outcome == "hired"] == ["Maya Chen"]
    assert [r.full_name for r in rows if r.stage == "screened"] == ["Arjun Mehta",
                                                                    "Sofía Ramírez"]
    assert [r.full_name for r in rows if not r.note] == ["Fatima Haddad", "Ananya Iyer"]
    assert [(r.row, r.full_name) for r in rows if r.email is None] == [(22, "Ahmed Hassan")]
    assert rows[2].first_name == "Zoë" and rows[7].full_name == "Nguyễn Thị Lan"
    assert {r.language for r in rows} == {""}  # the organization's language, at import


def test_vancouver_matches_the_raw_file() -> None:
    """Every parsed value is the raw cell, except the stage synonyms and blank emails."""
    with VANCOUVER.open(newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    assert [r["stage"] for r in raw].count("shortlisted") == 2
    for row, cells in zip(parse_candidates(VANCOUVER.read_bytes()).rows, raw, strict=True):
        assert (row.first_name, row.last_name, row.note) == (cells["first_name"],
                                                             cells["last_name"], cells["note"])
        assert row.email == (cells["email"] or None)
        assert row.stage == {"shortlisted": "screened"}.get(cells["stage"], cells["stage"])


# Columns


@pytest.mark.parametrize(("header", "field"), [
    ("first_name", "first_name"), ("First Name", "first_name"), ("FIRSTNAME", "first_name"),
    ("given name", "first_name"), ("Forename", "first_name"), (" first-name ", "first_name"),
    ("last_name", "last_name"), ("Surname", "last_name"), ("Family Name", "last_name"),
    ("email", "email"), ("E-mail", "email"), ("Email Address", "email"), ("MAIL", "email"),
    ("Address", "address_line1"), ("Address 1", "address_line1"),
    ("Address Line 1", "address_line1"), ("street", "address_line1"),
    ("address2", "address_line2"), ("Address Line 2", "address_line2"),
    ("City", "city"), ("Town", "city"), ("State", "region"), ("Province", "region"),
    ("County", "region"), ("State/Province", "region"), ("ZIP", "postal_code"),
    ("Zip Code", "postal_code"), ("postcode", "postal_code"), ("Postal_Code", "postal_code"),
    ("Country", "country"), ("Stage", "stage"), ("Outcome", "outcome"), ("Note", "note"),
    ("Notes", "internal_note"), ("Reviewer Notes", "internal_note"),
    ("comments", "internal_note"), ("Note to candidate", "note"),
    ("Language", "language"), ("locale", "language"),
])
def test_header_synonyms(header: str, field: str) -> None:
    """Common column names are recognised regardless of case, spacing and punctuation."""
    value = {"email": "a@example.com", "stage": "new", "outcome": "hired",
             "language": "fr"}.get(field, "Value")
    name = "" if field in ("first_name", "last_name") else "Surname,"
    parsed = parse(f"{name}{header}", f"{'Doe,' if name else ''}{value}")
    assert parsed.columns[header.strip()] == field
    row = parsed.rows[0]
    expected = {"stage": "applied"}.get(field, value)
    assert getattr(row, field) == expected


def test_unknown_columns_are_listed_and_ignored() -> None:
    """Unrecognised columns are reported in ignored_columns and do not affect the rows."""
    parsed = parse("First Name,Last Name,Phone,Salary expectation,",
                   "Maya,Chen,555-0100,lots,")
    assert parsed.ignored_columns == ["Phone", "Salary expectation"]
    assert parsed.columns == {"First Name": "first_name", "Last Name": "last_name"}
    assert parsed.rows[0].full_name == "Maya Chen"


def test_full_name_column_is_ignored_when_name_parts_exist() -> None:
    """With first and last name columns, a full-name column is not used."""
    parsed = parse("Name,First name,Last name", "Someone Else,Maya,Chen")
    assert parsed.ignored_columns == ["Name"]
    assert (parsed.rows[0].first_name, parsed.rows[0].last_name) == ("Maya", "Chen")


def test_two_columns_for_one_field_are_refused() -> None:
    """Two columns that both mean email make the file ambiguous, so it is refused."""
    message = refusal(make_csv("Name,Email,E-mail", "Maya Chen,a@example.com,b@example.com"))
    assert '"Email"' in message and '"E-mail"' in message


@pytest.mark.parametrize(("cell", "first", "last"), [
    ("Maya Chen", "Maya", "Chen"),
    ("Mary Ann Smith", "Mary Ann", "Smith"),
    ("  Zoë   Lefebvre ", "Zoë", "Lefebvre"),
    ('"Okafor, Daniel"', "Daniel", "Okafor"),
    ('"van der Berg,  Anna Maria"', "Anna Maria", "van der Berg"),
    ("Cher", "Cher", ""),
])
def test_full_name_split(cell: str, first: str, last: str) -> None:
    """One name column is split at the last space, or at the comma of "Last, First"."""
    row = parse("Candidate Name,Email", f"{cell},x@example.com").rows[0]
    assert (row.first_name, row.last_name) == (first, last)
    assert row.full_name == " ".join(p for p in (first, last) if p)


@pytest.mark.parametrize("header", ["name", "Full Name", "candidate", "Applicant"])
def test_full_name_headers(header: str) -> None:
    """Each full-name header is recognised."""
    assert parse(header, "Maya Chen").columns == {header: "name"}


def test_full_name_property() -> None:
    """full_name joins whichever parts exist, and rows are immutable."""
    row = CandidateRow(row=2, first_name="", last_name="Chen", email=None)
    assert row.full_name == "Chen"
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.first_name = "Maya"  # type: ignore[misc]


# Encodings and delimiters


def test_utf8_bom() -> None:
    """A UTF-8 byte-order mark is accepted and does not end up in the first header."""
    parsed = parse_candidates(b"\xef\xbb\xbf" + make_csv("first_name,last_name", "Zoë,Lefebvre"))
    assert parsed.encoding == "utf-8-sig"
    assert "first_name" in parsed.columns
    assert parsed.rows[0].first_name == "Zoë"


def test_cp1252_fallback() -> None:
    """Bytes that are not UTF-8 are read as Windows-1252, as older Excel writes them."""
    data = make_csv("first_name,last_name,note", "Zoë,Lefebvre,It’s a “great” fit – really",
                    encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = parse_candidates(data)
    assert parsed.encoding == "cp1252"
    assert parsed.rows[0].first_name == "Zoë"
    assert parsed.rows[0].note == "It’s a “great” fit – really"


def test_cp1252_fallback_says_what_it_guessed() -> None:
    """A Windows-1252 file is read with a note that it was not UTF-8, naming the guess."""
    data = make_csv("first_name,last_name", "José,Núñez", encoding="cp1252")
    parsed = parse_candidates(data)
    assert (parsed.rows[0].first_name, parsed.rows[0].last_name) == ("José", "Núñez")
    assert "read as Windows-1252" in parsed.encoding_warning


def test_shift_jis_is_detected_not_garbled() -> None:
    """A Shift JIS file is read as Japanese with a warning to check it, never as cp1252."""
    data = make_csv("first_name,last_name,email,note",
                    "太郎,山田,taro@example.jp,物流の経験が豊富です。",
                    "花子,佐藤,hanako@example.jp,丁寧な応募書類でした。", encoding="shift_jis")
    parsed = parse_candidates(data)
    assert [(r.first_name, r.last_name) for r in parsed.rows] == [("太郎", "山田"),
                                                                  ("花子", "佐藤")]
    assert "Shift JIS" in parsed.encoding_warning and "not sure" in parsed.encoding_warning


def test_a_utf8_file_has_no_encoding_warning() -> None:
    """UTF-8 needs no guess and shows no warning."""
    assert parse_candidates(make_csv("first_name", "Zoë")).encoding_warning == ""


def test_bom_with_invalid_utf8_is_refused() -> None:
    """A file marked as UTF-8 that is not UTF-8 throughout is refused, not guessed."""
    assert "line 2" in refusal(b"\xef\xbb\xbfname\nZo\xeb\n")


@pytest.mark.parametrize(("data", "words"), [
    (b"\xff\xfen\x00a\x00m\x00e\x00", "UTF-16"),
    (b"PK\x03\x04\x14\x00\x06\x00", "workbook"),
])
def test_other_formats_are_refused(data: bytes, words: str) -> None:
    """UTF-16 text and spreadsheet workbooks get a message saying how to save a CSV."""
    assert words in refusal(data)


def test_semicolon_delimiter() -> None:
    """Semicolon files (European Excel) are detected, and commas stay inside values."""
    parsed = parse("Vorname;Last Name;Address;City", "Søren;Nielsen;2150 Alberta St, Unit 4;Köln")
    assert parsed.delimiter == ";"
    row = parsed.rows[0]
    assert (row.last_name, row.address_line1, row.city) == ("Nielsen", "2150 Alberta St, Unit 4",
                                                            "Köln")
    assert parsed.ignored_columns == ["Vorname"]


def test_tab_delimiter() -> None:
    """Tab-separated files are detected."""
    parsed = parse("First Name\tLast Name\tEmail", "Maya\tChen\tmaya@example.com")
    assert parsed.delimiter == "\t"
    assert parsed.rows[0].email == "maya@example.com"


def test_crlf_line_endings() -> None:
    """Windows line endings leave no stray carriage returns."""
    parsed = parse_candidates(make_csv("name,note", "Maya Chen,Great", newline="\r\n"))
    assert (parsed.rows[0].last_name, parsed.rows[0].note) == ("Chen", "Great")


# Row numbers


def test_quoted_multiline_note_is_one_row() -> None:
    """A quoted note spanning lines is one field; the next record is the next row number."""
    parsed = parse_candidates(b'name,email,note\r\nMaya Chen,m@example.com,"Line one\r\n'
                              b'Line two\r\n\r\nLine four"\r\nBob Smith,bob@@x,\r\n')
    assert parsed.total_rows == 2
    assert parsed.rows[0].note == "Line one\nLine two\n\nLine four"
    assert parsed.rows[0].row == 2
    assert [(p.row, p.field) for p in parsed.problems] == [(3, "email")]
    assert parsed.problems[0].message.startswith("Row 3: ")


def test_blank_lines_are_ignored_but_keep_spreadsheet_numbering() -> None:
    """Blank and whitespace-only rows are not counted, but later rows keep their numbers."""
    parsed = parse("", "name,email", "Maya Chen,", "", ",  ", "  ,", "Bob Smith,bob@@x", "", "")
    assert parsed.total_rows == 2
    assert [r.row for r in parsed.rows] == [3]
    assert parsed.problems[0].row == 7
    assert parsed.skipped_rows == 1


# Row checks


def test_values_are_stripped_and_email_normalised() -> None:
    """Whitespace is stripped and the domain lower-cased, but the local part keeps its case."""
    row = parse("name, email ,city", "  Maya Chen  ,  Maya.Chen@EXAMPLE.Com , Vancouver ").rows[0]
    assert (row.first_name, row.email, row.city) == ("Maya", "Maya.Chen@example.com",
                                                     "Vancouver")


def test_empty_email_is_allowed() -> None:
    """A candidate without an email gets a posted letter, so the row is valid."""
    parsed = parse("name,email,address", "Ahmed Hassan,,777 Hornby Street")
    assert parsed.ok and parsed.rows[0].email is None


def test_bad_email_names_row_and_reason() -> None:
    """An invalid email is reported with its row number, the value and the reason."""
    parsed = parse("name,email", "Maya Chen,maya@example.com", "Bob Smith,bob@@x")
    assert [r.full_name for r in parsed.rows] == ["Maya Chen"]
    (problem,) = parsed.problems
    assert (problem.row, problem.field) == (3, "email")
    assert problem.message.startswith('Row 3: email "bob@@x" is not a valid address (')
    assert problem.message.endswith(").")


@pytest.mark.parametrize("char", ["\r", "\n", "\0", "\u2028"])
@pytest.mark.parametrize("column", ["first_name", "last_name", "address_line1", "city"])
def test_line_breaks_and_nul_refused_in_names_and_addresses(char: str, column: str) -> None:
    """CR, LF, other line breaks and NUL are refused in names and address fields."""
    parsed = table({"first_name": "Maya", "last_name": "Chen", column: f"Ab{char}cd"})
    assert not parsed.rows
    assert [(p.row, p.field) for p in parsed.problems] == [(2, column)]
    expected = "NUL character" if char == "\0" else "line break"
    assert expected in parsed.problems[0].message


def test_line_break_in_full_name_column() -> None:
    """A line break in a full-name column is refused too."""
    parsed = parse("name", '"Maya\nChen"')
    assert [(p.field, p.row) for p in parsed.problems] == [("name", 2)]


def test_note_may_span_lines_but_not_hold_nul() -> None:
    """Notes keep their line breaks (normalised to LF), but a NUL is refused."""
    parsed = parse("name,note", 'Maya Chen,"One\r\nTwo\rThree"', 'Bob Smith,"x\0y"')
    assert parsed.rows[0].note == "One\nTwo\nThree"
    assert [(p.row, p.field) for p in parsed.problems] == [(3, "note")]
    assert "NUL" in parsed.problems[0].message


def test_row_needs_a_name() -> None:
    """A row with an email but no name is a problem."""
    parsed = parse("first_name,last_name,email", ",,someone@example.com", "Maya,,", ",Chen,")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "name")]
    assert [r.full_name for r in parsed.rows] == ["Maya", "Chen"]


@pytest.mark.parametrize(("column", "limit"), [("first_name", 200), ("last_name", 200),
                                                ("note", 5000), ("postal_code", 40)])
def test_field_length_caps(column: str, limit: int) -> None:
    """A value at the cap is kept whole; one character more is a problem, never truncated."""
    parsed = table({"first_name": "Maya", "last_name": "Chen", column: "x" * limit},
                   {"first_name": "Maya", "last_name": "Chen", column: "x" * (limit + 1)})
    assert len(getattr(parsed.rows[0], column)) == limit
    (problem,) = parsed.problems
    assert (problem.row, problem.field) == (3, column)
    assert f"{limit + 1:,} characters" in problem.message


def test_extra_cells_are_a_problem() -> None:
    """More non-empty cells than columns usually means a comma lost its quotes."""
    parsed = parse("name,note", "Maya Chen,Great,really", "Bob Smith,Fine,,")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "row")]
    assert "3 cells but only 2 columns" in parsed.problems[0].message
    assert [r.full_name for r in parsed.rows] == ["Bob Smith"]


def test_missing_trailing_cells_are_empty() -> None:
    """Short rows (trailing cells left off) read the missing cells as empty."""
    row = parse("name,email,stage,note", "Maya Chen").rows[0]
    assert (row.email, row.stage, row.note) == (None, "applied", "")


def test_duplicate_emails_case_insensitive() -> None:
    """A repeated email (any case) is reported on each later row, naming the first row."""
    parsed = parse("name,email", "Maya Chen,maya@example.com", "Bob Smith,bob@example.com",
                   "Maya Again,MAYA@Example.COM", "Maya Thrice,Maya@example.com")
    assert [r.row for r in parsed.rows] == [2, 3]
    assert [p.row for p in parsed.problems] == [4, 5]
    for problem in parsed.problems:
        assert "row 2" in problem.message
    assert parsed.problems[0].message.startswith("Row 4: ")


def test_existing_emails_case_insensitive() -> None:
    """Emails already in the position (any case, any iterable) are reported."""
    parsed = parse("name,email", "Maya Chen,Maya@Example.com", "Bob Smith,bob@example.com",
                   existing_emails=(e for e in ["maya@example.com"]))
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "email")]
    assert "already" in parsed.problems[0].message
    assert [r.full_name for r in parsed.rows] == ["Bob Smith"]


@pytest.mark.parametrize(("value", "stage"), [
    ("", "applied"), ("applied", "applied"), ("New", "applied"), ("received", "applied"),
    ("screened", "screened"), ("Shortlisted", "screened"), ("phone screen", "screened"),
    ("Phone-Screen", "screened"), ("screening", "screened"), ("INTERVIEWED", "interviewed"),
    ("interview", "interviewed"), ("onsite", "interviewed"), ("on-site", "interviewed"),
    ("Final Round", "interviewed"),
])
def test_stage_synonyms(value: str, stage: str) -> None:
    """Stage synonyms map onto the three stages; blank means applied."""
    assert parse("name,stage", f"Maya Chen,{value}").rows[0].stage == stage


@pytest.mark.parametrize(("value", "outcome"), [
    ("", "declined"), ("pending", "pending"), ("Hired", "hired"), ("hire", "hired"),
    ("Offer accepted", "hired"), ("declined", "declined"), ("Rejected", "declined"),
    ("not selected", "declined"), ("unsuccessful", "declined"), ("withdrawn", "withdrawn"),
    ("withdrew", "withdrawn"),
])
def test_outcome_synonyms(value: str, outcome: str) -> None:
    """Outcome synonyms map onto the four outcomes; blank means declined (issue 12)."""
    assert parse("name,outcome", f"Maya Chen,{value}").rows[0].outcome == outcome


def test_unknown_stage_and_outcome_name_the_allowed_values() -> None:
    """An unknown stage or outcome is a problem listing what is allowed."""
    parsed = parse("name,stage,outcome", "Maya Chen,maybe,ghosted", "Bob Smith,?,")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "stage"), (2, "outcome"),
                                                          (3, "stage")]
    assert parsed.skipped_rows == 2
    stage, outcome, _ = messages(parsed)
    assert stage.startswith('Row 2: the stage "maybe" is not recognised')
    assert all(s in stage for s in STAGES)
    assert outcome.startswith('Row 2: the outcome "ghosted" is not recognised')
    assert all(o in outcome for o in OUTCOMES)


def test_synonyms_only_produce_known_values() -> None:
    """Every synonym maps onto a value the data model accepts."""
    assert set(importing._STAGE_VALUES.values()) == set(STAGES)
    assert set(importing._OUTCOME_VALUES.values()) == set(OUTCOMES)


@pytest.mark.parametrize(("value", "language"), [("", ""), ("fr", "fr"), ("FR ", "fr"),
                                                 ("en_CA", "en-CA"), ("pt-BR", "pt-BR")])
def test_language(value: str, language: str) -> None:
    """Language codes are normalised (FR is fr, en_CA is en-CA); blank is the organization's."""
    assert parse("name,language", f"Maya Chen,{value}").rows[0].language == language


def test_language_that_is_not_a_code() -> None:
    """A language name instead of a code is a problem."""
    parsed = parse("name,language", "Maya Chen,English")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "language")]


def test_all_problems_of_a_row_are_reported_at_once() -> None:
    """Every problem in the file comes back in one pass, in row order."""
    parsed = parse("first_name,last_name,email,stage", ",,bad,later", "Maya,Chen,,",
                   "Bob,Smith,b@@x,")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "name"), (2, "email"),
                                                          (2, "stage"), (4, "email")]
    assert (parsed.total_rows, parsed.skipped_rows, len(parsed.rows)) == (3, 2, 1)


# Accepting


def test_accepted_rows_refuses_the_whole_file() -> None:
    """With problems and no skip, nothing is accepted and the error lists every problem."""
    parsed = parse("name,email", "Maya Chen,m@example.com", "Bob Smith,bob@@x", ",x@example.com")
    with pytest.raises(CandidateImportError) as info:
        accepted_rows(parsed)
    assert str(info.value).startswith("2 of 3 rows are invalid")
    assert info.value.problems == parsed.problems


def test_accepted_rows_singular_message() -> None:
    """One invalid row is reported in the singular."""
    with pytest.raises(CandidateImportError, match="^1 of 2 rows is invalid"):
        accepted_rows(parse("name,email", "Maya Chen,", "Bob Smith,bob@@x"))


def test_accepted_rows_skip_invalid_returns_the_rest() -> None:
    """With skip_invalid, the valid rows are returned and the problems stay on the result."""
    parsed = parse("name,email", "Maya Chen,m@example.com", "Bob Smith,bob@@x", "Zoë Lefebvre,")
    assert [r.full_name for r in accepted_rows(parsed, skip_invalid=True)] == ["Maya Chen",
                                                                              "Zoë Lefebvre"]
    assert not parsed.ok and len(parsed.problems) == 1


# Refusing the file


@pytest.mark.parametrize("data", [b"", b"   \n\r\n", b"\xef\xbb\xbf", b",,,\n , ,\n"])
def test_empty_file(data: bytes) -> None:
    """An empty file, or one with only blank rows, is refused."""
    assert "empty" in refusal(data)


@pytest.mark.parametrize("data", [b"first_name,last_name", b"name,email\n\n,\n"])
def test_header_only(data: bytes) -> None:
    """A header without candidates is refused."""
    assert "no candidates" in refusal(data)


def test_no_name_column() -> None:
    """Without a name column the file is refused, listing the columns it has."""
    message = refusal(make_csv("Email,Phone", "maya@example.com,555-0100"))
    assert message.startswith("No name column was found")
    assert '"Email", "Phone"' in message


def test_unclosed_quote() -> None:
    """A quote that never closes would swallow later rows, so the file is refused."""
    message = refusal(make_csv("name,note", 'Maya Chen,"Great', "Bob Smith,Fine"))
    assert message.startswith("Row 2 could not be read as CSV")


def test_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over the byte cap is refused before it is read."""
    monkeypatch.setattr(importing, "MAX_BYTES", 20)
    assert "larger than" in refusal(make_csv("name", "Maya Chen", "Bob Smith"))


def test_row_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """More candidates than the row cap are refused; exactly the cap is fine."""
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    assert parse("name", "Maya Chen", "Bob Smith").total_rows == 2
    assert "more than 2 candidates" in refusal(make_csv("name", "A B", "C D", "E F"))


def test_caps_are_sensible() -> None:
    """The default caps allow large real exports."""
    assert importing.MAX_BYTES == 20 * 1024 * 1024
    assert importing.MAX_ROWS == 50_000


def test_five_thousand_rows_parse() -> None:
    """A 5,000-row file parses whole, every row kept (its speed: bench/bench_import.py)."""
    lines = VANCOUVER.read_text(encoding="utf-8").splitlines()
    body = [line.replace("@", f"{i}@", 1) for i, line in
            zip(range(5000), (lines[1:] * 200), strict=False)]
    data = make_csv(lines[0], *body)
    parsed = parse_candidates(data)
    assert parsed.ok and parsed.total_rows == 5000
    with_email = [row.email for row in accepted_rows(parsed) if row.email]
    assert len(with_email) == sum("@" in line for line in body)
    assert len(set(with_email)) == len(with_email)


# Email addresses: the fast path gives validate_email's own answer

@pytest.mark.parametrize("address", [
    "maya.chen@example.com", "Maya.Chen@EXAMPLE.COM", "o'neill+jobs@example.org",
    "a@b.example.net", "postmaster@example.com", "Info@Example.com",
    "user@bücher.example", "user@xn--bcher-kva.example", "x" * 64 + "@example.com",
    "x" * 65 + "@example.com", "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com",
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 50 + ".com",
    "zoë@example.com", "two@@example.com", "no-at-sign.example.com", ".lead@example.com",
    "dots..here@example.com", "trail.@example.com", "space in@example.com",
    "a@localhost", "a@example", "a@-bad-.example.com", "a@[192.0.2.1]", "a@example.com.",
    '"quoted"@example.com', "Name <a@example.com>", "a@exa mple.com", "a@example.invalid",
])
def test_normalize_email_matches_validate_email(address: str) -> None:
    """The per-domain cache changes nothing: same address, or the same refusal."""
    from email_validator import EmailNotValidError, validate_email

    try:
        expected: str | Exception = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        expected = exc
    try:
        got: str | Exception = importing.normalize_email(address)
    except EmailNotValidError as exc:
        got = exc
    if isinstance(expected, Exception):
        assert isinstance(got, Exception) and str(got) == str(expected)
    else:
        assert got == expected


def test_import_rows_links_every_row_to_its_own_candidate(db, make_org) -> None:
    """The bulk import keeps row order, reuses a known email and adds people without one."""
    from sqlalchemy import func, select

    from recruiter.models import Candidate
    from recruiter.services.positions import create_position, import_rows

    org = make_org()
    first = create_position(db, org, title="Dispatcher")
    import_rows(db, first, accepted_rows(parse(
        "first_name,last_name,email", "Ana,Silva,ana@example.com")))
    db.commit()
    second = create_position(db, org, title="Planner")
    added = import_rows(db, second, accepted_rows(parse(
        "first_name,last_name,email,outcome,note",
        "Bo,Li,bo@example.com,declined,Clear writing.",
        "Ana,Silva,ANA@example.com,declined,",
        "Cy,Post,,hired,",
        "Dee,Ng,dee@example.com,pending,Good questions.")))
    db.commit()
    assert [(a.candidate.full_name, a.outcome, a.note, a.note_revision) for a in added] == [
        ("Bo Li", "declined", "Clear writing.", 1), ("Ana Silva", "declined", "", 0),
        ("Cy Post", "hired", "", 0), ("Dee Ng", "pending", "Good questions.", 1)]
    assert added[1].candidate_id == first.applications[0].candidate_id  # the same person
    assert db.scalar(select(func.count()).select_from(Candidate)) == 4
    assert second.status == "filled" and len(second.applications) == 4
