"""ATS exports: column and value mapping, names and greetings, openings, index.csv (issue 12).

The end-to-end tests take one ATS-style export (a full-name column, "Current Stage",
"Status", internal "Notes" and a candidate note) through the browser preview and through
``recruiter merge --map``: hires and withdrawn candidates get no letter, interviewed ones get
the interviewed boilerplate, and no internal note reaches a letter, email, PDF, ZIP or index.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from pdftools import pdf_text
from sqlalchemy import select

from recruiter.errors import CandidateImportError, RecruiterError
from recruiter.models import Application, Candidate, Letter, Organization, Position
from recruiter.services import ats
from recruiter.services.importing import (
    CandidateRow,
    ImportMapping,
    accepted_rows,
    check_hires,
    parse_candidates,
)
from recruiter.services.rendering import CandidateFields

SECRETS = ("ZQSECRETMAYA", "ZQSECRETGUS", "ZQSECRETMARIA", "ZQSECRETAMINA", "ZQSECRETSEAN",
           "ZQSECRETWANG", "ZQSECRETOLEG", "ZQSECRETMOHAMMED")
ATS_ROWS = [
    # name, email, current stage, status, notes (internal), personal message (candidate note)
    ("Maya Chen", "maya@example.com", "Offer", "Hired", "ZQSECRETMAYA strong hire", ""),
    ("Gus van der Berg", "gus@example.com", "Onsite Interview", "Rejected",
     "ZQSECRETGUS weak references", "Your turnaround case study was the clearest we saw."),
    ("María José de la Cruz", "maria@example.com", "Application Review", "Not selected",
     "ZQSECRETMARIA salary too high", "Your volunteer dispatch work stood out."),
    ("Dr. Amina Yusuf", "amina@example.com", "Phone Screen", "Archived",
     "ZQSECRETAMINA", "Your safety audit experience impressed us."),
    ("Sean O'Brien Jr.", "sean@example.com", "Assessment", "Candidate withdrew",
     "ZQSECRETSEAN", ""),
    ("王小明", "wang@example.com", "Applied", "", "ZQSECRETWANG",
     "Your logistics certificate stood out."),
    ("Олег Петров", "oleg@example.com", "Final Interview", "Unsuccessful", "ZQSECRETOLEG",
     "Your fleet scheduling project was impressive."),
    ("محمد بن سلمان", "mohammed@example.com", "Recruiter Screen", "On hold - talent pool",
     "ZQSECRETMOHAMMED", "Your customer service record was excellent."),
]
HEADER = ("Candidate Name", "Email", "Current Stage", "Status", "Notes", "Personal message")
DECLINED = {"Gus van der Berg", "María José de la Cruz", "Amina Yusuf", "王小明", "Олег Петров",
            "محمد بن سلمان"}
INTERVIEWED = {"Gus van der Berg", "Олег Петров"}


def ats_csv(rows: list[tuple[str, ...]] = ATS_ROWS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def parse(*lines: str, mapping: ImportMapping | None = None):  # noqa: ANN201
    return parse_candidates(("\n".join(lines) + "\n").encode(), mapping=mapping)


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into {where}"
    assert "weak references" not in text and "salary too high" not in text, where


# Names and greetings


@pytest.mark.parametrize(("cell", "first", "last", "greeting"), [
    ("Gus van der Berg", "Gus", "van der Berg", "Gus"),
    ("María José de la Cruz", "María José", "de la Cruz", "María José"),
    ("Jean de La Fontaine", "Jean", "de La Fontaine", "Jean"),
    ("Ahmad bin Ali", "Ahmad", "bin Ali", "Ahmad"),
    ("Ali ibn Hassan", "Ali", "ibn Hassan", "Ali"),
    ("Sean O'Brien Jr.", "Sean", "O'Brien", "Sean"),
    ("Mary McDonald", "Mary", "McDonald", "Mary"),
    ("Dr. Amina Yusuf", "Amina", "Yusuf", "Amina"),
    ("Prof. Hans-Peter von Braun III", "Hans-Peter", "von Braun", "Hans-Peter"),
    ("Okafor, Daniel", "Daniel", "Okafor", "Daniel"),
    ("Madonna", "Madonna", "", "Madonna"),
    ("王小明", "", "王小明", "王小明"),
    ("王 小明", "", "王 小明", "王 小明"),
    ("김민수", "", "김민수", "김민수"),
    ("Олег Петров", "Олег", "Петров", "Олег"),
    ("محمد بن سلمان", "محمد", "بن سلمان", "محمد"),
])
def test_full_names_split_for_the_greeting(cell: str, first: str, last: str,
                                           greeting: str) -> None:
    """Particles, O'/Mc, titles, suffixes, single names and non-Latin scripts split sensibly."""
    row = parse("Candidate Name", f'"{cell}"').rows[0]
    assert (row.first_name, row.last_name) == (first, last)
    assert row.greeting == greeting
    assert CandidateFields.of(row, row.stage).salutation == greeting


@pytest.mark.parametrize("cell", [
    "Maya Chen", "Zoë Lefebvre", "Jean-Luc Picard", "Sean O'Brien", "Mary McDonald",
    "Van Morrison", "Dr Who", "John Jr", "Ana Y", "Da Silva", "Bin Laden", "Bo E",
])
def test_two_word_fast_path_agrees_with_nameparser(cell: str) -> None:
    """Plain two-word names skip the parser, and give what nameparser would have given."""
    from nameparser import HumanName

    from recruiter.services.names import split_full_name

    parsed = HumanName(cell)
    split = split_full_name(cell)
    assert (split.first_name, split.last_name) == (
        " ".join(p for p in (parsed.first, parsed.middle) if p), parsed.last)


def test_guessed_splits_are_flagged_for_a_look() -> None:
    """Rows split from a full name are listed, with a reason when the parser had to guess."""
    parsed = parse("name", "Gus van der Berg", "Dr. Amina Yusuf", "María José de la Cruz")
    assert parsed.name_checks[2] == ""
    assert "Dr." in parsed.name_checks[3]
    assert "given names" in parsed.name_checks[4]
    assert parse("first_name,last_name", "Gus,van der Berg").name_checks == {}


def test_salutation_column_and_greeting_override() -> None:
    """A salutation column replaces the first name after "Dear"; a preview entry beats it."""
    parsed = parse("name,salutation", "Robert Smith,Bob", "Ana Silva,")
    assert [r.greeting for r in parsed.rows] == ["Bob", "Ana"]
    assert [r.salutation for r in parsed.rows] == ["Bob", ""]
    typed = parse("name,salutation", "Robert Smith,Bob", "Ana Silva,",
                  mapping=ImportMapping(greetings={2: "Rob", 3: "Ana"}))
    assert [r.salutation for r in typed.rows] == ["Rob", ""]  # "Ana" is the first name anyway


def test_candidate_fields_salutation_falls_back() -> None:
    """The greeting name is the salutation, else the first name, else the full name."""
    row = CandidateRow(row=2, first_name="", last_name="王小明", email=None)
    assert CandidateFields.of(row, "applied").salutation == "王小明"
    row = CandidateRow(row=2, first_name="Ana", last_name="Silva", email=None, salutation="Dr. S")
    assert CandidateFields.of(row, "applied").salutation == "Dr. S"


# Columns and values


@pytest.mark.parametrize(("header", "field"), [
    ("Candidate Name", "name"), ("Current Stage", "stage"), ("Stage", "stage"),
    ("Status", "outcome"), ("Outcome", "outcome"), ("Disposition", "outcome"),
    ("Notes", "internal_note"), ("Comments", "internal_note"), ("Feedback", "internal_note"),
    ("Reviewer notes", "internal_note"), ("Recruiter Notes", "internal_note"),
    ("note", "note"), ("Personal note", "note"), ("Note to candidate", "note"),
    ("Note for candidate", "note"), ("Candidate note", "note"), ("Salutation", "salutation"),
    ("Personal message", None),
])
def test_ats_headers_are_proposed(header: str, field: str | None) -> None:
    """ATS column names get a field; notes and feedback are internal, never the letter's note."""
    assert ats.propose_field(header) == field


@pytest.mark.parametrize(("value", "stage"), [
    ("Application Review", "applied"), ("New", "applied"), ("Applied", "applied"),
    ("Phone Screen", "screened"), ("Recruiter Screen", "screened"),
    ("Screening", "screened"), ("Assessment", "screened"),
    ("Hiring Manager Review", "screened"), ("Onsite Interview", "interviewed"),
    ("On-site interview", "interviewed"), ("Interview", "interviewed"),
    ("Final Interview", "interviewed"), ("Technical Interview", "interviewed"),
    ("Offer", "interviewed"),
])
def test_ats_stage_values(value: str, stage: str) -> None:
    """Greenhouse, Lever, Workable and Personio stage names map onto the three stages."""
    assert parse("name,Current Stage", f"Ana Silva,{value}").rows[0].stage == stage


@pytest.mark.parametrize(("value", "outcome"), [
    ("Hired", "hired"), ("Offer Accepted", "hired"), ("Rejected", "declined"),
    ("Not selected", "declined"), ("Declined", "declined"), ("Unsuccessful", "declined"),
    ("Disqualified", "declined"), ("Archived", "declined"), ("Withdrawn", "withdrawn"),
    ("Candidate withdrew", "withdrawn"), ("Active", "pending"), ("In process", "pending"),
    ("New", "pending"), ("  NOT-SELECTED ", "declined"), ("", "declined"),
])
def test_ats_status_values(value: str, outcome: str) -> None:
    """Status words map onto outcomes, whatever the case and punctuation; blank is declined."""
    assert parse("name,Status", f"Ana Silva,{value}").rows[0].outcome == outcome


def test_unknown_value_is_a_row_problem_until_mapped() -> None:
    """An unknown status names the row, the value and the choices; mapping it clears it."""
    lines = ("name,Status", "Ana Silva,On hold - talent pool", "Bo Li,Rejected",
             "Cy Post,on hold – talent pool")
    parsed = parse(*lines)
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "outcome"), (4, "outcome")]
    message = parsed.problems[0].message
    assert message.startswith('Row 2: the outcome "On hold - talent pool" is not recognised')
    assert all(o in message for o in ("pending", "hired", "declined", "withdrawn"))
    assert parsed.unknown_values == {"outcome": ["On hold - talent pool"]}
    mapped = parse(*lines, mapping=ImportMapping(values={"outcome": {
        ats.key("On hold - talent pool"): "pending"}}))
    assert mapped.ok and [r.outcome for r in mapped.rows] == ["pending", "declined", "pending"]
    assert mapped.mapped_values == {"outcome": [("On hold - talent pool", "pending")]}


def test_column_mapping_overrides_the_proposal() -> None:
    """A chosen field beats the built-in rule: Notes can become the candidate note, or nothing."""
    lines = ("name,Notes,Personal message", "Ana Silva,Kind words,Hello")
    assert parse(*lines).rows[0].internal_note == "Kind words"
    row = parse(*lines, mapping=ImportMapping(columns={
        "Notes": "note", "Personal message": "ignored"})).rows[0]
    assert (row.note, row.internal_note) == ("Kind words", "")
    with pytest.raises(CandidateImportError, match='no column "Nope"'):
        parse(*lines, mapping=ImportMapping(columns={"Nope": "note"}))


def test_several_internal_note_columns_are_kept() -> None:
    """Notes and Feedback both become the internal note, one after the other."""
    row = parse("name,Notes,Feedback", 'Ana Silva,"Line one",Two').rows[0]
    assert (row.internal_note, row.note) == ("Line one\n\nTwo", "")


def test_hires_beyond_openings_refuse_the_file_naming_rows() -> None:
    """More hires than openings refuses the file and names each hire's row."""
    rows = parse("name,Status", "Ana Silva,Hired", "Bo Li,Rejected", "Cy Post,Hired").rows
    with pytest.raises(CandidateImportError, match=r"2 hires \(rows 2, 4\).* 1 opening"):
        check_hires(rows, 1)
    check_hires(rows, 2)
    with pytest.raises(CandidateImportError, match="1 already hired"):
        check_hires(rows, 2, already_hired=1)


@pytest.mark.parametrize(("maps", "values", "message"), [
    (["Notes"], [], "--map 'Notes' is not COLUMN=FIELD"),
    (["Notes=secret"], [], "'secret' is not a field"),
    ([], ["outcome=declined"], "is not FIELD:VALUE=CANONICAL"),
    ([], ["city:Paris=declined"], "only stage and outcome"),
    ([], ["outcome:On hold=maybe"], "'maybe' is not a outcome"),
])
def test_bad_map_options_are_refused(maps: list[str], values: list[str], message: str) -> None:
    """A malformed --map or --map-value names the flag value and what is expected."""
    with pytest.raises(RecruiterError, match=re.escape(message)):
        ats.mapping_from_options(maps, values)


def test_map_options_build_a_mapping() -> None:
    """--map and --map-value accept field aliases and any value spelling."""
    mapping = ats.mapping_from_options(["Candidate=full_name", "Feedback = ignore"],
                                       ["Status:On hold - pool=Pending"])
    assert mapping.columns == {"Candidate": "name", "Feedback": "ignored"}
    assert mapping.values == {"outcome": {"onholdpool": "pending"}}


def test_remembered_mapping_needs_the_same_headers() -> None:
    """A saved mapping is proposed again only for a file with exactly the same headers."""
    mapping = ImportMapping(columns={"Notes": "note"}, values={"outcome": {"onhold": "pending"}})
    saved = mapping.to_json(["name", "Notes"])
    assert ImportMapping.remembered(saved, ["name", "Notes"]).columns == {"Notes": "note"}
    assert ImportMapping.remembered(saved, ["name", "Notes", "City"]).columns == {}
    tampered = {**saved, "columns": {"Notes": "evil"}, "values": {"outcome": {"x": "evil"}}}
    again = ImportMapping.remembered(tampered, ["name", "Notes"])
    assert (again.columns, again.values) == ({}, {"outcome": {}})


# The command line


def merge(tmp_path: Path, *extra: str, data: bytes | None = None):  # noqa: ANN201
    from recruiter.cli import merge_command

    source = tmp_path / "export.csv"
    source.write_bytes(ats_csv() if data is None else data)
    return CliRunner().invoke(merge_command, [
        str(source), "--position", "Operations Coordinator", "--differentiator",
        "hands-on aviation operations experience", *extra], catch_exceptions=False)


MAPS = ("--map", "Personal message=note", "--map-value",
        "outcome:On hold - talent pool=declined")


@pytest.mark.parametrize("fmt", ["txt", "eml", "pdf"])
def test_merge_ats_export_keeps_internal_notes_out(tmp_path: Path, fmt: str) -> None:
    """Merge --map: letters only for the declined, the right boilerplate, no internal note."""
    out = tmp_path / "out"
    result = merge(tmp_path, *MAPS, "--format", fmt, "--out", str(out))
    assert result.exit_code == 0, result.output
    letters = sorted(out.glob(f"*.{fmt}"))
    assert len(letters) == len(DECLINED) == 6
    with (out / "index.csv").open(newline="", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    assert_no_secret((out / "index.csv").read_text(encoding="utf-8"), "index.csv")
    by_name = {entry["name"]: entry for entry in index}
    assert {n for n, e in by_name.items() if e["file"]} == DECLINED
    assert by_name["Maya Chen"]["warnings"] == "no letter: hired, so no letter"
    assert by_name["Sean O'Brien"]["warnings"] == "no letter: withdrew, so no letter"
    for name in DECLINED:
        entry = by_name[name]
        assert entry["channel"] == {"txt": "text", "eml": "email", "pdf": "post"}[fmt]
        assert entry["boilerplate"] == ("interviewed" if name in INTERVIEWED
                                        else "not-interviewed")
        assert entry["language"] == "en" and entry["email"]
        payload = (out / entry["file"]).read_bytes()
        if fmt == "pdf":
            text = pdf_text(payload, tmp_path)
        elif fmt == "eml":
            msg = message_from_bytes(payload, policy=policy.default)
            text = "\n".join(part.get_content() for part in msg.walk()
                             if part.get_content_maintype() == "text")
        else:
            text = payload.decode("utf-8")
        assert_no_secret(text, entry["file"])
        flat = " ".join(text.split())
        assert ("interviewing" in flat) == (name in INTERVIEWED), name
    gus = (out / by_name["Gus van der Berg"]["file"]).read_bytes()
    if fmt == "txt":
        assert "Dear Gus," in gus.decode() and "turnaround case study" in gus.decode()
        wang = (out / by_name["王小明"]["file"]).read_text(encoding="utf-8")
        assert "Dear 王小明," in wang
    assert "Skipped: Row 2 (Maya Chen): hired, so no letter." in result.output


def test_merge_without_the_value_map_refuses_naming_the_value(tmp_path: Path) -> None:
    """Without --map-value the unknown status refuses the file, naming the row and value."""
    out = tmp_path / "out"
    result = merge(tmp_path, "--format", "txt", "--out", str(out))
    assert result.exit_code != 0
    assert 'Row 9: the outcome "On hold - talent pool" is not recognised' in result.output
    assert not out.exists()


def test_merge_bad_map_flag_is_a_clear_error(tmp_path: Path) -> None:
    """A bad --map is a click error quoting the flag value, and nothing is written."""
    out = tmp_path / "out"
    result = merge(tmp_path, "--map", "Notes", "--out", str(out))
    assert result.exit_code == 1 and "Error: --map 'Notes' is not COLUMN=FIELD" in \
        result.output
    result = merge(tmp_path, "--map", "Notes=letter", "--out", str(out))
    assert result.exit_code != 0 and "'letter' is not a field" in result.output
    assert not out.exists()


def test_merge_refuses_more_hires_than_openings(tmp_path: Path) -> None:
    """Two hires with --openings 1 (the default) refuse the file naming the rows; 2 is fine."""
    rows = [*ATS_ROWS[:2], ("Bo Li", "bo@example.com", "Offer", "Offer Accepted", "", "")]
    out = tmp_path / "out"
    result = merge(tmp_path, "--format", "txt", "--out", str(out), data=ats_csv(rows))
    assert result.exit_code != 0 and "(rows 2, 4)" in result.output
    assert not out.exists()
    result = merge(tmp_path, "--format", "txt", "--out", str(out), "--openings", "2",
                   data=ats_csv(rows))
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.txt"))) == 1


def test_merge_index_names_a_template_file(tmp_path: Path) -> None:
    """With --template FILE every letter uses it, and index.csv names the file as given."""
    body = tmp_path / "short.md"
    body.write_text("Dear {{ candidate.salutation }},\n\nThank you for applying.\n",
                    encoding="utf-8")
    out = tmp_path / "out"
    result = merge(tmp_path, *MAPS, "--format", "txt", "--out", str(out), "--template",
                   str(body))
    assert result.exit_code == 0, result.output
    index = list(csv.DictReader(io.StringIO((out / "index.csv").read_text(encoding="utf-8"))))
    assert {e["boilerplate"] for e in index if e["file"]} == {str(body)}
    assert all("Thank you for applying." in p.read_text() for p in out.glob("*.txt"))


def test_merge_index_neutralises_formulas(tmp_path: Path) -> None:
    """A name or email that starts like a formula is written with a leading apostrophe."""
    data = b'first_name,last_name,email\n=HYPERLINK("x"),Cruz,"+1@example.com"\n'
    out = tmp_path / "out"
    result = merge(tmp_path, "--format", "txt", "--out", str(out), data=data)
    assert result.exit_code == 0, result.output
    (entry,) = list(csv.DictReader(io.StringIO((out / "index.csv").read_text())))
    assert entry["name"] == "'=HYPERLINK(\"x\") Cruz" and entry["email"] == "'+1@example.com"
    assert entry["row"] == "2" and entry["file"].startswith("002-")


def test_positions_add_with_map_and_openings(runner, db, tmp_path: Path) -> None:  # noqa: ANN001
    """Positions add keeps internal notes apart, maps values and refuses extra hires."""
    source = tmp_path / "export.csv"
    source.write_bytes(ats_csv())
    result = runner.invoke(args=["positions", "add", "--title", "Dispatcher", *MAPS,
                                 "--openings", "2", str(source)])
    assert result.exit_code == 0, result.output
    position = db.get(Position, int(result.output.strip().splitlines()[-1]))
    assert position.openings == 2
    apps = {a.candidate.full_name: a for a in position.applications}
    assert apps["Gus van der Berg"].internal_note == "ZQSECRETGUS weak references"
    assert apps["Gus van der Berg"].note.startswith("Your turnaround")
    assert apps["محمد بن سلمان"].outcome == "declined"
    assert apps["Sean O'Brien"].outcome == "withdrawn"
    two = tmp_path / "two.csv"
    two.write_bytes(ats_csv([ATS_ROWS[0], ("Bo Li", "bo@example.com", "Offer", "Hired", "",
                                           "")]))
    result = runner.invoke(args=["positions", "add", "--title", "X", str(two)])
    assert result.exit_code != 0 and "rows 2, 3" in result.output
    assert db.scalar(select(Position).where(Position.title == "X")) is None
    result = runner.invoke(args=["positions", "add", "--title", "Y", "--map", "=x", str(two)])
    assert result.exit_code != 0 and "--map '=x'" in result.output


# The browser


def upload(client, position_id: int, data: bytes) -> str:  # noqa: ANN001
    return html.unescape(client.post(f"/positions/{position_id}/import",
                                     data={"csv": (io.BytesIO(data), "export.csv")},
                                     content_type="multipart/form-data").text)


def form_of(page: str) -> dict[str, str]:
    """The preview form's inputs and selected options, as a browser would submit them."""
    fields = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', page))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        fields[name] = chosen.group(1) if chosen else ""
    fields.pop("skip_invalid", None)
    return fields


def column_index(page: str, header: str) -> str:
    match = re.search(rf'<label for="(column-\d+)">{re.escape(header)}</label>', page)
    assert match, header
    return match.group(1)


def test_browser_import_of_an_ats_export(client, db, login, tmp_path: Path) -> None:  # noqa: ANN001
    """Preview, map a column, a value and a greeting, confirm; no internal note reaches a letter."""
    from recruiter.services.positions import create_position

    member = login("manager")
    org = db.get(Organization, member.organization_id)
    position = create_position(db, org, title="Operations Coordinator",
                               differentiator="hands-on aviation operations experience")
    db.commit()
    page = upload(client, position.id, ats_csv())
    assert 'the outcome "On hold - talent pool" is not recognised' in page
    assert "Dear Gus," not in page  # Gus gets an input: his name was split from a full name
    assert re.search(r'name="greeting-3" value="Gus"', page)
    assert "ZQSECRETGUS weak references" in page  # shown, as the internal note
    fields = form_of(page)
    assert fields[column_index(page, "Notes")] == "internal_note"
    assert fields[column_index(page, "Personal message")] == "ignored"
    fields[column_index(page, "Personal message")] = "note"
    value = next(k for k, v in fields.items() if v == "On hold - talent pool")
    fields[value.removesuffix("-raw")] = "declined"
    fields["greeting-3"] = "Gustaaf"
    page = html.unescape(client.post(f"/positions/{position.id}/import/confirm",
                                     data={**fields, "action": "preview"}).text)
    assert "8 rows read: 8 ready." in page and 'value="Gustaaf"' in page
    fields = form_of(page)
    response = client.post(f"/positions/{position.id}/import/confirm",
                           data={**fields, "action": "confirm"})
    assert response.status_code == 302, response.text

    apps = {a.candidate.full_name: a for a in db.scalars(
        select(Application).where(Application.position_id == position.id))}
    assert {n for n, a in apps.items() if a.outcome == "declined"} == DECLINED
    assert apps["Gus van der Berg"].candidate.salutation == "Gustaaf"
    assert apps["Gus van der Berg"].internal_note == "ZQSECRETGUS weak references"
    assert apps["María José de la Cruz"].candidate.first_name == "María José"
    db.expire_all()
    remembered = db.get(Organization, org.id).import_mapping
    assert remembered["columns"]["Personal message"] == "note"

    notes = client.get(f"/positions/{position.id}/notes").text
    assert "Internal note from your ATS — never sent" in notes and "ZQSECRETGUS" in notes

    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    db.expire_all()
    letters = db.scalars(select(Letter).join(Application).where(
        Application.position_id == position.id)).all()
    live = [x for x in letters if x.status != "cancelled"]
    assert {x.application.candidate.full_name for x in live} == DECLINED
    for letter in live:
        name = letter.application.candidate.full_name
        assert_no_secret(letter.text + letter.html + letter.subject, f"letter of {name}")
        assert ("interview process" in letter.text) == (name in INTERVIEWED), name
        pdf = client.get(f"/letters/{letter.id}/letter.pdf")
        assert pdf.status_code == 200
        assert_no_secret(pdf_text(pdf.data, tmp_path), f"PDF of {name}")
    gus = next(x for x in live if x.application.candidate.last_name == "van der Berg")
    assert gus.text.startswith("Dear Gustaaf,")

    archive = zipfile.ZipFile(io.BytesIO(client.post(f"/positions/{position.id}/letters.zip")
                                         .data))
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".pdf")]) == len(DECLINED)
    for member_name in names:
        payload = archive.read(member_name)
        if member_name.endswith(".pdf"):
            text = pdf_text(payload, tmp_path)
        elif member_name.endswith(".eml"):
            msg = message_from_bytes(payload, policy=policy.default)
            text = "\n".join(part.get_content() for part in msg.walk()
                             if part.get_content_maintype() == "text")
        else:
            text = payload.decode("utf-8")
        assert_no_secret(text, f"ZIP {member_name}")

    # The next file with the same headers is proposed the confirmed mapping.
    second = create_position(db, org, title="Dispatcher", openings=1)
    db.commit()
    page = upload(client, second.id, ats_csv())
    assert "8 rows read: 8 ready." in page
    assert form_of(page)[column_index(page, "Personal message")] == "note"


def test_browser_refuses_hires_beyond_openings(client, db, login) -> None:  # noqa: ANN001
    """A file with more hires than openings is not importable, and its rows are named."""
    from recruiter.services.positions import create_position

    member = login("manager")
    position = create_position(db, db.get(Organization, member.organization_id), title="Pilot")
    db.commit()
    rows = [ATS_ROWS[0], ("Bo Li", "bo@example.com", "Offer", "Hired", "", "")]
    page = upload(client, position.id, ats_csv(rows))
    assert "(rows 2, 3)" in page and 'value="confirm"' not in page
    fields = form_of(page)
    response = client.post(f"/positions/{position.id}/import/confirm",
                           data={**fields, "action": "confirm"})
    assert response.status_code == 200 and "Nothing was imported" in response.text
    assert db.scalars(select(Candidate)).all() == []


def test_browser_two_status_columns_are_fixed_in_the_preview(client, db, login) -> None:  # noqa: ANN001
    """Two columns that both look like the outcome are refused until one is mapped away."""
    from recruiter.services.positions import create_position

    member = login("manager")
    position = create_position(db, db.get(Organization, member.organization_id), title="Pilot")
    db.commit()
    data = b"Name,Status,Outcome\nAna Silva,Rejected,whatever\n"
    page = upload(client, position.id, data)
    assert '"Status" and "Outcome" both look like the outcome' in page
    assert 'value="confirm"' not in page
    fields = form_of(page)
    fields[column_index(page, "Outcome")] = "ignored"
    page = html.unescape(client.post(f"/positions/{position.id}/import/confirm",
                                     data={**fields, "action": "preview"}).text)
    assert "1 row read: 1 ready." in page and 'value="confirm"' in page
    response = client.post(f"/positions/{position.id}/import/confirm",
                           data={**form_of(page), "action": "confirm"})
    assert response.status_code == 302
    (application,) = db.scalars(select(Application)).all()
    assert application.outcome == "declined"


def test_import_rows_stores_internal_note_and_salutation(db, make_org) -> None:  # noqa: ANN001
    """import_rows keeps the internal note on the application and the salutation on the person."""
    from recruiter.services.positions import create_position, import_rows

    position = create_position(db, make_org(), title="Dispatcher")
    review = position.review_version
    rows = accepted_rows(parse("name,salutation,Notes,note", "Robert Smith,Bob,Late twice,Kind"))
    (added,) = import_rows(db, position, rows)
    db.commit()
    assert (added.internal_note, added.note, added.candidate.salutation) == (
        "Late twice", "Kind", "Bob")
    assert db.get(Position, position.id).review_version > review
