"""One single-line rule for names, titles and addresses: forms, the import and the CLI."""

from __future__ import annotations

import pytest

from recruiter.errors import RecruiterError
from recruiter.services.importing import parse_candidates
from recruiter.services.text import check_single_line, single_line_problem

BAD = [("Maya\nChen", "line break"), ("Maya\u2028Chen", "line break"),
       ("Maya\x1bChen", "U+001B"), ("Maya\u202eneHC", "U+202E"), ("Maya\u2066Chen", "U+2066"),
       ("Maya\x85Chen", "line break"), ("Maya\x7fChen", "U+007F")]


@pytest.mark.parametrize(("value", "words"), BAD)
def test_control_characters_and_direction_overrides_are_refused(value: str, words: str) -> None:
    """Line breaks of every kind, controls and bidi overrides are named; the field is named."""
    assert words in (single_line_problem(value) or "")
    with pytest.raises(RecruiterError, match="The organization name"):
        check_single_line(value, "organization name")


@pytest.mark.parametrize("value", ["Zoë Lefebvre", "محمد بن سلمان", "王小明", "O'Brien-Smith",
                                   "\u200fשרה\u200f", "Tab\tok", ""])
def test_ordinary_names_in_any_script_pass(value: str) -> None:
    """Names in any script, apostrophes, hyphens and the plain direction marks are fine."""
    assert single_line_problem(value) is None


def test_the_import_names_the_row_and_field() -> None:
    """A direction override in a CSV cell is a row problem naming the row and the field."""
    parsed = parse_candidates("first_name,last_name\nMaya,\u202enehC\n".encode())
    assert parsed.problems[0].message.startswith("Row 2: the last name contains the invisible "
                                                 "direction control U+202E")


def test_a_form_refuses_it_with_the_field(client, login) -> None:  # noqa: ANN001
    """The position form refuses a title with a direction override and keeps nothing."""
    login("manager")
    response = client.post("/positions/new", data={"title": "Dispatch\u202e Lead",
                                                   "boilerplate": "auto"})
    assert response.status_code == 200
    assert "This contains the invisible direction control U+202E" in response.text


def test_the_organization_form_refuses_a_line_break(client, login) -> None:  # noqa: ANN001
    """Organization name and signer refuse CR/LF in the form, not only later at freezing."""
    admin = login("admin")
    org = admin.organization
    form = {"name": org.name, "address": "1 Main St", "sender_name": "Jordan\r\nBcc: x",
            "sender_title": "", "sender_email": "hiring@example.com", "timezone": "UTC",
            "locale": "en", "send_rate_per_minute": "60"}
    response = client.post("/organization", data=form)
    assert "This contains a line break" in response.text
    assert org.sender_name != "Jordan\r\nBcc: x"


def test_the_cli_refuses_it_naming_the_option(runner, tmp_path) -> None:  # noqa: ANN001
    """`recruiter merge --sender` with a line break stops before reading the file."""
    csv = tmp_path / "c.csv"
    csv.write_text("first_name,last_name,email\nZoë,Lefebvre,zoe@example.net\n")
    result = runner.invoke(args=["merge", str(csv), "--position", "Dispatch", "--sender",
                                 "Jordan\nReyes", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "--sender" in result.output and "line break" in result.output
    assert not (tmp_path / "out").exists()
