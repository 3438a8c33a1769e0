"""API tokens on the command line, and the token at the door of /api/v1 (issue 15, begun)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from recruiter.api.door import RATE
from recruiter.models import ApiToken, AuditEvent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


def _create(runner, *args: str) -> str:  # noqa: ANN001
    """`recruiter tokens create ARGS`; the secret printed on the last line."""
    result = runner.invoke(args=["tokens", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _get(client: FlaskClient, secret: str | None, path: str = "/api/v1/organization",
         method: str = "GET"):  # noqa: ANN202
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.open(path, method=method, headers=headers)


def test_a_token_is_shown_once_and_kept_as_a_hash(db, runner, make_org, make_member) -> None:  # noqa: ANN001
    org = make_org("Harbour Air Logistics")
    admin = make_member("admin", org=org)
    secret = _create(runner, "--name", "Greenhouse", "--scope", "write", "--by", admin.email)
    assert secret.startswith("rct_") and len(secret) > 40
    [token] = db.scalars(select(ApiToken)).all()
    assert (token.name, token.scope, token.created_by_id) == ("Greenhouse", "write", admin.id)
    assert secret not in repr(vars(token)) and token.prefix == secret[:12]
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "token.created")).one()
    assert event.payload == {"scope": "write"} and event.actor_id == admin.id
    listed = runner.invoke(args=["tokens", "list"]).output
    assert f"{token.prefix}…\twrite\tGreenhouse\tnever used" in listed
    assert secret not in listed


def test_token_commands_refuse_mistakes_in_one_line(db, runner, make_org) -> None:  # noqa: ANN001
    make_org("Harbour Air Logistics")
    for args, message in (
            (["create", "--name", "x", "--scope", "admin"], "Invalid value for '--scope'"),
            (["create", "--name", "two\nlines"], "line break"),
            (["revoke", "rct_nothing"], "No token of Harbour Air Logistics has the id or prefix")):
        result = runner.invoke(args=["tokens", *args])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert db.scalars(select(ApiToken)).all() == []


def test_only_a_live_bearer_token_opens_the_api(app: Flask, client, db, runner, login,  # noqa: ANN001
                                                 make_org) -> None:
    """No header, a wrong or revoked token, or a signed-in browser: 401 as problem+json."""
    ours, theirs = make_org("Harbour Air Logistics"), make_org("Fraser Valley Freight")
    secret = _create(runner, "--org", ours.name, "--name", "ATS")
    other = _create(runner, "--org", theirs.name, "--name", "ATS")

    response = _get(client, secret)
    assert response.status_code == 200
    assert response.json["name"] == "Harbour Air Logistics" and response.json["id"] == str(ours.id)
    assert _get(client, other).json["name"] == "Fraser Valley Freight"  # each its own
    # Replies go to the sender unless the organization names another address.
    assert response.json["reply_to"] == ours.sender_email
    ours.reply_to = "people@harbourair.example.com"
    db.commit()
    assert _get(client, secret).json["reply_to"] == "people@harbourair.example.com"
    assert db.scalars(select(ApiToken)).first().last_used_at is not None

    for attempt in (None, "rct_" + "x" * 43, secret.upper(), "Basic abc"):
        refused = _get(client, attempt)
        assert refused.status_code == 401, attempt
        assert refused.mimetype == "application/problem+json"
        assert refused.json["status"] == 401 and "Bearer" in refused.json["detail"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    login("admin", org=ours)  # a browser session is not an API credential
    assert _get(client, None).status_code == 401

    revoked = runner.invoke(args=["tokens", "revoke", secret[:12], "--org", ours.name])
    assert revoked.exit_code == 0, revoked.output
    assert _get(client, secret).status_code == 401  # at once, for good
    assert "revoked" in runner.invoke(args=["tokens", "list", "--org", ours.name]).output


def test_a_read_token_cannot_change_anything(client, runner, make_org) -> None:  # noqa: ANN001
    make_org("Harbour Air Logistics")
    read = _create(runner, "--name", "reporting")
    write = _create(runner, "--name", "ATS", "--scope", "write")
    refused = _get(client, read, method="POST")
    assert refused.status_code == 403 and "only read" in refused.json["detail"]
    # A write token gets past the door; this address takes no POST: 405, still as a problem.
    unknown = _get(client, write, method="POST")
    assert unknown.status_code == 405 and unknown.mimetype == "application/problem+json"
    missing = _get(client, write, path="/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["title"] == "Not Found"


@pytest.mark.parametrize("app", [{"RATELIMIT_ENABLED": True,
                                  "RATELIMIT_STORAGE_URI": "memory://"}], indirect=True)
def test_each_token_has_its_own_rate_limit(app: Flask, client, runner, make_org) -> None:  # noqa: ANN001
    make_org("Harbour Air Logistics")
    busy, calm = _create(runner, "--name", "busy"), _create(runner, "--name", "calm")
    allowed = int(RATE.split()[0])
    assert all(_get(client, busy).status_code == 200 for _ in range(allowed))
    limited = _get(client, busy)
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert _get(client, calm).status_code == 200  # another token is not slowed down


def test_an_admin_makes_and_revokes_tokens_in_the_browser(client, db, login, make_org) -> None:  # noqa: ANN001
    """The secret is on the page that made it, once, never cached; revoking stops it at once."""
    org = make_org("Harbour Air Logistics")
    admin = login("admin", org=org)
    made = client.post("/organization/tokens", data={"name": "Greenhouse", "scope": "write"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code class="secret">(rct_[A-Za-z0-9_-]+)</code>', made.text).group(1)
    assert "Copy the token now" in made.text
    again = client.get("/organization/tokens")
    assert secret not in again.text and secret[:12] in again.text  # the prefix only, after
    assert "read and change" in again.text and "never" in again.text
    assert _get(client, secret).status_code == 200
    token = db.scalars(select(ApiToken)).one()
    assert token.created_by_id == admin.id
    revoked = client.post(f"/organization/tokens/{token.id}/revoke", follow_redirects=True)
    assert "Revoked the token “Greenhouse”" in revoked.text
    assert _get(client, secret).status_code == 401
    refused = client.post("/organization/tokens", data={"name": "two\nlines"})
    assert "line break" in refused.text and db.scalars(select(ApiToken)).all() == [token]


def test_only_an_admin_of_the_organization_sees_its_tokens(client, db, login, make_org,  # noqa: ANN001
                                                             runner) -> None:
    ours, theirs = make_org("Harbour Air Logistics"), make_org("Fraser Valley Freight")
    _create(runner, "--org", theirs.name, "--name", "Fraser's Lever")
    other = db.scalars(select(ApiToken)).one()
    login("manager", org=ours)
    assert client.get("/organization/tokens").status_code == 403
    login("admin", org=ours)
    page = client.get("/organization/tokens").text
    assert "Lever" not in page and other.prefix not in page and "No token yet" in page
    assert client.post(f"/organization/tokens/{other.id}/revoke").status_code == 404
    assert db.get(ApiToken, other.id).revoked_at is None
