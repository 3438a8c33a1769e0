"""The `recruiter` commands: merge, positions add and users create, through the click runner."""

from __future__ import annotations

import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from recruiter.models import Application, Member, Position
from recruiter.services.importing import parse_candidates

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT.parent / "shared" / "examples" / "vancouver" / "candidates.csv"
CSV = EXAMPLE if EXAMPLE.exists() else ROOT / "recruiter" / "demo" / "vancouver.csv"
DIFFERENTIATOR = "hands-on aviation operations experience"


def merge(runner: CliRunner, out: Path, *extra: str):  # noqa: ANN201
    from recruiter.cli import merge_command

    return runner.invoke(merge_command, [
        str(CSV), "--position", "Operations Coordinator", "--differentiator", DIFFERENTIATOR,
        "--out", str(out), *extra], catch_exceptions=False)


@pytest.fixture(scope="module")
def rows():  # noqa: ANN201
    return parse_candidates(CSV.read_bytes()).rows


@pytest.fixture(scope="module")
def pdf_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("pdf")
    return out, merge(CliRunner(), out, "--format", "pdf")


def test_merge_writes_one_single_page_pdf_per_declined_candidate(pdf_run, rows) -> None:  # noqa: ANN001
    """29 one-page PDFs, none for the hire, each holding the name, note and differentiator."""
    out, result = pdf_run
    assert result.exit_code == 0, result.output
    pdfs = sorted(out.glob("*.pdf"))
    declined = [r for r in rows if r.outcome != "hired"]
    assert len(pdfs) == len(declined) == 29
    hire = next(r for r in rows if r.outcome == "hired")
    for row in declined:
        path = next(p for p in pdfs if p.name.startswith(f"{row.row:03d}-"))
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                              check=True).stdout
        assert "Pages:           1" in info, path.name
        text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True,
                                       text=True, check=True).stdout.split())
        assert row.full_name in text
        assert DIFFERENTIATOR in text
        if row.note:  # pdftotext drops a hyphen where a line breaks after it
            assert " ".join(row.note.split()).replace("-", "") in text.replace("-", "")
        assert hire.full_name not in text
    assert not any(p.name.startswith(f"{hire.row:03d}-") for p in pdfs)


def test_merge_warns_about_each_empty_note(pdf_run, rows) -> None:  # noqa: ANN001
    """The two candidates without notes are named in the summary's warnings."""
    _, result = pdf_run
    empty = [r for r in rows if r.outcome != "hired" and not r.note]
    assert len(empty) == 2
    for row in empty:
        assert any(row.full_name in line and "note" in line.lower()
                   for line in result.output.splitlines() if line.startswith("Warning:"))
    assert "29 letters written" in result.output


def test_letters_without_a_note_have_no_empty_paragraph(pdf_run, rows, tmp_path: Path) -> None:  # noqa: ANN001
    """A letter without a note reads naturally: no blank paragraph, no orphaned phrase."""
    out = tmp_path / "txt"
    result = merge(CliRunner(), out, "--format", "txt")
    assert result.exit_code == 0, result.output
    for row in (r for r in rows if r.outcome != "hired" and not r.note):
        text = next(out.glob(f"{row.row:03d}-*.txt")).read_text()
        assert "\n\n\n" not in text
        assert "{{" not in text and "\u27e6" not in text


def test_merge_eml_writes_one_message_per_address(rows, tmp_path: Path) -> None:  # noqa: ANN001
    """28 .eml files, each to exactly its candidate; the one without email is skipped."""
    result = merge(CliRunner(), tmp_path, "--format", "eml")
    assert result.exit_code == 0, result.output
    emls = sorted(tmp_path.glob("*.eml"))
    assert len(emls) == 28
    by_row = {r.row: r for r in rows}
    for path in emls:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        row = by_row[int(path.name[:3])]
        assert [a.addr_spec for a in msg["To"].addresses] == [row.email]
        assert msg.get_content_type() == "multipart/alternative"
    no_email = next(r for r in rows if not r.email)
    assert f"({no_email.full_name}): no email address" in result.output


def test_merge_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    """A file with an invalid row is refused whole, naming the row, unless --skip-invalid."""
    from recruiter.cli import merge_command

    bad = tmp_path / "bad.csv"
    bad.write_text("first_name,last_name,email\nAna,Silva,ana@example.com\nBo,Li,bo@@x\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(merge_command, [str(bad), "--position", "P", "--out", str(out),
                                                "--format", "txt"])
    assert result.exit_code != 0
    assert "Row 3" in result.output
    assert not out.exists() or not any(out.iterdir())
    result = CliRunner().invoke(merge_command, [str(bad), "--position", "P", "--out", str(out),
                                                "--format", "txt", "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.txt"))) == 1
    assert "Row 3" in result.output


def test_merge_unknown_template_is_refused(tmp_path: Path) -> None:
    """--template must name a shipped boilerplate, a folder or a file; the refusal lists them."""
    result = merge(CliRunner(), tmp_path, "--format", "txt", "--template", "nope")
    assert result.exit_code != 0 and "nope: no such boilerplate" in result.output
    assert "interviewed, not-interviewed" in result.output


def test_positions_add_creates_the_position_and_prints_its_id(runner, db) -> None:  # noqa: ANN001
    """The hire is set from the CSV and the id is alone on the last line."""
    result = runner.invoke(args=["positions", "add", "--title", "Operations Coordinator",
                                 "--differentiator", DIFFERENTIATOR, str(CSV)])
    assert result.exit_code == 0, result.output
    position_id = int(result.output.strip().splitlines()[-1])
    position = db.get(Position, position_id)
    assert position.status == "filled"
    assert position.differentiator == DIFFERENTIATOR
    apps = db.scalars(select(Application).where(Application.position_id == position_id)).all()
    assert len(apps) == 30
    assert [a.candidate.full_name for a in apps if a.outcome == "hired"] == ["Maya Chen"]


def test_positions_add_refuses_an_invalid_file_whole(runner, db, tmp_path: Path) -> None:  # noqa: ANN001
    """Nothing is created when a row is invalid."""
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAna Silva,ana@example.com\nBo Li,not-an-email\n")
    result = runner.invoke(args=["positions", "add", "--title", "X", str(bad)])
    assert result.exit_code != 0
    assert "Row 3" in result.output
    assert db.scalars(select(Position)).all() == []


def test_users_create_reads_the_password_from_stdin(runner, db) -> None:  # noqa: ANN001
    """The member is created with a hashed password that signs in."""
    from recruiter.services.accounts import authenticate

    result = runner.invoke(args=["users", "create", "--org", "Harbour Air", "--email",
                                 "Ana@Example.com", "--role", "manager"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    member = db.scalar(select(Member).where(Member.email == "ana@example.com"))
    assert member.role == "manager" and "a long enough" not in member.password_hash
    assert member.password_hash.startswith("$argon2id$")
    assert authenticate(db, "ana@example.com", "a long enough password") == member


def test_users_create_refuses_a_short_password(runner, db) -> None:  # noqa: ANN001
    """A short password is refused with a clear message."""
    result = runner.invoke(args=["users", "create", "--org", "O", "--email", "a@example.com",
                                 "--role", "admin"], input="short\n")
    assert result.exit_code != 0 and "at least 12 characters" in result.output
