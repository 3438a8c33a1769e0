"""Every endpoint of the OpenAPI document, walked: the door, the scopes and other organizations.

The walk reads ``recruiter.api.core.OPERATIONS``, so an endpoint added later is checked too:
without a token it is 401, a read token may not change anything (403), and every id in a path
that belongs to another organization is a 404, whatever the body.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from test_sending import Frozen, deliveries, freeze  # noqa: F401 - the fixture

from recruiter.api.core import OPERATIONS
from recruiter.api.openapi import document
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


@pytest.fixture
def world(db, freeze, make_org):  # noqa: ANN001, ANN201, F811
    """Organization A with a frozen batch (every kind of id), and tokens of A and of B."""
    frozen: Frozen = freeze()
    [delivery, *_] = deliveries(db, frozen.position)
    ids = {"position_id": frozen.position.id, "application_id": delivery.letter.application_id,
           "letter_id": delivery.letter_id, "delivery_id": delivery.id}
    other = make_org("Pacific Coastal Freight")
    _, a_read = create_token(db, frozen.org, "a-read", "read")
    _, b_write = create_token(db, other, "b-write", "write")
    db.commit()
    return ids, a_read, b_write


def _path(rule: str, ids: dict[str, int]) -> str:
    return "/api/v1" + re.sub(r"<[^:<>]+:(\w+)>", lambda m: str(ids[m.group(1)]), rule)


def _call(client: FlaskClient, method: str, path: str, secret: str | None):  # noqa: ANN202
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.open(path, method=method, headers=headers, json={})


def test_every_endpoint_is_in_the_document() -> None:
    doc = document()
    declared = {(op.method.lower(), "/api/v1" + re.sub(r"<[^:<>]+:(\w+)>", r"{\1}", op.rule))
                for op in OPERATIONS}
    documented = {(method, path) for path, methods in doc["paths"].items()
                  for method in methods}
    assert declared == documented and len(declared) >= 5
    assert doc["openapi"] == "3.1.0"


def test_the_door_the_scopes_and_other_organizations(client: FlaskClient, world) -> None:  # noqa: ANN001
    ids, a_read, b_write = world
    walked = 0
    for op in OPERATIONS:
        path = _path(op.rule, ids)
        response = _call(client, op.method, path, None)
        assert response.status_code == 401, (op.method, path)
        assert response.mimetype == "application/problem+json"
        if not op.reads:
            response = _call(client, op.method, path, a_read)
            assert response.status_code == 403, (op.method, path, response.get_json())
        if "<" in op.rule:
            response = _call(client, op.method, path, b_write)
            assert response.status_code == 404, (op.method, path, response.get_json())
            assert response.get_json()["status"] == 404
        walked += 1
    assert walked == len(OPERATIONS)


def test_a_read_token_reads_what_its_organization_has(client: FlaskClient, world) -> None:  # noqa: ANN001
    """Every read (each GET, and the evidence export's POST) answers a read token with 200."""
    ids, a_read, _ = world
    reads = [op for op in OPERATIONS if op.reads]
    assert any(op.method == "POST" and op.rule.endswith("/evidence") for op in reads)
    for op in reads:
        response = _call(client, op.method, _path(op.rule, ids), a_read)
        response.close()  # a file answer (the evidence ZIP) closes its spool here
        assert response.status_code == 200, (op.rule, response.get_data(as_text=True))
