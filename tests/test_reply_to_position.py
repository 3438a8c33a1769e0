"""Issue 18, point 1: a position's own Reply-To, and the organization's bounce domain setting.

A position's ``reply_to`` (empty: the organization's Reply-To, else the sender address) goes
on every letter of that position: frozen, exported, and sent as a test. It is set on the
position form and through the API, and refused with a message naming it when it is not an
address. The bounce domain (the domain of VERP envelope senders) is set on the settings page,
with ``recruiter org set --bounce-domain`` and shown by the API.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from test_sending import (  # noqa: F401 - fixtures
    _quick,
    approve,
    candidates_csv,
    deliveries,
    smtp_server,
)

from recruiter.models import AuditEvent, Letter, Organization, Position
from recruiter.services import files, sending
from recruiter.services import letters as letters_service
from recruiter.services.organization import reply_address
from recruiter.services.test_letter import build_test_letter
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

SENDER = "hiring@harbourair.example.com"
ORG_REPLIES = "people@harbourair.example.com"
MANAGER = "dana.wu@harbourair.example.com"
NAMED = "position's reply-to address"


def parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def _position(db, make_org, make_position, *, reply_to: str = "", org_reply: str = ""):  # noqa: ANN001, ANN202
    org = make_org(reply_to=org_reply) if org_reply else make_org()
    position = make_position(org=org, csv=candidates_csv(2), reply_to=reply_to)
    return org, position


# --- where replies go ------------------------------------------------------------------------


def test_the_position_comes_first_then_the_organization_then_the_sender(db, make_org) -> None:  # noqa: ANN001
    org = make_org()
    position = Position(organization_id=org.id, title="Dispatcher", reply_to=" ")
    assert reply_address(org) == SENDER
    assert reply_address(org, position) == SENDER
    org.reply_to = ORG_REPLIES
    assert reply_address(org, position) == ORG_REPLIES
    position.reply_to = MANAGER
    assert reply_address(org, position) == MANAGER
    assert reply_address(org) == ORG_REPLIES


def test_frozen_letters_carry_their_positions_reply_to(db, make_org, make_member,  # noqa: ANN001
                                                       make_position) -> None:
    """Two positions of one organization: each batch says its own position's address."""
    org = make_org(reply_to=ORG_REPLIES)
    member = make_member("manager", org=org)
    own = make_position(org=org, csv=candidates_csv(2), reply_to=MANAGER)
    other = make_position(org=org, csv=candidates_csv(2), title="Dispatcher")
    for position in (own, other):
        approve(db, position, member)
        sending.freeze_batch(db, position, member, hold_until_accepted=False)
        db.commit()
    for position, expected in ((own, MANAGER), (other, ORG_REPLIES)):
        emails = deliveries(db, position, "email")
        assert emails
        for delivery in emails:
            message = parse(delivery.letter.frozen.eml)
            assert message["Reply-To"] == expected
            assert message["From"].addresses[0].addr_spec == SENDER
    own.reply_to = "someone.else@harbourair.example.com"  # later: frozen letters keep theirs
    db.commit()
    for delivery in deliveries(db, own, "email"):
        assert parse(files.letter_eml(delivery.letter))["Reply-To"] == MANAGER


def test_the_reply_to_reaches_the_smtp_server(app, db, make_org, make_member, make_position,  # noqa: ANN001
                                              smtp_server) -> None:  # noqa: F811
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(2), reply_to=MANAGER)
    approve(db, position, member)
    sending.freeze_batch(db, position, member, hold_until_accepted=False)
    db.commit()
    [first, *_] = deliveries(db, position, "email")
    sending.deliver_ids(db, [first.id], smtp_server.url)
    assert smtp_server.received
    assert all(parse(r.raw)["Reply-To"] == MANAGER for r in smtp_server.received)


def test_an_exported_draft_and_a_test_carry_it_too(db, make_org, make_member,  # noqa: ANN001
                                                   make_position) -> None:
    org, position = _position(db, make_org, make_position, reply_to=MANAGER,
                              org_reply=ORG_REPLIES)
    draft = next(x for x in letters_service.refresh_letters(db, position) if x.status == "draft")
    assert parse(files.letter_eml(draft))["Reply-To"] == MANAGER
    member = make_member("manager", org=org)
    *_, data = build_test_letter(draft, member)
    assert parse(data)["Reply-To"] == MANAGER
    position.reply_to = ""
    db.commit()
    assert parse(files.letter_eml(draft))["Reply-To"] == ORG_REPLIES


# --- the position form -----------------------------------------------------------------------


def _form(**values: str) -> dict[str, str]:
    return {"title": "Ramp Agent", "location": "Vancouver, BC", "openings": "1",
            "boilerplate": "auto", **values}


def test_the_position_form_opens_and_edits_with_a_reply_to(client: FlaskClient, db,  # noqa: ANN001
                                                           login) -> None:
    member = login("manager")
    page = client.get("/positions/new")
    assert 'name="reply_to"' in page.text and "Replies go to" in page.text
    opened = client.post("/positions/new", data=_form(reply_to=MANAGER))
    assert opened.status_code == 302, opened.text
    position = db.scalars(select(Position).where(Position.title == "Ramp Agent")).one()
    assert position.reply_to == MANAGER
    edit = client.get(f"/positions/{position.id}/edit")
    assert f'value="{MANAGER}"' in edit.text
    cleared = client.post(f"/positions/{position.id}/edit", data=_form(reply_to=""))
    assert cleared.status_code == 302
    db.expire_all()
    assert db.get(Position, position.id).reply_to == ""
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "position.changed")).all()
    assert event.payload == {"fields": ["reply_to"]} and event.actor_id == member.id
    again = client.post(f"/positions/{position.id}/edit", data=_form(reply_to=""))
    assert again.status_code == 302  # nothing changed: no second event
    assert len(db.scalars(select(AuditEvent).where(
        AuditEvent.action == "position.changed")).all()) == 1


def test_the_position_form_refuses_a_bad_reply_to_naming_it(client: FlaskClient, db,  # noqa: ANN001
                                                            login, make_position) -> None:
    member = login("manager")
    refused = client.post("/positions/new", data=_form(reply_to="dana at harbour air"))
    assert refused.status_code == 200
    assert (f"The {NAMED} 'dana at harbour air' is not a valid address: it must be exactly "
            "one email address.") in unescape(refused.text)
    assert db.scalars(select(Position).where(Position.title == "Ramp Agent")).all() == []
    position = make_position(org=member.organization)
    edit = client.post(f"/positions/{position.id}/edit",
                       data=_form(reply_to="dana@harbourair.example.com, ops@example.com"))
    assert edit.status_code == 200 and NAMED in unescape(edit.text)
    db.expire_all()
    assert db.get(Position, position.id).reply_to == ""
    assert db.get(Position, position.id).title == "Operations Coordinator"  # nothing written


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api(db, client: FlaskClient, make_org):  # noqa: ANN001, ANN201
    """A client with a write token of a fresh organization that sets a Reply-To."""
    org = make_org(reply_to=ORG_REPLIES)
    _, secret = create_token(db, org, "Greenhouse", "write")
    db.commit()

    def call(method: str, path: str, **kwargs):  # noqa: ANN003, ANN202
        return client.open("/api/v1" + path, method=method,
                           headers={"Authorization": f"Bearer {secret}"}, **kwargs)

    return call


def test_the_api_reads_and_writes_a_positions_reply_to(api, db) -> None:  # noqa: ANN001
    opened = api("POST", "/positions", json={"title": "Ramp Agent", "reply_to": MANAGER})
    assert opened.status_code == 201, opened.json
    assert (opened.json["reply_to"], opened.json["replies_go_to"]) == (MANAGER, MANAGER)
    path = f"/positions/{opened.json['id']}"
    cleared = api("PATCH", path, json={"reply_to": ""})
    assert cleared.status_code == 200
    assert (cleared.json["reply_to"], cleared.json["replies_go_to"]) == ("", ORG_REPLIES)
    untouched = api("PATCH", path, json={"openings": 2})
    assert untouched.json["reply_to"] == ""  # left out: unchanged
    assert api("PATCH", path, json={"reply_to": MANAGER}).json["reply_to"] == MANAGER
    assert api("GET", path).json["replies_go_to"] == MANAGER


def test_the_api_refuses_a_bad_reply_to_naming_the_field(api, db) -> None:  # noqa: ANN001
    opened = api("POST", "/positions", json={"title": "Ramp Agent"})
    assert opened.json["reply_to"] == "" and opened.json["replies_go_to"] == ORG_REPLIES
    refused = api("PATCH", f"/positions/{opened.json['id']}", json={"reply_to": "not an address"})
    assert refused.status_code == 422
    [error] = refused.json["errors"]
    assert error["field"] == "reply_to" and NAMED in error["detail"]
    db.expire_all()
    assert db.get(Position, int(opened.json["id"])).reply_to == ""
    document = api("GET", "/openapi.json").json
    schema = document["components"]["schemas"]
    assert "reply_to" in schema["PositionChange"]["properties"]
    assert {"reply_to", "replies_go_to"} <= set(schema["PositionOut"]["properties"])
    assert "bounce_domain" in schema["OrganizationOut"]["properties"]


# --- the bounce domain -----------------------------------------------------------------------

GOOD = {
    "name": "Harbour Air Logistics", "address": "1055 West Hastings Street",
    "sender_name": "Jordan Reyes", "sender_title": "Operations Manager",
    "sender_email": SENDER, "timezone": "America/Vancouver", "locale": "en_CA",
    "send_rate_per_minute": "120",
}


def test_the_settings_page_sets_the_bounce_domain(client: FlaskClient, db, login) -> None:  # noqa: ANN001
    admin = login("admin")
    assert 'name="bounce_domain"' in client.get("/organization").text
    saved = client.post("/organization", data={**GOOD, "bounce_domain": "Bounces.Bücher.example."})
    assert saved.status_code == 302
    db.expire_all()
    org = db.get(Organization, admin.organization_id)
    assert org.bounce_domain == "bounces.xn--bcher-kva.example"  # as DNS and MAIL FROM write it
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "organization.changed")
                       ).all()[-1]
    assert "bounce_domain" in event.payload["fields"]
    cleared = client.post("/organization", data={**GOOD, "bounce_domain": ""})
    assert cleared.status_code == 302
    db.expire_all()
    assert db.get(Organization, admin.organization_id).bounce_domain == ""


@pytest.mark.parametrize(("typed", "says"), [
    ("https://bounces.example.com", "without https://, an @ or a path"),
    ("bounces@example.com", "without https://, an @ or a path"),
    ("localhost", "it needs a dot"),
    ("bounces..example.com", "two periods in a row"),
    ("bounces example.com", "invalid characters"),
])
def test_the_settings_page_refuses_what_is_not_a_domain(client: FlaskClient, db, login,  # noqa: ANN001
                                                        typed: str, says: str) -> None:
    admin = login("admin")
    refused = client.post("/organization", data={**GOOD, "bounce_domain": typed,
                                                 "sender_name": "Ana Souza"})
    assert refused.status_code == 200
    assert "The bounce domain" in refused.text and says in unescape(refused.text)
    db.expire_all()
    org = db.get(Organization, admin.organization_id)
    assert (org.bounce_domain, org.sender_name) == ("", "Jordan Reyes")  # all or nothing


def test_org_set_bounce_domain_and_the_api_shows_it(db, runner, make_org,  # noqa: ANN001
                                                    client: FlaskClient) -> None:
    org = make_org()
    result = runner.invoke(args=["org", "set", "--bounce-domain", "bounces.harbourair.example.com"])
    assert (result.exit_code, result.output) == (0, "Changed: bounce_domain.\n")
    shown = runner.invoke(args=["org", "show"]).output.splitlines()
    assert "bounce_domain: bounces.harbourair.example.com" in shown
    refused = runner.invoke(args=["org", "set", "--bounce-domain", "https://x.example.com"])
    assert refused.exit_code == 1 and "The bounce domain" in refused.output
    _, secret = create_token(db, org, "ATS", "read")
    db.commit()
    got = client.get("/api/v1/organization", headers={"Authorization": f"Bearer {secret}"})
    assert got.json["bounce_domain"] == "bounces.harbourair.example.com"
    cleared = runner.invoke(args=["org", "set", "--bounce-domain", ""])
    assert cleared.exit_code == 0
    db.expire_all()
    assert db.get(Organization, org.id).bounce_domain == ""
    assert db.scalars(select(Letter)).all() == []  # a setting, nothing else
