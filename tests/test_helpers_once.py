"""One helper each for CSV formula cells, the organization's time zone and queued email ids.

Issue 14, point 5: each was written two to four times; these tests pin the one helper's
behaviour and fail when a private copy comes back.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from recruiter.models import Application, Delivery, Letter
from recruiter.services import approval, sending
from recruiter.services import letters as letters_service
from recruiter.services.csvcells import csv_safe
from recruiter.services.orgtime import org_today, org_zone, zone_named
from recruiter.services.sending import freeze as sending_freeze

PACKAGE = Path(__file__).resolve().parent.parent / "recruiter"
HEADER = ("first_name,last_name,email,address_line1,address_line2,city,region,postal_code,"
          "country,stage,outcome,note\n")


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(PACKAGE)): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


# --- the helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=SUM(A1)", "+1", "-1", "@cmd", "\tx", "\rx"])
def test_a_formula_cell_gets_a_quote(cell: str) -> None:
    """A cell starting with = + - @ tab or CR is prefixed with a quote."""
    assert csv_safe(cell) == "'" + cell


@pytest.mark.parametrize(("value", "text"), [(None, ""), ("Maya", "Maya"), (3, "3"),
                                             ("a=b", "a=b"), ("", "")])
def test_a_plain_cell_is_left_alone(value: object, text: str) -> None:
    """Other values become their text unchanged, and None an empty cell."""
    assert csv_safe(value) == text


def test_an_unknown_or_missing_zone_falls_back_to_utc() -> None:
    """A bad, empty or absent organization time zone is UTC; a good one is kept."""
    assert org_zone(SimpleNamespace(timezone="Not/A_Zone")) == ZoneInfo("UTC")
    assert org_zone(SimpleNamespace(timezone="../etc")) == ZoneInfo("UTC")
    assert org_zone(SimpleNamespace(timezone=None)) == ZoneInfo("UTC")
    assert org_zone(None) == ZoneInfo("UTC")
    assert zone_named("") == ZoneInfo("UTC")
    assert org_zone(SimpleNamespace(timezone="America/Vancouver")) == \
        ZoneInfo("America/Vancouver")


def test_org_today_is_the_day_in_the_organizations_zone() -> None:
    """The same moment is a different day in Kiritimati (+14 h), and UTC's day for a bad zone."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert org_today(SimpleNamespace(timezone="Pacific/Kiritimati"), now).isoformat() == \
        "2026-03-02"
    assert org_today(SimpleNamespace(timezone="Nowhere/Town"), now).isoformat() == "2026-03-01"
    assert org_today(SimpleNamespace(timezone="UTC")) == datetime.now(UTC).date()


@pytest.fixture
def frozen(db, make_org, make_member, make_position, monkeypatch):  # noqa: ANN001, ANN201
    """A position with two email letters and one postal letter, frozen and held."""
    monkeypatch.setattr(sending_freeze, "render_pdfs_parallel",
                        lambda letters, **_: [b"%PDF-1.7 stand-in" for _ in letters])
    rows = [HEADER, "Maya,Chen,maya@example.com,1 Main St,,Vancouver,BC,V6J 1M1,Canada,"
                    "interviewed,hired,\n"]
    for i, email in enumerate(["robin1@example.org", "robin2@example.org", ""], start=1):
        rows.append(f"Robin,Tremblay{i},{email},{i} Granville St,,Vancouver,BC,V6C 1T1,Canada,"
                    f"interviewed,declined,Your dock audit {i} stood out.\n")
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv="".join(rows).encode())
    letters = letters_service.refresh_letters(db, position)
    approval.approve_all(db, position, member, acknowledge_warnings=True,
                                expected_count=sum(x.status == "draft" for x in letters))
    batch, created = sending.freeze_batch(db, position, member, hold_until_accepted=True)
    db.commit()
    assert created and batch.state == "held"
    return SimpleNamespace(position=position, batch=batch)


def test_queued_email_ids_are_the_batchs_queued_emails(db, frozen) -> None:  # noqa: ANN001
    """Nothing is queued while held; on release, exactly the email deliveries, by id."""
    assert sending.queued_email_ids(db, frozen.batch) == []
    released = sending.release(db, frozen.position)
    db.commit()
    emails = list(db.scalars(
        select(Delivery.id).join(Letter).join(Application)
        .where(Application.position_id == frozen.position.id, Delivery.channel == "email")
        .order_by(Delivery.id)))
    assert len(emails) == 2
    assert sending.queued_email_ids(db, frozen.batch) == emails == sorted(released)
    first = db.get(Delivery, emails[0])
    first.state = "sent"
    db.flush()
    assert sending.queued_email_ids(db, frozen.batch) == emails[1:]


# --- no copies ------------------------------------------------------------------------------------


def test_the_old_private_copies_are_gone() -> None:
    """No module defines its own neutraliser, zone fallback or queued-ids query again."""
    # views/sending.py keeps _zone(position): a lookup of the org, no fallback of its own.
    retired = {"_csv_safe", "_cell", "_org_today", "_org_day", "queued_emails"}
    triggers = ("=", "+", "-", "@", "\t", "\r")
    zone_fallbacks = {"services/orgtime.py"}
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in retired:
                found.append(f"{name}: def {node.name}")
            if isinstance(node, ast.Name | ast.alias) and \
                    getattr(node, "id", getattr(node, "name", "")) == "ZoneInfoNotFoundError" \
                    and name not in zone_fallbacks:
                found.append(f"{name}: ZoneInfoNotFoundError")
            if isinstance(node, ast.Tuple) and name != "services/csvcells.py" and \
                    tuple(getattr(x, "value", None) for x in node.elts) == triggers:
                found.append(f"{name}: formula triggers")
            if isinstance(node, ast.ImportFrom) and \
                    any(a.name in retired for a in node.names):
                found.append(f"{name}: imports {[a.name for a in node.names]}")
    assert found == []


def test_queued_emails_are_selected_in_one_place() -> None:
    """Only ``queued_email_ids`` compares a delivery to both "email" and "queued"."""
    found = []
    for name, tree in _modules().items():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef) or func.name == "queued_email_ids":
                continue
            constants = {c.comparators[0].value for c in ast.walk(func)
                         if isinstance(c, ast.Compare) and len(c.comparators) == 1
                         and isinstance(c.comparators[0], ast.Constant)}
            if {"email", "queued"} <= constants:
                found.append(f"{name}: {func.name}")
    assert found == []
