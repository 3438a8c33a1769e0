"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from recruiter import create_app
from recruiter.extensions import db


@pytest.fixture
def empty_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              database_url: str) -> Iterator[Flask]:
    """The app on a database with no tables at all."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": database_url})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        yield app
        db.session.remove()
        db.engine.dispose()


def test_upgrade_builds_exactly_the_models_schema(empty_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"organization", "member", "position", "candidate", "application", "boilerplate",
            "boilerplate_version", "letter"} <= tables


def test_downgrade_to_base_and_up_again(empty_app: Flask) -> None:
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "letter" in inspect(db.engine).get_table_names()


def test_recruiter_db_upgrade_command(empty_app: Flask) -> None:
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
