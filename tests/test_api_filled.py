"""The ATS's "position filled" call: hires, declines, letters drafted, managers told (issue 15)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select
from test_api_applications import call, open_position, token, vancouver_items

from recruiter.models import Application, AuditEvent, Letter, Member

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


def outbox(app: Flask) -> list[email.message.EmailMessage]:
    """The messages the file transport wrote."""
    folder = Path(unquote(urlsplit(app.config["MAIL_URL"]).path))
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _position(client, runner, org, items=None):  # noqa: ANN001, ANN202
    """(write token, position id, {external id: application id}) with the applicants in."""
    secret = token(runner, org)
    position_id = open_position(client, secret)
    ids = call(client, secret, "POST", f"/positions/{position_id}/applications/bulk",
               {"applications": items or vancouver_items()}).json["ids"]
    return secret, position_id, ids


def test_filled_hires_declines_drafts_and_tells_the_managers(app, db, client, runner,  # noqa: ANN001
                                                             make_org, make_member) -> None:
    """The whole job once; the same call again changes nothing and tells no one."""
    org = make_org()
    admin, manager = make_member("admin", org=org), make_member("manager", org=org)
    make_member("auditor", org=org)
    away = make_member("manager", org=org, email="away@example.com")
    away.active = False
    db.commit()
    secret, position_id, ids = _position(client, runner, org)
    path = f"/positions/{position_id}/filled"

    filled = call(client, secret, "POST", path, {"hires": ["gh-0001"]})
    assert filled.status_code == 200, filled.json
    body = filled.json
    assert body["hired"] == [ids["gh-0001"]] and body["declined"] == 29
    assert body["letters_drafted"] == body["letters_to_review"] == 29 and body["changed"]
    assert body["position"]["status"] == "filled" and body["position"]["hired"] == 1
    outcomes = dict(db.execute(select(Application.outcome, func.count())
                               .group_by(Application.outcome)).all())
    assert outcomes == {"hired": 1, "declined": 29}
    assert db.scalar(select(func.count()).select_from(Letter)) == 29
    token_member = db.scalar(select(Member).where(Member.kind == "token"))
    changes = db.scalars(select(AuditEvent).where(AuditEvent.action == "application.outcome"))
    assert {e.actor_id for e in changes} == {token_member.id}  # the token acts, and is named

    messages = outbox(app)
    assert sorted(m["To"] for m in messages) == sorted([admin.email, manager.email])
    message = messages[0]
    assert message["Subject"] == "Letters for Operations Coordinator are drafted: 29 to review"
    assert message["Date"].datetime is not None and message["Message-ID"]  # complete mail
    text = message.get_content()
    assert f"http://localhost/positions/{position_id}/letters" in text
    assert message.get_content_type() == "text/plain"

    events = db.scalar(select(func.count()).select_from(AuditEvent))
    again = call(client, secret, "POST", path, {"hires": ["gh-0001"]})
    assert again.status_code == 200, again.json
    assert (again.json["hired"], again.json["declined"], again.json["letters_drafted"],
            again.json["changed"]) == ([], 0, 0, False)
    assert again.json["letters_to_review"] == 29
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert len(outbox(app)) == 2  # no second email


def test_unknown_hires_are_named_and_nothing_changes(app, db, client, runner,  # noqa: ANN001
                                                     make_org, make_member) -> None:
    """422 naming hires[i]; not one outcome changed, no letter, no email."""
    org = make_org()
    make_member("manager", org=org)
    secret, position_id, _ = _position(client, runner, org)
    refused = call(client, secret, "POST", f"/positions/{position_id}/filled",
                   {"hires": ["gh-0001", "gh-9999", "nobody"]})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert [e["field"] for e in refused.json["errors"]] == ["hires[1]", "hires[2]"]
    assert refused.json["detail"].startswith("hires[1]")
    assert set(db.scalars(select(Application.outcome))) == {"pending"}
    assert db.scalar(select(func.count()).select_from(Letter)) == 0
    assert outbox(app) == []
    for body in ({"hires": []}, {"hires": ["x"] * 1001}, {"hires": ["a\nb"]}, {}):
        assert call(client, secret, "POST", f"/positions/{position_id}/filled",
                    body).status_code == 422, body


def test_more_hires_than_openings_raise_them_and_others_can_stay(db, client, runner,  # noqa: ANN001
                                                                make_org) -> None:
    """Two hires for one opening: openings go to 2; decline_others=false declines no one."""
    secret, position_id, ids = _position(client, runner, make_org(), vancouver_items()[:6])
    filled = call(client, secret, "POST", f"/positions/{position_id}/filled",
                  {"hires": ["gh-0002", "gh-0003", "gh-0002"], "decline_others": False})
    assert filled.status_code == 200, filled.json
    assert filled.json["hired"] == [ids["gh-0002"], ids["gh-0003"]]
    assert filled.json["position"]["openings"] == 2 and filled.json["declined"] == 0
    assert filled.json["position"]["status"] == "filled"
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "position.openings")) == 1
    pending = call(client, secret, "GET", f"/positions/{position_id}/applications?"
                   "outcome=pending").json["data"]
    assert len(pending) == 4
    rest = call(client, secret, "POST", f"/positions/{position_id}/filled",
                {"hires": ["gh-0003"]})
    assert rest.json["declined"] == 4 and rest.json["hired"] == []
    assert rest.json["position"]["hired"] == 2  # a hire the call leaves out stays hired


def test_filled_is_for_write_tokens_of_the_organization(client, runner, make_org) -> None:  # noqa: ANN001
    """Read token 403, no token 401, another organization's position 404."""
    ours, theirs = make_org("Harbour Air Logistics"), make_org("Fraser Valley Freight")
    secret, position_id, _ = _position(client, runner, ours, vancouver_items()[:2])
    path, body = f"/positions/{position_id}/filled", {"hires": ["gh-0001"]}
    assert call(client, None, "POST", path, body).status_code == 401
    assert call(client, token(runner, ours, "read"), "POST", path, body).status_code == 403
    assert call(client, token(runner, theirs), "POST", path, body).status_code == 404
    assert call(client, secret, "POST", "/positions/2147483647/filled", body).status_code == 404


def test_a_repeated_filled_call_with_its_key_is_replayed(app, client, runner, make_org,  # noqa: ANN001
                                                         make_member) -> None:
    """Idempotency-Key: the first answer again, and the managers are told once."""
    org = make_org()
    make_member("manager", org=org)
    secret, position_id, _ = _position(client, runner, org, vancouver_items()[:3])
    path, body = f"/positions/{position_id}/filled", {"hires": ["gh-0001"]}
    first = call(client, secret, "POST", path, body, Idempotency_Key="filled-1")
    replay = call(client, secret, "POST", path, body, Idempotency_Key="filled-1")
    assert first.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json == first.json and first.json["declined"] == 2
    assert len(outbox(app)) == 1


@pytest.mark.parametrize("target", ["letters_drafted_message", "send_letters_drafted"])
def test_a_failing_notice_does_not_fail_the_call(app, client, runner, make_org,  # noqa: ANN001
                                                 make_member, monkeypatch, target) -> None:
    """The notice is sent after the commit; a message or a task that raises is only logged."""
    from recruiter.services import notify

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(notify, target, broken)
    org = make_org()
    make_member("manager", org=org)
    secret, position_id, _ = _position(client, runner, org, vancouver_items()[:3])
    filled = call(client, secret, "POST", f"/positions/{position_id}/filled",
                  {"hires": ["gh-0001"]})
    assert filled.status_code == 200 and filled.json["declined"] == 2
    assert outbox(app) == []


def test_letters_ready_goes_to_webhook_endpoints_once(db, client, runner,  # noqa: ANN001
                                                      make_org) -> None:
    """``position.letters_ready`` is emitted by the call, and not again by its repeat."""
    webhooks = pytest.importorskip("recruiter.services.webhooks")
    from recruiter.models import WebhookEvent

    org = make_org()
    org.webhooks_allow_private = True  # a loopback receiver that is never there
    webhooks.add_endpoint(db, org, "http://127.0.0.1:9/hook", "all")
    db.commit()
    secret, position_id, _ = _position(client, runner, org, vancouver_items()[:4])
    path, body = f"/positions/{position_id}/filled", {"hires": ["gh-0004"]}
    assert call(client, secret, "POST", path, body).status_code == 200
    ready = select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.type == "position.letters_ready")
    emitted = db.scalar(ready)
    assert emitted == 1, "one call, one event"
    assert call(client, secret, "POST", path, body).json["changed"] is False
    assert db.scalar(ready) == emitted
