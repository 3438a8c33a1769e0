"""Security: CSRF, organization isolation, roles, login throttling, headers and passwords."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
import redis
from conftest import PASSWORD, REDIS_URL
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, scoped_session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from recruiter.models import (
    ApiToken,
    Application,
    Batch,
    Boilerplate,
    BoilerplateVersion,
    Candidate,
    Delivery,
    Letter,
    Member,
    Organization,
    Position,
    Resolution,
    WebhookDelivery,
    WebhookEndpoint,
)
from recruiter.services import sending, webhooks
from recruiter.services.approval import approve_all
from recruiter.services.boilerplates import ensure_shipped
from recruiter.services.letters import refresh_letters
from recruiter.services.tokens import create_token

Db = scoped_session[Session]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
CSRF_ON = {"WTF_CSRF_ENABLED": True}
THROTTLED = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
# How a deployment points the limiter at Redis: a RECRUITER_* variable read by create_app.
THROTTLED_REDIS = {"RATELIMIT_ENABLED": True, "RECRUITER_RATELIMIT_STORAGE_URI": REDIS_URL}
NOT_DEBUG = {"TESTING": False, "DEBUG": False}
DEBUG = {"TESTING": False, "DEBUG": True}

# The letter previews are framed by the app's own letter pages; nothing else may be framed.
FRAMED_BY_THE_APP = {"letters.email", "letters.pdf", "audit.email", "audit.pdf"}
SIGN_IN_OUT = {"auth.login", "auth.logout", "auth.password"}  # and one's own password
# POSTs a reader may make: the chain check writes nothing; the exports write only their own
# audit event (they are POSTs so that no other site can make a member's browser write one).
READ_ONLY_POSTS = {"audit.verify": 302, "audit.export": 200, "letters.download_zip": 200,
                   "reasons.position_csv": 200, "reasons.report_csv": 200}
# GET-only routes that are not a 200 page for a signed-in auditor, and why.
AUDITOR_GETS = {"main.index": 302,  # sends members on to their positions
                # The frozen letter goes by email: its frozen copy is its .eml, no PDF
                # (tests/test_audit_views.py reads a postal letter's frozen PDF).
                "audit.pdf": 404,
                # The API takes tokens only, never a browser's session (test_api_tokens.py).
                "api.organization": 401,
                # It shows the endpoint's signing secret: admins only, like the tokens page.
                "webhooks.endpoint": 403,
                # A CV is never sent: for those who write notes (README, CVs and cover letters).
                "documents.original": 403, "documents.text": 403}


# --- helpers -------------------------------------------------------------------------------

def _open(client: FlaskClient, method: str, url: str, **kwargs: Any) -> TestResponse:
    """One request, read to the end and closed, so no stream or file is left open."""
    response = client.open(url, method=method, **kwargs)
    response.get_data()
    response.close()
    return response


def _signed_in(app: Flask, member: Member, password: str = PASSWORD) -> FlaskClient:
    """A new client signed in as ``member``, through the login form and its CSRF token."""
    client = app.test_client()
    page = _open(client, "GET", "/login")
    hidden = _hidden_fields(page, "/login", csrf=app.config["WTF_CSRF_ENABLED"])
    data = {**hidden, "email": member.email, "password": password}
    response = _open(client, "POST", "/login", data=data)
    assert response.status_code == 302, response.text
    return client


class _Forms(HTMLParser):
    """The hidden inputs of each <form>, by its action."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            action = (values.get("action") or self.page_url).split("#")[0]
            self._current = self.forms.setdefault(action, {})
        elif tag == "input" and self._current is not None and values.get("type") == "hidden":
            self._current[values.get("name", "")] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _hidden_fields(page: TestResponse, action: str, *, csrf: bool = True) -> dict[str, str]:
    """The hidden fields (the CSRF token among them) of the page's form that posts to action."""
    parser = _Forms(page.request.path)
    parser.feed(page.text)
    assert action in parser.forms, f"no form posts to {action}; forms: {list(parser.forms)}"
    fields = parser.forms[action]
    assert fields.get("csrf_token") or not csrf, f"the form for {action} has no CSRF token"
    return fields


@dataclass
class World:
    """Organization A, full of data, and who works there."""

    org: Organization
    position: Position  # Vancouver, letters in draft
    ids: dict[str, int]  # one object of each kind; its letter is a draft
    sent_ids: dict[str, int]  # the same, with the frozen letter and its position
    members: dict[str, Member]
    names: list[str]
    form: dict[str, str]  # a POST body that would change something if a view accepted it


SENT_CSV = (  # a second, small position whose letters are frozen into a batch
    b"first_name,last_name,email,address_line1,address_line2,city,region,postal_code,country,"
    b"stage,outcome,note\n"
    b"Maya,Chen,maya.chen@example.com,1840 West 4th Avenue,,Vancouver,BC,V6J 1M1,Canada,"
    b"interviewed,hired,Eight years running ground operations.\n"
    b"Quentin,Abernathy,quentin.abernathy@example.org,455 Granville Street,,Vancouver,BC,V6C 1T1,"
    b"Canada,interviewed,declined,Your dock safety audit stood out to the whole panel.\n"
    b"Rosalind,Okonkwo,,12 Commercial Drive,,Vancouver,BC,V5L 3X1,Canada,applied,declined,"
    b"Your forklift certification was current and complete.\n")


@pytest.fixture
def org_a(db: Db, make_org: Callable, make_member: Callable,
          make_position: Callable) -> World:
    """Organization A: Vancouver's letters, a frozen batch, boilerplates and members."""
    org = make_org("Alpha Freight")
    members = {role: make_member(role, org=org, email=f"{role}@alpha.example.com")
               for role in ("admin", "manager", "auditor")}
    position = make_position(org=org)
    ensure_shipped(db, org)
    letters = refresh_letters(db, position)
    sent = make_position(org=org, csv=SENT_CSV, title="Dock Lead")
    approve_all(db, sent, members["manager"], expected_count=2, acknowledge_warnings=True)
    batch, _ = sending.freeze_batch(db, sent, members["manager"], hold_until_accepted=True)
    api_token, _ = create_token(db, org, "ATS", "write", by=members["admin"])
    org.webhooks_allow_private = True  # a loopback receiver that is never there
    endpoint = webhooks.add_endpoint(db, org, "http://127.0.0.1:9/hook", "all",
                                     by=members["admin"])
    webhooks.emit(db, org.id, "batch.completed", {"batch_id": str(batch.id)})
    db.info.pop(webhooks.NUDGE, None)
    db.commit()
    webhook_delivery = db.scalar(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id))
    delivery = db.scalar(select(Delivery).where(Delivery.organization_id == org.id,
                                                Delivery.channel == "email"))
    frozen = db.get(Letter, delivery.letter_id)
    letter = letters[0]
    application = letter.application
    boilerplate = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id)
                            .order_by(Boilerplate.id))
    names = [a.candidate.full_name for p in (position, sent) for a in p.applications]
    ids = {"position_id": position.id, "application_id": application.id,
           "letter_id": letter.id, "candidate_id": application.candidate_id,
           "boilerplate_id": boilerplate.id, "version_id": boilerplate.current.id,
           "member_id": members["manager"].id, "batch_id": batch.id,
           "delivery_id": delivery.id, "organization_id": org.id, "token_id": api_token.id,
           "endpoint_id": endpoint.id, "webhook_delivery_id": webhook_delivery.id}
    form = {"title": "Taken over", "location": "Elsewhere", "boilerplate": "auto",
            "differentiator": "a takeover", "note": "Written by someone else.",
            "base_revision": str(application.note_revision), "outcome": "hired",
            "role": "admin", "active": "0", "email": "intruder@example.com",
            "password": "intruder-password", "name": "Intruder", "first_name": "Eve",
            "last_name": "Intruder", "stage": "applied", "channel": "post",
            "expected_count": str(len(letters)), "acknowledge": "y", "subject": "Hello",
            "body": "Hello {{ candidate.first_name }}", "save": "1",
            "copy_from": str(boilerplate.id), "token": "t" * 32}
    sent_ids = {**ids, "position_id": sent.id, "letter_id": frozen.id,
                "application_id": frozen.application_id,
                "candidate_id": frozen.application.candidate_id}
    return World(org, position, ids, sent_ids, members, names, form)


def _state(db: Db, org: Organization) -> dict[str, list]:
    """What is stored for ``org``: anything a request changed shows up here."""
    db.rollback()  # what a later request would see: only committed changes
    queries = {
        "positions": select(Position.id, Position.title, Position.location,
                            Position.differentiator, Position.boilerplate_id, Position.status)
        .where(Position.organization_id == org.id),
        "candidates": select(Candidate.id, Candidate.first_name, Candidate.last_name,
                             Candidate.email).where(Candidate.organization_id == org.id),
        "applications": select(Application.id, Application.stage, Application.outcome,
                               Application.note, Application.note_revision, Application.channel)
        .where(Application.organization_id == org.id),
        "letters": select(Letter.id, Letter.status, Letter.note_override, Letter.text,
                          Letter.approved_by_id).where(Letter.organization_id == org.id),
        "members": select(Member.id, Member.email, Member.role, Member.active)
        .where(Member.organization_id == org.id),
        "batches": select(Batch.id, Batch.state, Batch.send_at)
        .where(Batch.organization_id == org.id),
        "deliveries": select(Delivery.id, Delivery.state, Delivery.attempts)
        .where(Delivery.organization_id == org.id),
        "resolutions": select(Resolution.id, Resolution.action, Resolution.member_id)
        .where(Resolution.organization_id == org.id),
        "tokens": select(ApiToken.id, ApiToken.name, ApiToken.revoked_at)
        .where(ApiToken.organization_id == org.id),
        "webhooks": select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.active)
        .where(WebhookEndpoint.organization_id == org.id),
        "webhook_deliveries": select(WebhookDelivery.id, WebhookDelivery.state)
        .where(WebhookDelivery.organization_id == org.id),
        "boilerplates": select(Boilerplate.id, Boilerplate.title, func.count())
        .join(BoilerplateVersion).where(Boilerplate.organization_id == org.id)
        .group_by(Boilerplate.id, Boilerplate.title),
    }
    return {name: sorted(tuple(row) for row in db.execute(query)) for name, query in
            queries.items()}


def _requests(app: Flask, ids: dict[str, int], *, only_with_ids: bool = False
              ) -> Iterator[tuple[Rule, str, str]]:
    """(rule, method, url) for every GET and POST of the URL map, ids filled from ``ids``.

    Static files are left out, and so is the token-only JSON API (no session, no CSRF), which
    tests/test_api_matrix.py walks the same way. A rule whose argument ``ids`` cannot fill
    fails the test, so a new route cannot slip past these checks unnoticed.
    """
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        defaults = rule.defaults or {}  # e.g. an action fixed by the rule itself
        arguments = rule.arguments - defaults.keys()
        if rule.endpoint == "static" or rule.endpoint.startswith("api.") or (
                only_with_ids and not arguments):
            continue
        unknown = sorted(arguments - ids.keys())
        if unknown:
            pytest.fail(f"{rule.endpoint} ({rule.rule}) takes {', '.join(unknown)}, which these "
                        "tests cannot fill: add the matching object of organization A to the "
                        "org_a fixture's ids so the route is checked.")
        url = adapter.build(rule.endpoint, {**defaults, **{name: ids[name] for name in arguments}})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            yield rule, method, url


def _csp(response: TestResponse) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    policy = response.headers.get("Content-Security-Policy")
    assert policy, f"{response.request.path} ({response.status_code}) has no CSP"
    return {name: sources for name, *sources in
            (part.split() for part in policy.split(";") if part.strip())}


def _assert_strict_headers(response: TestResponse, *, framed_by_app: bool = False) -> None:
    """No inline script, no framing by other sites (or any at all), and nosniff."""
    where = f"{response.request.method} {response.request.path} ({response.status_code})"
    csp = _csp(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts is not None, f"{where}: the CSP does not restrict scripts"
    assert "'unsafe-inline'" not in scripts and "*" not in scripts, f"{where}: {scripts}"
    assert csp.get("frame-ancestors") == (["'self'"] if framed_by_app else ["'none'"]), where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


def _cookie(response: TestResponse, name: str) -> dict[str, str | bool]:
    """The attributes of the Set-Cookie header for ``name``, lower-cased."""
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.split("=", 1)[0] == name:
            return {key.lower(): value or True for key, _, value in
                    (attribute.partition("=") for attribute in attributes)}
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


# --- 1. CSRF -------------------------------------------------------------------------------

@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_every_post_without_a_csrf_token_is_refused(app: Flask, db: Db, org_a: World) -> None:
    """With CSRF on, every POST in the URL map without a token is a 400 and changes nothing."""
    client = _signed_in(app, org_a.members["admin"])
    before = _state(db, org_a.org)
    posts = [(rule, url) for rule, method, url in _requests(app, org_a.ids) if method == "POST"]
    assert {"auth.login", "positions.new", "notes.save", "letters.approve"} <= \
        {rule.endpoint for rule, _ in posts}
    for rule, url in posts:
        response = _open(client, "POST", url, data=org_a.form)
        assert response.status_code == 400, f"{rule.endpoint}: {response.status_code}"
        assert "CSRF" in response.text, rule.endpoint
        _assert_strict_headers(response)
    assert _state(db, org_a.org) == before
    assert _open(client, "GET", "/positions").status_code == 200, "the logout went through"


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_login_needs_the_token_of_the_login_form(app: Flask, org_a: World) -> None:
    """Signing in without the token is a 400; with the token from the form it works."""
    client = app.test_client()
    data = {"email": org_a.members["manager"].email, "password": PASSWORD}
    assert _open(client, "POST", "/login", data=data).status_code == 400
    token = _hidden_fields(_open(client, "GET", "/login"), "/login")
    response = _open(client, "POST", "/login", data={**data, **token})
    assert response.status_code == 302
    assert _open(client, "GET", "/positions").status_code == 200


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_opening_a_position_needs_the_forms_token(app: Flask, db: Db, org_a: World) -> None:
    """Creating a position without a token is refused; with the form's token it is created."""
    client = _signed_in(app, org_a.members["manager"])
    data = {"title": "Night Dispatcher", "location": "Richmond, BC", "boilerplate": "auto"}
    assert _open(client, "POST", "/positions/new", data=data).status_code == 400
    assert db.scalar(select(Position).where(Position.title == "Night Dispatcher")) is None

    token = _hidden_fields(_open(client, "GET", "/positions/new"), "/positions/new")
    response = _open(client, "POST", "/positions/new", data={**data, **token})
    assert response.status_code == 302
    position = db.scalar(select(Position).where(Position.title == "Night Dispatcher"))
    assert position is not None and position.organization_id == org_a.org.id


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_saving_a_note_needs_the_cards_token(app: Flask, db: Db, org_a: World) -> None:
    """A note save without a token is refused; with the card's token it is saved."""
    client = _signed_in(app, org_a.members["manager"])
    application = db.get(Application, org_a.ids["application_id"])
    action = f"/applications/{application.id}/note"
    note = "Your safety briefing for the warehouse team was the clearest we heard."
    refused = _open(client, "POST", action,
                    data={"note": note, "base_revision": str(application.note_revision)})
    assert refused.status_code == 400

    page = _open(client, "GET", f"/positions/{org_a.position.id}/notes")
    fields = _hidden_fields(page, action)  # the card's own base_revision too
    response = _open(client, "POST", action, data={**fields, "note": note})
    assert response.status_code == 302
    db.rollback()
    assert db.get(Application, application.id).note == note


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_approving_a_letter_needs_the_forms_token(app: Flask, db: Db, org_a: World) -> None:
    """Approving a letter without a token is refused; with the letter page's token it works."""
    client = _signed_in(app, org_a.members["manager"])
    letter_id = org_a.ids["letter_id"]
    action = f"/letters/{letter_id}/approve"
    assert _open(client, "POST", action, data={"acknowledge": "y"}).status_code == 400
    db.rollback()
    assert db.get(Letter, letter_id).status == "draft"

    fields = _hidden_fields(_open(client, "GET", f"/letters/{letter_id}"), action)
    response = _open(client, "POST", action, data={**fields, "acknowledge": "y"})
    assert response.status_code == 302
    db.rollback()
    assert db.get(Letter, letter_id).status == "approved"


# --- 2. Organizations ----------------------------------------------------------------------

def test_another_organization_gets_404_on_every_url_with_an_id(
        app: Flask, db: Db, org_a: World, make_org: Callable, make_member: Callable) -> None:
    """An admin of B gets 404, and none of A's data, on every URL carrying an id of A's.

    B's admin holds every role's rights, so no 403 can hide a missing organization check.
    """
    org_b = make_org("Beta Analytics")
    client = _signed_in(app, make_member("admin", org=org_b, email="admin@beta.example.com"))
    before = _state(db, org_a.org)
    a_data = [org_a.org.name, *org_a.names, *(str(escape(n)) for n in org_a.names)]
    checked = set()
    for ids in (org_a.ids, org_a.sent_ids):  # a draft letter, and a frozen one
        for rule, method, url in _requests(app, ids, only_with_ids=True):
            response = _open(client, method, url,
                             data=org_a.form if method == "POST" else None)
            assert response.status_code == 404, f"{method} {url} ({rule.endpoint}) gave " \
                                                 f"{response.status_code}"
            leaked = [item for item in a_data if item in response.text]
            assert not leaked, f"{method} {url} shows organization A's {leaked}"
            checked.add(rule.endpoint)
    assert _state(db, org_a.org) == before, "a request of B's changed A's data"
    assert {"positions.show", "candidates.edit", "notes.save", "letters.pdf",
            "boilerplates.show", "members.update"} <= checked


def test_ids_in_query_strings_stay_in_their_organization(
        app: Flask, db: Db, org_a: World, make_org: Callable, make_member: Callable) -> None:
    """B's boilerplate preview, pointed at A's position and candidate, shows none of A's data."""
    org_b = make_org("Beta Analytics")
    client = _signed_in(app, make_member("admin", org=org_b, email="admin@beta.example.com"))
    own = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org_b.id))
    query = {"position": org_a.ids["position_id"], "application": org_a.ids["application_id"]}
    page = _open(client, "GET", f"/boilerplates/{own.id}", query_string=query)
    preview = _open(client, "POST", f"/boilerplates/{own.id}/preview",
                    data={**query, "subject": own.current.subject, "body": own.current.body,
                          "with_candidates": "1"})
    for response in (page, preview):
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert not [n for n in org_a.names if n in body or str(escape(n)) in body]
    assert preview.json["position_id"] is None and preview.json["application_id"] is None


# --- 3 and 4. Roles ------------------------------------------------------------------------

def test_a_manager_cannot_manage_members(app: Flask, db: Db, org_a: World) -> None:
    """Every members.* URL is a 403 for a manager, GET and POST, and nothing changes."""
    client = _signed_in(app, org_a.members["manager"])
    ids = {**org_a.ids, "member_id": org_a.members["auditor"].id}
    before = _state(db, org_a.org)
    tried = 0
    for rule, method, url in _requests(app, ids):
        if rule.endpoint.startswith("members."):
            response = _open(client, method, url, data=org_a.form)
            assert response.status_code == 403, f"{method} {url}: {response.status_code}"
            tried += 1
    assert tried >= 3  # the list, adding and changing a member
    assert _state(db, org_a.org) == before


def test_an_admin_can_manage_members(app: Flask, db: Db, org_a: World) -> None:
    """An admin sees the members, adds one and changes another's role."""
    client = _signed_in(app, org_a.members["admin"])
    page = _open(client, "GET", "/members")
    assert page.status_code == 200 and org_a.members["auditor"].email in page.text
    added = _open(client, "POST", "/members", data={
        "name": "Robin Diaz", "email": "robin@alpha.example.com", "role": "manager",
        "password": "a long first password"})
    assert added.status_code == 302
    auditor_id = org_a.members["auditor"].id
    changed = _open(client, "POST", f"/members/{auditor_id}",
                    data={"role": "manager", "active": "1"})
    assert changed.status_code == 302
    db.rollback()
    robin = db.scalar(select(Member).where(Member.email == "robin@alpha.example.com"))
    assert robin is not None and robin.organization_id == org_a.org.id
    assert db.get(Member, auditor_id).role == "manager"


def test_an_auditor_can_read_but_change_nothing(app: Flask, db: Db, org_a: World) -> None:
    """For an auditor of A, every POST but sign-in/out is a 403, and so is every form page.

    A GET of a route that also takes a POST shows a form to change something; routes that are
    GET only are for reading, and those are 200s. POSTs are tried on a draft and on a frozen
    letter; GETs on the frozen one, as only it has the stored email and PDF the audit shows.
    """
    client = _signed_in(app, org_a.members["auditor"])
    before = _state(db, org_a.org)
    seen = set()
    for ids in (org_a.ids, org_a.sent_ids):
        for rule, method, url in _requests(app, ids):
            if rule.endpoint in SIGN_IN_OUT or (method == "GET" and ids is org_a.ids):
                continue
            response = _open(client, method, url,
                             data=org_a.form if method == "POST" else None)
            if method == "POST":
                expected = READ_ONLY_POSTS.get(rule.endpoint, 403)
            elif "POST" in (rule.methods or ()):
                expected = 403
            else:
                expected = AUDITOR_GETS.get(rule.endpoint, 200)
            assert response.status_code == expected, f"{method} {url} ({rule.endpoint}): " \
                                                      f"{response.status_code}, not {expected}"
            seen.add((rule.endpoint, method))
    assert _state(db, org_a.org) == before, "an auditor's request changed something"
    assert {("letters.approve_all", "POST"), ("notes.save", "POST"), ("members.index", "GET"),
            ("letters.download_zip", "POST"), ("boilerplates.preview", "POST"),
            ("positions.show", "GET"), ("letters.pdf", "GET")} <= seen


# --- 5. Login throttling -------------------------------------------------------------------

def _address() -> str:
    """A client address of our own, so runs sharing one Redis never share a counter."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _throttled_after_ten(client: FlaskClient, member: Member, bystander: Member, address: str,
                         other: str) -> None:
    """Fail ten sign-ins to ``member``: the 11th is a 429 for that account alone."""
    wrong = {"email": member.email, "password": "not the password"}
    for attempt in range(1, 11):
        response = _open(client, "POST", "/login", data=wrong,
                         environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401, f"attempt {attempt}: {response.status_code}"
    eleventh = _open(client, "POST", "/login", data=wrong, environ_base={"REMOTE_ADDR": address})
    assert eleventh.status_code == 429
    assert "Too many failed sign-ins for this account; try again in 15 minutes." in eleventh.text
    assert 0 < int(eleventh.headers["Retry-After"]) <= 15 * 60
    _assert_strict_headers(eleventh)
    # The account waits from every address, even with the right password, or guessing could
    # go on from many addresses.
    right = {**wrong, "password": PASSWORD}
    for where in (address, other):
        assert _open(client, "POST", "/login", data=right,
                     environ_base={"REMOTE_ADDR": where}).status_code == 429
    # Another member signs in from the same address: one address is not one account.
    response = _open(client, "POST", "/login", data={"email": bystander.email,
                                                     "password": PASSWORD},
                     environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 302


@pytest.mark.parametrize("app", [THROTTLED], indirect=True, ids=["memory"])
def test_the_11th_wrong_password_in_a_minute_is_throttled(app: Flask,
                                                          make_member: Callable) -> None:
    """With the in-memory store, ten wrong passwords are answered and the 11th is a 429."""
    member = make_member("manager")
    bystander = make_member("admin", org=member.organization)
    _throttled_after_ten(app.test_client(), member, bystander, _address(), _address())


@pytest.mark.parametrize("app", [THROTTLED], indirect=True, ids=["memory"])
def test_successful_sign_ins_are_not_throttled(app: Flask, make_member: Callable) -> None:
    """Only failures count: a dozen good sign-ins in a minute all go through."""
    client, member = app.test_client(), make_member("manager")
    for attempt in range(12):
        response = _open(client, "POST", "/login",
                         data={"email": member.email, "password": PASSWORD})
        assert response.status_code == 302, f"sign-in {attempt + 1}: {response.status_code}"
        assert _open(client, "POST", "/logout").status_code == 302


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="set RECRUITER_TEST_REDIS_URL to run against Redis")
@pytest.mark.parametrize("app", [THROTTLED_REDIS], indirect=True, ids=["redis"])
def test_the_11th_wrong_password_is_throttled_with_redis(app: Flask, make_member: Callable) -> None:
    """With RECRUITER_RATELIMIT_STORAGE_URI on Redis, the counters live there and throttle."""
    store = redis.Redis.from_url(str(REDIS_URL))
    # Member emails repeat from run to run: a prefix of this run's keeps their counters apart.
    prefix = app.config["RATELIMIT_KEY_PREFIX"] = f"run-{secrets.token_hex(8)}"
    try:
        member = make_member("manager")
        bystander = make_member("admin", org=member.organization)
        addresses = _address(), _address()
        _throttled_after_ten(app.test_client(), member, bystander, *addresses)
        assert list(store.scan_iter(match=f"*{prefix}*login-account*")), "no account counter"
        assert list(store.scan_iter(match=f"*{addresses[0]}*")), "no address counter in Redis"
    finally:
        for key in store.scan_iter(match=f"*{prefix}*"):
            store.delete(key)
        store.close()


# --- 6. Headers and cookies ----------------------------------------------------------------

def test_every_response_carries_a_strict_csp_and_nosniff(
        app: Flask, client: FlaskClient, org_a: World) -> None:
    """Pages, files, redirects, errors and the login page: strict CSP, no framing, nosniff."""
    anonymous = [_open(client, "GET", "/login"), _open(client, "GET", "/"),
                 _open(client, "GET", "/no-such-page"), _open(client, "GET", "/positions"),
                 _open(client, "GET", "/static/app.css"), _open(client, "GET", "/healthz"),
                 _open(client, "POST", "/login", data={"email": "x@example.com",
                                                       "password": "wrong password"})]
    assert [r.status_code for r in anonymous] == [200, 302, 404, 302, 200, 200, 401]
    for response in anonymous:
        _assert_strict_headers(response)

    admin = _signed_in(app, org_a.members["admin"])
    statuses = set()
    for rule, method, url in _requests(app, org_a.sent_ids):
        if method != "GET":
            continue
        response = _open(admin, "GET", url)
        statuses.add(response.status_code)
        framed = rule.endpoint in FRAMED_BY_THE_APP and response.status_code == 200
        _assert_strict_headers(response, framed_by_app=framed)
        if response.mimetype == "text/html" and not framed:
            assert not INLINE_SCRIPT.search(response.text), f"{url} has an inline script"
    assert statuses >= {200, 302}
    for response in (_open(admin, "GET", "/letters/999999"),  # 404 of a framed endpoint
                     _open(admin, "GET", "/letters/1/approve"),  # 405
                     _open(_signed_in(app, org_a.members["manager"]), "GET", "/members")):
        assert response.status_code in (403, 404, 405)
        _assert_strict_headers(response)


@pytest.mark.parametrize(("app", "secure"), [(NOT_DEBUG, True), (DEBUG, False)],
                         indirect=["app"], ids=["production", "debug"])
def test_the_session_cookie_is_httponly_lax_and_secure_outside_debug(
        app: Flask, client: FlaskClient, make_member: Callable, secure: bool) -> None:
    """The session cookie is HttpOnly and SameSite=Lax always, and Secure unless debugging."""
    member = make_member("manager")
    response = _open(client, "POST", "/login", data={"email": member.email,
                                                     "password": PASSWORD})
    assert response.status_code == 302
    cookie = _cookie(response, app.config["SESSION_COOKIE_NAME"])
    assert cookie.get("httponly") is True
    assert str(cookie.get("samesite")).lower() == "lax"
    assert bool(cookie.get("secure")) is secure


# --- 7. Passwords --------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id(app: Flask, db: Db, org_a: World) -> None:
    """A member added in the UI gets an argon2id hash, and signs in with the password."""
    admin = _signed_in(app, org_a.members["admin"])
    password = "a long first password"
    response = _open(admin, "POST", "/members", data={
        "name": "Robin Diaz", "email": "robin@alpha.example.com", "role": "manager",
        "password": password})
    assert response.status_code == 302
    db.rollback()
    robin = db.scalar(select(Member).where(Member.email == "robin@alpha.example.com"))
    assert robin.password_hash.startswith("$argon2id$")
    assert password not in robin.password_hash
    _signed_in(app, robin, password)


def test_a_failed_sign_in_does_not_reveal_whether_the_email_exists(
        client: FlaskClient, db: Db, make_member: Callable) -> None:
    """Wrong password, unknown email and switched-off member: the same 401 page."""
    member = make_member("manager")
    gone = make_member("auditor", org=member.organization)
    gone.active = False
    db.commit()
    attempts = {member.email: "not the password", "nobody@example.com": "not the password",
                gone.email: PASSWORD}
    pages = []
    for email, password in attempts.items():
        response = _open(client, "POST", "/login", data={"email": email, "password": password})
        assert response.status_code == 401, email
        assert "That email and password do not match an active member." in response.text
        pages.append(response.text.replace(email, "EMAIL"))
    assert pages[0] == pages[1] == pages[2]
