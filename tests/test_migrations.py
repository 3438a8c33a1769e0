"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import POSTGRES_URL
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from recruiter.extensions import db

# SQLite cannot reflect the expression index on lower(organization.name) (migration 0007), and
# says so whenever a batch operation (SQLite's way to alter a table) reads that table or one
# that refers to it; the index itself is created and dropped without a batch.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index uq_organization_name_lower")




# SQLite cannot reflect the expression index on lower(organization.name) (migration 0007);
# PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
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
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set RECRUITER_TEST_POSTGRES_URL to run it")
@pytest.mark.parametrize("database_url", [POSTGRES_URL], ids=["postgres"])
def test_the_migrated_audit_table_is_append_only_on_postgresql(empty_app: Flask) -> None:
    """UPDATE, DELETE (migration 0002) and TRUNCATE (0004) of audit events are refused.

    SQLite has no such triggers; there `recruiter audit verify` finds any change.
    """
    upgrade()
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO organization (name, address, timezone, locale, "
                          "sender_name, sender_title, sender_email, retention_months, "
                          "send_rate_per_minute, created_at) VALUES ('Org', '', 'UTC', 'en', "
                          "'', '', '', 12, 60, now())"))
        conn.execute(text("INSERT INTO audit_event (organization_id, seq, action, "
                          "subject_type, subject_id, created_at, payload, prev_hash, hash) "
                          "SELECT id, 1, 'test', '', NULL, now(), '{}', 'x', 'y' "
                          "FROM organization"))
    for statement in ("UPDATE audit_event SET action = 'changed'", "DELETE FROM audit_event",
                      "TRUNCATE audit_event"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_event")).scalars().all() == ["test"]
