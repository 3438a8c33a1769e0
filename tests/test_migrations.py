"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import POSTGRES_URL
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, Table, inspect, text

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
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0018"


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


# --- 0009: frozen letters and resolutions move out of prose and blobs, with their data -------


def _insert(conn, table_name: str, **values) -> int:  # noqa: ANN001, ANN003
    """Insert a row into a reflected table, filling every other required column plainly."""
    table = Table(table_name, MetaData(), autoload_with=conn)
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = str
        values[column.name] = {int: 0, bool: False, str: "", datetime: STAMP, bytes: b"",
                               dict: {}, list: []}.get(kind, "")
    return conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()


STAMP = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EML, PDF = b"From: a@example.com\r\nSubject: x\r\n\r\nhello\r\n", b"%PDF-1.7 frozen"


def _fill_0008(conn) -> dict[str, int]:  # noqa: ANN001
    """A sent email letter someone resent by hand, a posted letter, and a draft."""
    ids: dict[str, int] = {}
    org = ids["org"] = _insert(conn, "organization", name="Harbour Air", timezone="UTC",
                               locale="en", retention_months=12, send_rate_per_minute=60,
                               created_at=STAMP)
    ana = ids["ana"] = _insert(conn, "member", organization_id=org, email="ana@example.com",
                               name="Ana Lee", role="admin", created_at=STAMP)
    position = _insert(conn, "position", organization_id=org, title="Pilot", status="filled",
                       created_at=STAMP)
    bp = _insert(conn, "boilerplate", organization_id=org, name="decline", created_at=STAMP)
    version = ids["version"] = _insert(conn, "boilerplate_version", boilerplate_id=bp,
                                       number=1, subject="s", body="b", created_at=STAMP)
    batch = ids["batch"] = _insert(conn, "batch", organization_id=org, position_id=position,
                                   approved_by_id=ana, approved_at=STAMP, state="released",
                                   hold_until_accepted=False)
    for key, channel in (("email", "email"), ("post", "post"), ("draft", "email")):
        candidate = _insert(conn, "candidate", organization_id=org, first_name=key,
                            last_name="Doe", created_at=STAMP,
                            email=f"{key}@example.com" if channel == "email" else None)
        application = _insert(conn, "application", organization_id=org, position_id=position,
                              candidate_id=candidate, outcome="declined", channel=channel,
                              created_at=STAMP)
        frozen = key != "draft"
        ids[key] = _insert(
            conn, "letter", organization_id=org, application_id=application,
            boilerplate_version_id=version, batch_id=batch if frozen else None,
            status="sent" if frozen else "draft", created_at=STAMP, updated_at=STAMP,
            message_id=f"<{key}@harbourair.example.com>" if frozen else None,
            eml=EML if key == "email" else None,
            eml_sha256=sha256(EML).hexdigest() if key == "email" else None,
            pdf=PDF if key == "post" else None,
            pdf_sha256=sha256(PDF).hexdigest() if key == "post" else None,
            frozen_at=STAMP if frozen else None)
    ids["resent"] = _insert(
        conn, "delivery", organization_id=org, letter_id=ids["email"], channel="email",
        state="sent", attempts=2, created_at=STAMP, sent_at=STAMP, resolved_by_id=ana,
        last_error="after DATA: 451 try later; resend by Ana Lee at 2026-12-01 10:05 UTC")
    ids["posted"] = _insert(
        conn, "delivery", organization_id=org, letter_id=ids["post"], channel="post",
        state="sent", attempts=0, created_at=STAMP, sent_at=STAMP, resolved_by_id=ana,
        server_reply="posted, confirmed by Ana Lee")
    return ids


def test_0009_moves_frozen_bytes_and_decisions_with_their_data(empty_app: Flask) -> None:
    upgrade(revision="0008")
    with db.engine.begin() as conn:
        ids = _fill_0008(conn)
    upgrade(revision="0009")
    with db.engine.connect() as conn:
        frozen = {row.letter_id: row for row in conn.execute(text(
            "SELECT letter_id, batch_id, boilerplate_version_id, message_id, eml, eml_sha256, "
            "pdf, pdf_sha256, frozen_at FROM frozen_letter"))}
        assert set(frozen) == {ids["email"], ids["post"]}  # the draft was never frozen
        email, post = frozen[ids["email"]], frozen[ids["post"]]
        assert (bytes(email.eml), email.eml_sha256, email.pdf) == (
            EML, sha256(EML).hexdigest(), None)
        assert (bytes(post.pdf), post.pdf_sha256, post.eml) == (PDF, sha256(PDF).hexdigest(),
                                                                None)
        assert email.message_id == "<email@harbourair.example.com>"
        assert (email.batch_id, email.boilerplate_version_id) == (ids["batch"], ids["version"])
        columns = {c["name"] for c in inspect(conn).get_columns("letter")}
        assert not columns & {"eml", "pdf", "eml_sha256", "pdf_sha256", "message_id",
                              "frozen_at"}
        decisions = conn.execute(text(
            "SELECT delivery_id, member_id, action, at FROM resolution ORDER BY id")).all()
        assert [(d.delivery_id, d.member_id, d.action) for d in decisions] == [
            (ids["resent"], ids["ana"], "resend"), (ids["posted"], ids["ana"], "posted")]
        assert str(decisions[0].at).startswith("2026-12-01 10:05")
        errors = dict(conn.execute(text("SELECT id, last_error FROM delivery")).all())
        assert errors[ids["resent"]] == "after DATA: 451 try later"  # the prose is gone
    # ...and back: the bytes return to the letter, the decision to its words.
    downgrade(revision="0008")
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT eml, pdf, message_id FROM letter WHERE id = :id"),
                           {"id": ids["email"]}).one()
        assert (bytes(row.eml), row.pdf, row.message_id) == (
            EML, None, "<email@harbourair.example.com>")
        back = conn.execute(text("SELECT last_error, resolved_by_id FROM delivery WHERE id = "
                                 ":id"), {"id": ids["resent"]}).one()
        assert back.last_error == ("after DATA: 451 try later; resend by Ana Lee at "
                                   "2026-12-01 10:05 UTC")
        assert back.resolved_by_id == ids["ana"]
    upgrade()
