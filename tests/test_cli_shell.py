"""The `recruiter` command as a person meets it: its help, its version, a fresh instance.

These run the console script's group (``recruiter.cli.command_line``) on an instance folder of
their own, as `recruiter …` does in a shell, not through an app the tests built.
"""

from __future__ import annotations

import sqlite3
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from recruiter.cli import command_line

PASSWORD = "a long enough password\n"
# Migrating SQLite reflects organization, whose lower(name) index it cannot read back (0007).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index uq_organization_name_lower")


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run `recruiter ARGS` on a fresh instance folder; returns (run, database file)."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("RECRUITER_DATABASE_URL", f"sqlite:///{tmp_path / 'recruiter.db'}")
    monkeypatch.setenv("RECRUITER_QUEUE_URL", "memory://")
    monkeypatch.delenv("FLASK_APP", raising=False)

    def run(*args: str, stdin: str | None = None):  # noqa: ANN202
        return CliRunner().invoke(command_line(), list(args), input=stdin,
                                  prog_name="recruiter")

    return run, tmp_path / "recruiter.db"


def test_the_help_is_recruiters_not_flasks(shell) -> None:  # noqa: ANN001
    run, _ = shell
    result = run("--help")
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands:")[1].split()
    for ours in ("audit", "candidates", "db", "letters", "merge", "positions", "serve", "users",
                 "worker"):
        assert ours in commands
    for theirs in ("run", "shell", "routes", "limiter"):
        assert theirs not in commands
    assert "Flask" not in result.output and "--app" not in result.output
    assert "recruiter serve" in result.output  # where to start
    version = run("--version")
    assert version.output.strip() == f"recruiter {metadata.version('recruiter')}"
    assert "Flask" not in version.output
    assert run("shell").exit_code != 0  # not a recruiter command


def test_a_fresh_instance_is_set_up_by_the_first_command(shell) -> None:  # noqa: ANN001
    """`users create` on a database nobody migrated: set up, then done; no traceback."""
    run, database = shell
    result = run("users", "create", "--org", "Harbour Air", "--email", "ana@example.com",
                 "--role", "admin", stdin=PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Set up a new database" in result.output
    assert "Created admin ana@example.com in Harbour Air." in result.output
    again = run("users", "create", "--org", "Harbour Air", "--email", "bo@example.com",
                "--role", "manager", stdin=PASSWORD)
    assert again.exit_code == 0 and "Set up" not in again.output  # once only


def test_an_outdated_database_is_named_with_the_command_that_updates_it(shell) -> None:  # noqa: ANN001
    run, database = shell
    assert run("users", "create", "--org", "Org", "--email", "ana@example.com", "--role",
               "admin", stdin=PASSWORD).exit_code == 0
    with sqlite3.connect(database) as conn:  # as if an older recruiter had migrated it
        head = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.execute("UPDATE alembic_version SET version_num = '0008'")
    result = run("users", "create", "--org", "Org", "--email", "bo@example.com", "--role",
                 "admin", stdin=PASSWORD)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: The database is at migration 0008 and this recruiter needs {head}: run "
        "`recruiter db upgrade` first.")
    assert "Traceback" not in result.output
    with sqlite3.connect(database) as conn:  # nothing was changed behind the operator's back
        assert conn.execute("SELECT count(*) FROM member").fetchone()[0] == 1
    # `merge` needs no database: an outdated one next to it does not stop it.
    demo = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"
    out = database.parent / "letters-out"
    merged = run("merge", str(demo), "--position", "Operations Coordinator", "--format", "txt",
                 "--out", str(out))
    assert merged.exit_code == 0, merged.output
    assert "29 letters written" in merged.output and len(list(out.glob("*.txt"))) == 29
