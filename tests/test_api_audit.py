"""The audit trail through the API, paged by sequence, and the evidence export."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import select
from test_api_letters import LETTERS, Api, make_api
from test_api_sending import EMAILS, _approve_all
from test_sending import _quick  # noqa: F401 - the fixture

from recruiter.models import AuditEvent
from recruiter.services import audit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


@pytest.fixture
def api(client, db, make_org, make_member, make_position) -> Api:  # noqa: ANN001
    """The small position and its tokens (``make_api``)."""
    return make_api(client, db, make_org, make_member, make_position)


def _sent(api: Api) -> None:
    """Every letter approved, frozen and released: the emails sent."""
    _approve_all(api)
    response = api.call("POST", f"/positions/{api.position.id}/batch", json={"hold": False})
    assert response.status_code == 202, response.json


def test_the_trail_pages_by_sequence_without_gaps_or_repeats(api: Api, db) -> None:  # noqa: ANN001
    """Three at a time, as a read token: every event once, in order, chained by hashes."""
    _sent(api)
    total = audit.event_count(db, api.org.id)
    assert total > 6
    events, after, pages = [], 0, 0
    while True:
        response = api.call("GET", "/audit/events", token="read", after_seq=after, limit=3)
        assert response.status_code == 200, response.json
        page = response.json
        events += page["data"]
        after, pages = page["next_after_seq"], pages + 1
        if not page["more"]:
            break
    assert pages == -(-total // 3)
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    for before, event in zip(events, events[1:], strict=False):
        assert event["prev_hash"] == before["hash"]
    # Polling after the end: nothing new, and the same place to ask from.
    tail = api.call("GET", "/audit/events", after_seq=after).json
    assert tail == {"data": [], "next_after_seq": after, "more": False}

    frozen = next(e for e in events if e["action"] == "batch.frozen")
    assert frozen["subject_type"] == "position" and frozen["subject_id"] == str(api.position.id)
    assert frozen["actor"]["kind"] == "token" and "ats-write" in frozen["actor"]["name"]
    assert frozen["created_at"].endswith("Z") and frozen["payload"]["letters"] == LETTERS
    assert any(e["actor"] is None for e in events)  # the worker's sends


def test_each_organization_reads_only_its_own_trail(api: Api, db) -> None:  # noqa: ANN001
    """Another organization's token sees its own events, never these."""
    _approve_all(api)
    ours = api.call("GET", "/audit/events", limit=500).json["data"]
    theirs = api.call("GET", "/audit/events", token="other", limit=500).json["data"]
    assert ours and not {e["hash"] for e in ours} & {e["hash"] for e in theirs}
    assert api.call("GET", "/audit/events", token=None).status_code == 401
    for bad in ({"after_seq": -1}, {"limit": 0}, {"limit": 501}, {"after_seq": "x"}):
        response = api.call("GET", "/audit/events", **bad)
        assert response.status_code == 422 and response.json["errors"][0]["field"] in bad


def test_the_evidence_export_is_a_zip_of_what_was_sent(api: Api, db) -> None:  # noqa: ANN001
    """Letters byte for byte with SHA256SUMS and the manifest; the export itself recorded."""
    _sent(api)
    path = f"/positions/{api.position.id}/evidence"
    # An export changes nothing: a read token may take one, as an auditor may in the browser.
    with api.call("POST", path, token="read") as response:
        assert response.status_code == 200 and response.data.startswith(b"PK")
    assert api.call("POST", path, token="other").status_code == 404
    assert api.call("POST", path, token=None).status_code == 401
    before = audit.event_count(db, api.org.id)

    with api.call("POST", path) as response:  # closing it closes the spooled file
        assert response.status_code == 200 and response.mimetype == "application/zip"
        assert f"evidence-position-{api.position.id}.zip" in response.headers[
            "Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert {"SHA256SUMS", "index.csv", "VERIFY.txt", "manifest.json",
            "checkpoint.json"} <= names
    emls = [n for n in names if n.endswith(".eml")]
    assert len(emls) == EMAILS
    for line in archive.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["position"]["id"] == api.position.id and len(manifest["letters"]) == LETTERS
    db.expire_all()
    assert audit.event_count(db, api.org.id) == before + 1
    exports = db.scalars(select(AuditEvent).where(AuditEvent.action == "export.position")
                         .order_by(AuditEvent.seq)).all()
    assert len(exports) == 2  # the read token's, then the write token's: each recorded
    assert exports[-1].payload["letters"] == LETTERS
    assert None not in {e.actor_id for e in exports} and exports[0].actor_id != exports[1].actor_id
