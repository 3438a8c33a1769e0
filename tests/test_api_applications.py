"""The API's applications: list, read, bulk upsert by external id, outcomes and notes (issue 15)."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import VANCOUVER
from flask.testing import FlaskClient
from sqlalchemy import func, select

from recruiter.models import Application, AuditEvent, Candidate, Position

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")
FIELDS = ("first_name", "last_name", "email", "address_line1", "address_line2", "city",
          "region", "postal_code", "country")


def token(runner, org, scope: str = "write") -> str:  # noqa: ANN001
    """A new token of ``org`` made on the command line; its secret."""
    result = runner.invoke(args=["tokens", "create", "--org", org.name, "--name",
                                 f"ATS {scope}", "--scope", scope])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def call(client: FlaskClient, secret: str | None, method: str, path: str,  # noqa: ANN201
         body: object = None, **headers: str):
    """One API request with the token."""
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    return client.open("/api/v1" + path, method=method, json=body,
                       headers={k.replace("_", "-"): v for k, v in headers.items()})


def vancouver_items() -> list[dict]:
    """The 30 Vancouver applicants as an ATS would send them, with external ids."""
    rows = csv.DictReader(io.StringIO(VANCOUVER.read_text(encoding="utf-8")))
    items = []
    for number, row in enumerate(rows, start=1):
        stage = row["stage"] if row["stage"] in ("applied", "screened", "interviewed") \
            else "screened"
        items.append({"external_id": f"gh-{number:04d}", **{f: row[f] for f in FIELDS},
                      "stage": stage, "internal_note": f"Phone screen {number}: solid."})
    return items


def open_position(client: FlaskClient, secret: str, **fields: object) -> str:
    """A new empty position through the API; its id."""
    made = call(client, secret, "POST", "/positions", {"title": "Operations Coordinator",
                                                       **fields})
    assert made.status_code == 201, made.json
    return made.json["id"]


def count(db, model, *where) -> int:  # noqa: ANN001
    """Rows of ``model`` matching ``where``."""
    return db.scalar(select(func.count()).select_from(model).where(*where))


def test_upsert_creates_then_the_same_import_changes_nothing(db, client, runner,  # noqa: ANN001
                                                             make_org) -> None:
    """Created, then unchanged (no audit, no review bump), then only what differs is updated."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    items = vancouver_items()
    first = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
                 {"applications": items})
    assert first.status_code == 200, first.json
    assert (first.json["created"], first.json["updated"], first.json["unchanged"]) == (30, 0, 0)
    assert set(first.json["ids"]) == {i["external_id"] for i in items}
    assert all(isinstance(v, str) for v in first.json["ids"].values())
    events = count(db, AuditEvent, AuditEvent.action == "applications.upserted")
    version = db.scalar(select(Position.review_version).where(Position.id == int(position_id)))

    again = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
                 {"applications": items})
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 30)
    assert again.json["ids"] == first.json["ids"]
    assert count(db, AuditEvent, AuditEvent.action == "applications.upserted") == events == 1
    db.expire_all()
    assert db.scalar(select(Position.review_version)
                     .where(Position.id == int(position_id))) == version

    changed = [dict(items[4], email="NEW.Address@Example.COM"), {"external_id": "gh-0007",
                                                                 "stage": "interviewed"}]
    third = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
                 {"applications": changed})
    assert (third.json["created"], third.json["updated"], third.json["unchanged"]) == (0, 2, 0)
    fifth = call(client, secret, "GET", f"/applications/{first.json['ids']['gh-0005']}").json
    assert fifth["email"] == "NEW.Address@example.com"  # normalised as the browser does
    assert fifth["first_name"] == items[4]["first_name"]  # fields left out are kept
    seventh = call(client, secret, "GET", f"/applications/{first.json['ids']['gh-0007']}").json
    assert seventh["stage"] == "interviewed" and seventh["last_name"] == items[6]["last_name"]
    assert count(db, Application, Application.position_id == int(position_id)) == 30
    assert count(db, AuditEvent, AuditEvent.action == "applications.upserted") == 2


def test_list_filters_and_pages_applications(client, runner, make_org) -> None:  # noqa: ANN001
    """Every field, the filters, and keyset pages that cover the list once."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
         {"applications": vancouver_items()})
    seen, cursor = [], None
    while True:
        query = f"?limit=7&cursor={cursor}" if cursor else "?limit=7"
        page = call(client, secret, "GET", f"/positions/{position_id}/applications{query}")
        assert page.status_code == 200, page.json
        seen += page.json["data"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 30 and len({a["id"] for a in seen}) == 30
    first = seen[0]
    assert first["external_id"] == "gh-0001" and first["first_name"] == "Maya"
    assert first["outcome"] == "pending" and first["has_note"] is False
    assert first["created_at"].endswith("Z") and first["position_id"] == position_id
    assert "internal_note" not in first
    one = call(client, secret, "GET",
               f"/positions/{position_id}/applications?external_id=gh-0003").json["data"]
    assert [a["external_id"] for a in one] == ["gh-0003"]
    screened = call(client, secret, "GET",
                    f"/positions/{position_id}/applications?stage=screened").json["data"]
    assert screened and all(a["stage"] == "screened" for a in screened)
    bad = call(client, secret, "GET", f"/positions/{position_id}/applications?outcome=maybe")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "outcome"


def test_one_bad_row_refuses_the_whole_request_naming_it(db, client, runner,  # noqa: ANN001
                                                         make_org) -> None:
    """Row-named errors (pydantic's and the service's); nothing half-written."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    path = f"/positions/{position_id}/applications/bulk"
    items = vancouver_items()
    for broken, field in (
            (dict(items[17], email="not an address"), "applications[17].email"),
            (dict(items[17], email=items[3]["email"].upper()), "applications[17].email"),
            (dict(items[17], external_id=items[2]["external_id"]),
             "applications[17].external_id"),
            (dict(items[17], first_name="", last_name=""), "applications[17].first_name"),
            (dict(items[17], stage="offer"), "applications[17].stage"),
            (dict(items[17], nickname="Mo"), "applications[17].nickname"),
            (dict(items[17], city="Van\x00couver"), "applications[17].city"),
            (dict(items[17], channel="email", email=""), "applications[17].channel")):
        refused = call(client, secret, "POST", path,
                       {"applications": [*items[:17], broken, *items[18:]]})
        assert refused.status_code == 422, (field, refused.json)
        assert refused.mimetype == "application/problem+json"
        assert field in [e["field"] for e in refused.json["errors"]], refused.json
        assert refused.json["detail"].startswith("applications[")
    assert count(db, Application) == 0 and count(db, Candidate) == 0
    assert count(db, AuditEvent, AuditEvent.action == "applications.upserted") == 0
    too_many = call(client, secret, "POST", path, {"applications": [items[0]] * 5001})
    assert too_many.status_code == 422
    assert too_many.json["errors"][0]["field"] == "applications"


def test_a_candidate_added_in_the_browser_is_adopted_by_email(db, client, runner, make_org,  # noqa: ANN001
                                                              make_position) -> None:
    """Candidates imported from CSV get the ATS's ids instead of being added twice."""
    org = make_org()
    position = make_position(org=org)
    secret = token(runner, org)
    result = call(client, secret, "POST", f"/positions/{position.id}/applications/bulk",
                  {"applications": vancouver_items()[:5]})
    assert result.status_code == 200, result.json
    assert (result.json["created"], result.json["updated"]) == (0, 5)
    assert count(db, Application, Application.position_id == position.id) == 30
    hired = db.scalar(select(Application).where(Application.external_id == "gh-0001"))
    assert hired.outcome == "hired"  # an upsert never changes an outcome


def test_outcomes_go_through_the_state_model(client, runner, make_org) -> None:  # noqa: ANN001
    """409 with the plan's words; confirm (and raise_openings) to go ahead."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    ids = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
               {"applications": vancouver_items()[:3]}).json["ids"]
    hire = call(client, secret, "POST", f"/applications/{ids['gh-0001']}/outcome",
                {"outcome": "hired"})
    assert hire.status_code == 200, hire.json
    assert hire.json["application"]["outcome"] == "hired"
    assert hire.json["changes"][0]["before"] == "pending"
    second = call(client, secret, "POST", f"/applications/{ids['gh-0002']}/outcome",
                  {"outcome": "hired"})
    assert second.status_code == 409 and second.mimetype == "application/problem+json"
    assert "raise_openings" in second.json["detail"]
    assert second.json["errors"][0]["field"] == "raise_openings"
    raised = call(client, secret, "POST", f"/applications/{ids['gh-0002']}/outcome",
                  {"outcome": "hired", "raise_openings": True})
    assert raised.status_code == 409 and "openings go from 1 to 2" in raised.json["detail"]
    done = call(client, secret, "POST", f"/applications/{ids['gh-0002']}/outcome",
                {"outcome": "hired", "raise_openings": True, "confirm": True})
    assert done.status_code == 200, done.json
    assert call(client, secret, "GET", f"/positions/{position_id}").json["openings"] == 2
    decline = call(client, secret, "POST", f"/applications/{ids['gh-0001']}/outcome",
                   {"outcome": "declined"})
    assert decline.status_code == 409 and "confirm" in decline.json["detail"]
    assert decline.json["errors"][0]["field"] == "confirm"
    assert call(client, secret, "GET", f"/applications/{ids['gh-0001']}").json["outcome"] \
        == "hired"
    confirmed = call(client, secret, "POST", f"/applications/{ids['gh-0001']}/outcome",
                     {"outcome": "declined", "confirm": True})
    assert confirmed.status_code == 200 and "drafted" in confirmed.json["changes"][0]["letter"]
    wrong = call(client, secret, "POST", f"/applications/{ids['gh-0003']}/outcome",
                 {"outcome": "fired"})
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "outcome"


def test_notes_need_if_match_and_two_writers_never_overwrite(client, runner,  # noqa: ANN001
                                                             make_org) -> None:
    """ETag on read; 428 without If-Match; 412 when stale; the second writer is refused."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    ids = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
               {"applications": vancouver_items()[:2]}).json["ids"]
    path = f"/applications/{ids['gh-0002']}/note"
    read = call(client, secret, "GET", path)
    assert read.status_code == 200 and read.headers["ETag"] == '"0"'
    assert read.json == {"note": "", "revision": 0, "updated_at": None}

    missing = call(client, secret, "PUT", path, {"note": "Kind words."})
    assert missing.status_code == 428 and missing.mimetype == "application/problem+json"
    assert missing.json["errors"][0]["field"] == "If-Match"
    first = call(client, secret, "PUT", path, {"note": "Your roster work stood out."},
                 If_Match='"0"')
    assert first.status_code == 200, first.json
    assert first.headers["ETag"] == '"1"' and first.json["revision"] == 1
    assert first.json["updated_at"].endswith("Z")

    # Two writers both read revision 1; the first to save wins, the second is told.
    etag = call(client, secret, "GET", path).headers["ETag"]
    alice = call(client, secret, "PUT", path, {"note": "Alice's words."}, If_Match=etag)
    bob = call(client, secret, "PUT", path, {"note": "Bob's words."}, If_Match=etag)
    assert alice.status_code == 200 and alice.headers["ETag"] == '"2"'
    assert bob.status_code == 412 and bob.mimetype == "application/problem+json"
    assert bob.headers["ETag"] == '"2"'
    assert call(client, secret, "GET", path).json["note"] == "Alice's words."
    weak = call(client, secret, "PUT", path, {"note": "x"}, If_Match='W/"2"')
    assert weak.status_code == 412
    again = call(client, secret, "PUT", path, {"note": "Bob's, merged."}, If_Match='"7", "2"')
    assert again.status_code == 200 and again.headers["ETag"] == '"3"'
    assert call(client, secret, "GET", f"/applications/{ids['gh-0002']}").json["has_note"]


def test_a_repeated_idempotency_key_replays_the_upsert(db, client, runner,  # noqa: ANN001
                                                       make_org) -> None:
    """The same key and body answer as the first time, without acting twice."""
    secret = token(runner, make_org())
    position_id = open_position(client, secret)
    path = f"/positions/{position_id}/applications/bulk"
    body = {"applications": vancouver_items()[:4]}
    first = call(client, secret, "POST", path, body, Idempotency_Key="import-42")
    replay = call(client, secret, "POST", path, body, Idempotency_Key="import-42")
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json == first.json and replay.json["created"] == 4
    other = call(client, secret, "POST", path, {"applications": vancouver_items()[:5]},
                 Idempotency_Key="import-42")
    assert other.status_code == 422
    assert count(db, Application) == 4


def test_each_token_sees_only_its_rights_and_its_organization(db, client, runner,  # noqa: ANN001
                                                              make_org) -> None:
    """Read token: reads only (403); no token: 401; another organization's ids: 404."""
    ours, theirs = make_org("Harbour Air Logistics"), make_org("Fraser Valley Freight")
    write, read, other = token(runner, ours), token(runner, ours, "read"), token(runner, theirs)
    position_id = open_position(client, write)
    application_id = call(client, write, "POST", f"/positions/{position_id}/applications/bulk",
                          {"applications": vancouver_items()[:1]}).json["ids"]["gh-0001"]
    reads = [("GET", f"/positions/{position_id}/applications", None),
             ("GET", f"/applications/{application_id}", None),
             ("GET", f"/applications/{application_id}/note", None)]
    writes = [("POST", f"/positions/{position_id}/applications/bulk",
               {"applications": vancouver_items()[:1]}),
              ("POST", f"/applications/{application_id}/outcome", {"outcome": "declined"}),
              ("PUT", f"/applications/{application_id}/note", {"note": "x"})]
    for method, path, body in reads + writes:
        assert call(client, None, method, path, body).status_code == 401, path
        assert call(client, other, method, path, body, If_Match='"0"').status_code == 404, path
    for method, path, _body in reads:
        assert call(client, read, method, path).status_code == 200, path
    for method, path, body in writes:
        refused = call(client, read, method, path, body, If_Match='"0"')
        assert refused.status_code == 403, path
    missing = call(client, write, "GET", "/applications/2147483647")
    assert missing.status_code == 404
    assert db.scalar(select(Application.outcome)) == "pending"


def test_the_same_person_in_another_position_keeps_what_the_ats_left_out(
        db, client, runner, make_org, make_position) -> None:  # noqa: ANN001
    """A known email links the organization's candidate; fields not sent are kept."""
    org = make_org()
    first = make_position(org=org)
    known = db.scalar(select(Candidate).where(Candidate.email == "daniel.okafor@example.org"))
    address = known.address_line1
    secret = token(runner, org)
    position_id = open_position(client, secret, location="Richmond, BC")
    made = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
                {"applications": [{"external_id": "lever-9", "first_name": "Dan",
                                   "email": "Daniel.Okafor@example.org"}]})
    assert made.status_code == 200 and made.json["created"] == 1, made.json
    application = db.get(Application, int(made.json["ids"]["lever-9"]))
    assert application.candidate_id == known.id and first.id != int(position_id)
    db.refresh(known)
    assert (known.first_name, known.address_line1) == ("Dan", address)
    assert count(db, Candidate, Candidate.email.ilike("daniel.okafor@example.org")) == 1
