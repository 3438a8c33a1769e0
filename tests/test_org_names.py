"""Organization names are unambiguous (issue 13, point 2).

Names are unique whatever their case, and `--org` takes an id or an exact name, refusing
anything that could mean another organization.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from recruiter.errors import RecruiterError
from recruiter.extensions import db as _db
from recruiter.models import Member, Organization, Position
from recruiter.services.accounts import create_organization, find_organization

# SQLite cannot reflect the expression index of migration 0007 and says so when a later
# migration's batch operation reads the organization table.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index uq_organization_name_lower")

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "recruiter" / "demo" / "vancouver.csv"
SETTINGS = {
    "address": "1055 West Hastings Street", "sender_name": "Jordan Reyes",
    "sender_title": "Operations Manager", "sender_email": "careers@example.com",
    "timezone": "America/Vancouver", "locale": "en_CA", "send_rate_per_minute": "60",
}


def members_of(db, org: Organization) -> list[str]:  # noqa: ANN001
    """The emails of the organization's members."""
    db.expire_all()
    return list(db.scalars(select(Member.email).where(Member.organization_id == org.id)))


def test_renaming_to_another_organizations_name_in_other_case_is_refused(
        client, db, login, make_org) -> None:  # noqa: ANN001
    """The settings form says "already taken" and does not say which organization has it."""
    victim = make_org("Pacific Coastal Freight")
    attacker = make_org("Evil Logistics")
    login("admin", org=attacker)
    response = client.post("/organization", data={**SETTINGS, "name": "PACIFIC coastal freight"})
    assert response.status_code == 200
    assert "already taken" in response.text
    assert f"id {victim.id}" not in response.text and "Pacific Coastal Freight" not in response.text
    db.expire_all()
    assert db.get(Organization, attacker.id).name == "Evil Logistics"
    own = client.post("/organization", data={**SETTINGS, "name": "EVIL Logistics"})
    assert own.status_code == 302  # its own name in another case is fine
    db.expire_all()
    assert db.get(Organization, attacker.id).name == "EVIL Logistics"


def test_users_create_never_writes_into_an_organization_matched_only_by_case(
        runner, db, make_org) -> None:  # noqa: ANN001
    """A case-insensitive-only match is refused, listing the candidate; nothing is created."""
    victim = make_org("Pacific Coastal Freight")
    result = runner.invoke(args=["users", "create", "--org", "pacific coastal freight",
                                 "--email", "mallory@example.com", "--role", "admin"],
                           input="a long enough password\n")
    assert result.exit_code != 0
    assert f"id {victim.id}: 'Pacific Coastal Freight'" in result.output
    assert members_of(db, victim) == []
    assert db.scalar(select(func.count()).select_from(Organization)) == 1
    for org_arg in ("Pacific Coastal Freight", str(victim.id)):
        email = f"ana{len(org_arg)}@example.com"
        result = runner.invoke(args=["users", "create", "--org", org_arg, "--email", email,
                                     "--role", "manager"], input="a long enough password\n")
        assert result.exit_code == 0, result.output
        assert email in members_of(db, victim)


def test_users_create_still_creates_an_organization_no_name_matches(runner, db) -> None:  # noqa: ANN001
    """A name that matches nothing, in any case, creates the organization as before."""
    result = runner.invoke(args=["users", "create", "--org", "Brand New Ltd", "--email",
                                 "first@example.com", "--role", "admin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert db.scalar(select(Organization.name)) == "Brand New Ltd"
    result = runner.invoke(args=["users", "create", "--org", "999", "--email",
                                 "second@example.com", "--role", "admin"],
                           input="a long enough password\n")
    assert result.exit_code != 0 and "no organization with id 999" in result.output


def test_positions_add_refuses_a_name_matched_only_by_case(runner, db, make_org) -> None:  # noqa: ANN001
    """`positions add --org` refuses a loose match and accepts the exact name or the id."""
    victim = make_org("Pacific Coastal Freight")
    make_org("Harbour Air Logistics")
    args = ["positions", "add", str(CSV), "--title", "Dispatcher"]
    result = runner.invoke(args=[*args, "--org", "PACIFIC COASTAL FREIGHT"])
    assert result.exit_code != 0 and f"id {victim.id}: 'Pacific Coastal Freight'" in result.output
    assert db.scalar(select(func.count()).select_from(Position)) == 0
    result = runner.invoke(args=[*args, "--org", str(victim.id)])
    assert result.exit_code == 0, result.output
    assert db.scalar(select(Position.organization_id)) == victim.id


def test_an_id_that_is_also_another_organizations_name_is_ambiguous(db, make_org) -> None:  # noqa: ANN001
    """A value that is one organization's id and another's exact name lists both."""
    first = make_org("Harbour Air Logistics")
    second = make_org(str(first.id))
    with pytest.raises(RecruiterError) as refused:
        find_organization(db, str(first.id))
    assert f"id {first.id}: 'Harbour Air Logistics'" in str(refused.value)
    assert f"id {second.id}: '{first.id}'" in str(refused.value)
    assert find_organization(db, "Harbour Air Logistics") == first
    assert find_organization(db, "Nobody") is None


def test_names_are_unique_whatever_their_case(db, make_org) -> None:  # noqa: ANN001
    """The service refuses a case variant, and so does the database's unique index."""
    make_org("Pacific Coastal Freight")
    with pytest.raises(RecruiterError, match="already taken"):
        create_organization(db, "  pacific   COASTAL freight ")
    db.rollback()
    with pytest.raises(IntegrityError):
        db.execute(insert(Organization).values(name="PACIFIC COASTAL FREIGHT"))
        db.flush()
    db.rollback()




def test_migration_0007_refuses_while_names_clash(empty_app: Flask) -> None:
    """The upgrade lists the clashing organizations, then succeeds once they are renamed."""
    upgrade(revision="0006")
    with _db.engine.begin() as conn:
        for name in ("Acme Staffing", "ACME staffing", "Other"):
            conn.execute(text("INSERT INTO organization (name, address, timezone, locale, "
                              "sender_name, sender_title, sender_email, retention_months, "
                              "send_rate_per_minute, import_mapping, created_at) VALUES "
                              "(:name, '', 'UTC', 'en', '', '', '', 12, 60, '{}', "
                              "CURRENT_TIMESTAMP)"), {"name": name})
        ids = dict(conn.execute(text("SELECT name, id FROM organization")).all())
    config = empty_app.extensions["migrate"].migrate.get_config()
    with pytest.raises(RuntimeError) as refused:  # alembic's own call: flask_migrate exits 1
        command.upgrade(config, "0007")
    message = str(refused.value)
    assert "must differ in more than case" in message
    assert f"id {ids['Acme Staffing']}: 'Acme Staffing'" in message
    assert f"id {ids['ACME staffing']}: 'ACME staffing'" in message and "Other" not in message
    with _db.engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
        conn.execute(text("UPDATE organization SET name = 'Acme Staffing East' "
                          "WHERE name = 'ACME staffing'"))
    upgrade(revision="0007")
    with pytest.raises(IntegrityError), _db.engine.begin() as conn:
        conn.execute(text("UPDATE organization SET name = 'OTHER' WHERE name = "
                          "'Acme Staffing'"))
