"""The batch and its deliveries through the API: freeze, hold, release, cancel, resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_api_letters import LETTERS, Api, make_api
from test_sending import _quick, deliveries, smtp_server  # noqa: F401 - fixtures

from recruiter.models import AuditEvent, Batch, Delivery, Position, Resolution
from recruiter.services import sending

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")
EMAILS = 2  # the small position: two emailed letters and one for post


@pytest.fixture
def api(client, db, make_org, make_member, make_position) -> Api:  # noqa: ANN001
    """The small position and its tokens (``make_api``)."""
    return make_api(client, db, make_org, make_member, make_position)


def _approve_all(api: Api) -> None:
    checks = sorted({f["check"] for x in api.letters() for f in x["findings"]
                     if f["severity"] == "warning"})
    response = api.call("POST", f"/positions/{api.position.id}/letters/approve",
                        json={"expected_count": LETTERS, "acknowledged": checks})
    assert response.status_code == 200, response.json


def _outbox(app) -> list[Path]:  # noqa: ANN001
    folder = Path(app.config["MAIL_URL"].removeprefix("file://"))
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_freeze_hold_then_release_sends_every_email(app, api: Api, db) -> None:  # noqa: ANN001
    """Held: nothing leaves; released: every email is sent, once; sending twice is one batch."""
    path = f"/positions/{api.position.id}/batch"
    assert api.call("GET", path).json["state"] == "none"
    assert api.call("POST", path, json={}).status_code == 422  # nothing approved yet
    _approve_all(api)
    assert api.call("POST", path, token="read", json={}).status_code == 403
    assert api.call("POST", path, token="other", json={}).status_code == 404

    response = api.call("POST", path, json={"hold": True})
    assert response.status_code == 202, response.json
    assert response.json["state"] == "held" and response.json["hold_until_accepted"] is True
    assert response.json["counts"] == {"held": LETTERS}
    assert _outbox(app) == []
    again = api.call("POST", path, json={"hold": True})  # a second approval freezes nothing
    assert again.status_code == 202 and again.json["counts"] == {"held": LETTERS}
    assert db.scalar(select(func.count()).select_from(Batch)) == 1

    assert api.call("POST", f"{path}/release", token="read").status_code == 403
    released = api.call("POST", f"{path}/release")
    assert released.status_code == 200, released.json
    assert released.json["state"] == "released" and released.json["hire_accepted_at"]
    assert released.json["counts"] == {"sent": EMAILS, "queued": 1}  # the postal letter waits
    assert len(_outbox(app)) == EMAILS
    assert api.call("GET", path, token="read").json["counts"]["sent"] == EMAILS

    sent = api.call("GET", f"/positions/{api.position.id}/deliveries", state="sent").json
    assert len(sent["data"]) == EMAILS and sent["next_cursor"] is None
    one = sent["data"][0]
    assert one["channel"] == "email" and one["attempts"] == 1 and one["sent_at"]
    assert one["message_id"].startswith("<") and one["resolutions"] == []
    stored = api.call("GET", f"/deliveries/{one['id']}", token="read").json
    assert stored == one
    cancel = api.call("POST", f"{path}/cancel")
    assert cancel.status_code == 422 and "already sending" in cancel.json["detail"]


def test_a_send_time_schedules_the_batch(api: Api) -> None:
    """No hold and a later send time: scheduled; a past time or no offset is refused."""
    _approve_all(api)
    path = f"/positions/{api.position.id}/batch"
    past = api.call("POST", path, json={"hold": False, "send_at": "2020-01-01T09:00:00Z"})
    assert past.status_code == 422 and "already passed" in past.json["detail"]
    naive = api.call("POST", path, json={"hold": False, "send_at": "2099-01-01T09:00:00"})
    assert naive.status_code == 422 and naive.json["errors"][0]["field"] == "send_at"
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = api.call("POST", path, json={
        "hold": False, "send_at": later.isoformat().replace("+00:00", "-07:00")})
    assert response.status_code == 202, response.json
    assert response.json["state"] == "scheduled"
    assert response.json["send_at"] == (later + timedelta(hours=7)).isoformat().replace(
        "+00:00", "Z")


def test_a_held_batch_can_be_cancelled(api: Api, db) -> None:  # noqa: ANN001
    """Cancelled: no batch, the letters are drafts again, nothing was sent."""
    _approve_all(api)
    path = f"/positions/{api.position.id}/batch"
    api.call("POST", path, json={"hold": True})
    assert api.call("POST", f"{path}/cancel", token="read").status_code == 403
    assert api.call("POST", f"{path}/cancel", token="other").status_code == 404
    response = api.call("POST", f"{path}/cancel")
    assert response.status_code == 200 and response.json["state"] == "none"
    assert {x["status"] for x in api.letters()} == {"draft"}
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    again = api.call("POST", f"{path}/cancel")
    assert again.status_code == 422 and "no batch" in again.json["detail"]


def test_a_big_batch_is_frozen_by_a_worker(app, api: Api) -> None:  # noqa: ANN001
    """Past FREEZE_INLINE_MAX the worker freezes (immediately here) and sends."""
    app.config["FREEZE_INLINE_MAX"] = 1
    _approve_all(api)
    response = api.call("POST", f"/positions/{api.position.id}/batch", json={"hold": False})
    assert response.status_code == 202, response.json
    assert response.json["state"] == "released"
    assert len(_outbox(app)) == EMAILS


def test_deliveries_page_by_cursor_and_filter(api: Api) -> None:
    """One at a time: every delivery once; a state filter; bad filters named."""
    _approve_all(api)
    api.call("POST", f"/positions/{api.position.id}/batch", json={"hold": True})
    path = f"/positions/{api.position.id}/deliveries"
    seen, cursor = [], None
    while True:
        page = api.call("GET", path, token="read", limit=1,
                        **({"cursor": cursor} if cursor else {})).json
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == LETTERS and seen == sorted(seen, key=int)
    assert api.call("GET", path, state="sent").json["data"] == []
    bad = api.call("GET", path, state="lost")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "state"
    assert api.call("GET", path, token="other").status_code == 404
    assert api.call("GET", f"/deliveries/{seen[0]}", token="other").status_code == 404
    assert api.call("GET", f"/deliveries/{seen[0]}", token=None).status_code == 401


def test_an_in_doubt_letter_is_resolved_by_a_person(app, api: Api, db, smtp_server) -> None:  # noqa: ANN001, F811
    """The server hung up after DATA: in doubt; marked sent with a reason, recorded."""
    app.config["MAIL_URL"] = smtp_server.url
    smtp_server.hang_up_after_data = True
    _approve_all(api)
    api.call("POST", f"/positions/{api.position.id}/batch", json={"hold": False})
    smtp_server.hang_up_after_data = False
    doubtful = api.call("GET", f"/positions/{api.position.id}/deliveries",
                        state="in_doubt").json["data"]
    assert len(doubtful) == EMAILS and "after the message was sent" in doubtful[0][
        "last_error"]
    first, second = (x["id"] for x in doubtful)
    path = f"/deliveries/{first}/resolve"
    assert api.call("POST", path, token="read", json={"action": "mark_sent"}).status_code == 403
    assert api.call("POST", path, token="other",
                    json={"action": "mark_sent"}).status_code == 404
    bad = api.call("POST", path, json={"action": "shred"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "action"
    two_lines = api.call("POST", path, json={"action": "mark_sent", "reason": "a\nb"})
    assert two_lines.status_code == 422 and two_lines.json["errors"][0]["field"] == "reason"

    response = api.call("POST", path, json={"action": "mark_sent",
                                            "reason": "The candidate replied to it."})
    assert response.status_code == 200, response.json
    assert response.json["state"] == "sent" and response.json["sent_at"]
    [decision] = response.json["resolutions"]
    assert decision["action"] == "mark_sent" and decision["state_before"] == "in_doubt"
    assert decision["reason"] == "The candidate replied to it." and "ats-write" in decision["by"]
    again = api.call("POST", path, json={"action": "resend"})
    assert again.status_code == 422 and "cannot be resend" in again.json["detail"]

    received = len(smtp_server.received)
    resent = api.call("POST", f"/deliveries/{second}/resolve", json={"action": "resend"})
    assert resent.status_code == 200 and resent.json["state"] == "sent"  # queued and sent
    assert len(smtp_server.received) == received + 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Resolution)) == 2
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "delivery.resolved")) == 2
    assert sending.state_counts(db, db.get(Position, api.position.id))["sent"] == EMAILS
    assert len(deliveries(db, api.position, "email")) == EMAILS
