"""The API's conventions: problems that name the field, Idempotency-Key, cursors, the document."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from recruiter.models import AuditEvent, Member, Position
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


@pytest.fixture
def api(db, client: FlaskClient, make_org):  # noqa: ANN001, ANN201
    """A client that sends a write token of a fresh organization."""
    org = make_org()
    _, secret = create_token(db, org, "Greenhouse", "write")
    db.commit()

    def call(method: str, path: str, **kwargs):  # noqa: ANN003, ANN202
        headers = {"Authorization": f"Bearer {secret}", **kwargs.pop("headers", {})}
        return client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    return call


def test_a_bad_body_is_a_problem_that_names_each_field(api) -> None:  # noqa: ANN001
    response = api("POST", "/positions", json={"title": "", "openings": 0, "colour": "red"})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Content"
    assert {e["field"] for e in problem["errors"]} == {"title", "openings", "colour"}
    assert "title: " in problem["detail"] and "colour: Extra inputs" in problem["detail"]
    assert all(e["in"] == "body" for e in problem["errors"])


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    ('{"title": "Pilot\\u0000"}', "application/json", 422, "title"),
    ('{"title": "two\\nlines"}', "application/json", 422, "title"),
    ("{not json", "application/json", 422, "body"),
    ("[]", "application/json", 422, "body"),
    ('{"title": "Pilot"}', "text/plain", 415, None),
])
def test_what_no_column_can_keep_is_refused_before_any_work(api, db, body: str,  # noqa: ANN001
                                                            content_type: str, status: int,
                                                            field: str | None) -> None:
    response = api("POST", "/positions", data=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.get_json()
    if field:
        assert response.get_json()["errors"][0]["field"] == field
    assert db.scalar(select(func.count()).select_from(Position)) == 0


def test_a_repeated_idempotency_key_gets_the_first_answer_and_acts_once(api, db) -> None:  # noqa: ANN001
    body = {"title": "Operations Coordinator", "differentiator": "aviation experience"}
    first = api("POST", "/positions", json=body, headers={"Idempotency-Key": "job-42"})
    again = api("POST", "/positions", json=body, headers={"Idempotency-Key": "job-42"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert first.headers["Location"].endswith(f"/api/v1/positions/{first.get_json()['id']}")
    assert db.scalar(select(func.count()).select_from(Position)) == 1
    other = api("POST", "/positions", json={**body, "title": "Dispatcher"},
                headers={"Idempotency-Key": "job-42"})
    assert other.status_code == 422
    assert other.get_json()["errors"][0] == {
        "field": "Idempotency-Key", "in": "header",
        "detail": "This Idempotency-Key was used for another request; use a new key for a new "
                  "request."}
    # A refused request keeps nothing: the corrected one may reuse its key.
    bad = api("POST", "/positions", json={"title": ""}, headers={"Idempotency-Key": "job-43"})
    good = api("POST", "/positions", json={"title": "Dispatcher"},
               headers={"Idempotency-Key": "job-43"})
    assert (bad.status_code, good.status_code) == (422, 201)
    assert db.scalar(select(func.count()).select_from(Position)) == 2


def test_what_a_token_does_is_audited_under_its_name(api, db) -> None:  # noqa: ANN001
    created = api("POST", "/positions", json={"title": "Pilot", "differentiator": "float planes"})
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "differentiator.saved")).one()
    actor = db.get(Member, event.actor_id)
    assert (actor.kind, actor.name) == ("token", "API token “Greenhouse”")
    assert event.subject_id == int(created.get_json()["id"])


def test_lists_page_by_cursor_with_filters_and_no_gaps(api) -> None:  # noqa: ANN001
    made = [api("POST", "/positions", json={"title": f"Pilot {i}"}).get_json()["id"]
            for i in range(7)]
    api("PATCH", f"/positions/{made[0]}", json={"openings": 2})
    seen, cursor = [], None
    while True:
        page = api("GET", "/positions", query_string={"limit": 3, **(
            {"cursor": cursor} if cursor else {})}).get_json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    found = api("GET", "/positions", query_string={"q": "pilot 3"}).get_json()["data"]
    assert [p["title"] for p in found] == ["Pilot 3"]
    assert api("GET", "/positions", query_string={"status": "filled"}).get_json()["data"] == []
    for query, field in (({"limit": 0}, "limit"), ({"cursor": "nonsense"}, "cursor"),
                         ({"status": "gone"}, "status")):
        response = api("GET", "/positions", query_string=query)
        assert response.status_code == 422
        assert response.get_json()["errors"][0]["field"] == field


def test_times_are_utc_with_a_z_and_ids_are_strings(api) -> None:  # noqa: ANN001
    position = api("POST", "/positions", json={"title": "Pilot"}).get_json()
    assert isinstance(position["id"], str)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", position["created_at"])


def test_an_id_out_of_range_is_simply_not_found(api) -> None:  # noqa: ANN001
    for path in ("/positions/99999999999", "/positions/0", "/positions/abc"):
        response = api("GET", path)
        assert response.status_code == 404 and response.get_json()["status"] == 404


def test_the_document_is_valid_openapi_3_1_and_open_to_all(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)  # raises on a document that breaks the OpenAPI 3.1 schema
    post = doc["paths"]["/api/v1/positions"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}
    assert post["responses"]["422"]["content"]["application/problem+json"]


def test_the_reference_page_is_readable_and_fetches_nothing(client: FlaskClient) -> None:
    page = client.get("/api/v1/reference")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "POST /api/v1/positions" in html and "Idempotency-Key" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "<script" not in html
