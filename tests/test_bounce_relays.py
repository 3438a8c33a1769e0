"""Relays' bounce webhooks at POST /api/v1/bounces: Postmark, SendGrid, Mailgun, SES via SNS.

The bodies are the relays' documented formats (tests/fixtures/relays), filled with the address
and the Message-ID of a letter that really left through the outbox. A hard bounce moves its
delivery to ``bounced``; a soft one keeps it ``sent``; a body recruiter cannot read is a 400
that names the problem; the door takes a write token as Bearer or as Basic's password.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from test_sending import Frozen, _quick, deliveries, freeze  # noqa: F401 - fixtures

from recruiter.models import AuditEvent, Delivery
from recruiter.services import sending
from recruiter.services.relay_events import read_events
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")
RELAYS = Path(__file__).parent / "fixtures" / "relays"
URL = "/api/v1/bounces"


@dataclass
class Sent:
    """A released batch whose two emails left, and tokens of its organization and another."""

    frozen: Frozen
    delivery: Delivery  # the first email, which the bodies bounce
    write: str
    read: str
    other: str

    def body(self, name: str, **extra: str) -> bytes:
        """The fixture ``name`` filled with this letter's recipient and Message-ID."""
        message_id = self.delivery.letter.frozen.message_id
        values = {"recipient": self.delivery.recipient, "message_id": message_id,
                  "message_id_bare": message_id.strip("<>"), "source":
                  "hiring@harbourair.example.com", **extra}
        text = (RELAYS / name).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text.encode()

    def sns(self, name: str) -> bytes:
        """An SNS notification carrying the SES notification ``name`` as its Message."""
        envelope = json.loads((RELAYS / "sns_notification.json").read_text(encoding="utf-8"))
        envelope["Message"] = self.body(name).decode()
        return json.dumps(envelope).encode()


@pytest.fixture
def sent(app, db, freeze, make_org) -> Sent:  # noqa: ANN001, F811
    """Two emails frozen, released and sent to the outbox; tokens to post bounces with."""
    frozen = freeze()
    emails = deliveries(db, frozen.position, "email")
    sending.deliver_ids(db, [d.id for d in emails], app.config["MAIL_URL"])
    db.commit()
    emails = deliveries(db, frozen.position, "email")
    assert [d.state for d in emails] == ["sent", "sent"]
    _, write = create_token(db, frozen.org, "Relay", "write")
    _, read = create_token(db, frozen.org, "Reader", "read")
    _, other = create_token(db, make_org("Pacific Coastal Freight"), "Relay", "write")
    db.commit()
    return Sent(frozen, emails[0], write, read, other)


def post(client: FlaskClient, body: bytes, token: str | None, *, basic: bool = False,
         content_type: str = "application/json"):  # noqa: ANN201
    """POST a relay's body with the token as Bearer, or as Basic's password (in a URL)."""
    headers = {"Content-Type": content_type}
    if token and basic:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"bounces:{token}".encode()).decode()
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(URL, data=body, headers=headers)


def state_of(db, delivery_id: int) -> Delivery:  # noqa: ANN001
    db.expire_all()
    return db.get(Delivery, delivery_id)


HARD = [("postmark", lambda s: s.body("postmark_hard.json"), "5.1.1", False, "json"),
        ("sendgrid", lambda s: s.body("sendgrid_events.json"), "5.1.1", True, "json"),
        ("mailgun", lambda s: s.body("mailgun_permanent.json"), "5.1.1", True, "json"),
        ("ses", lambda s: s.body("ses_message_bounce.json"), "5.1.1", False, "json"),
        ("ses", lambda s: s.sns("ses_message_bounce.json"), "5.1.1", True, "text")]


@pytest.mark.parametrize(("relay", "make", "status", "basic", "media"), HARD,
                         ids=["postmark", "sendgrid", "mailgun", "ses-raw", "ses-sns"])
def test_a_hard_bounce_moves_the_delivery_to_bounced(client, db, sent: Sent, relay, make,  # noqa: ANN001
                                                     status, basic, media) -> None:
    """Each relay's permanent failure: the delivery is bounced with status and diagnostic."""
    content_type = "text/plain; charset=UTF-8" if media == "text" else "application/json"
    response = post(client, make(sent), sent.write, basic=basic, content_type=content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.json
    assert answer["relay"] == relay and answer["counts"]["bounced"] == 1
    [bounce] = [e for e in answer["events"] if e["kind"] == "bounce"]
    assert bounce["outcome"] == "bounced" and bounce["delivery_id"] == str(sent.delivery.id)
    assert bounce["status"] == status and "bounced" in answer["detail"]
    delivery = state_of(db, sent.delivery.id)
    assert (delivery.state, delivery.bounce_status) == ("bounced", status)
    assert "does not exist" in delivery.bounce_diagnostic or \
        "user unknown" in delivery.bounce_diagnostic
    assert delivery.bounced_at is not None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "delivery.bounced"))
    assert event.subject_id == delivery.id and event.payload["source"] == f"webhook:{relay}"
    other = [d for d in deliveries(db, sent.frozen.position, "email") if d.id != delivery.id]
    assert [d.state for d in other] == ["sent"]

    again = post(client, make(sent), sent.write, basic=basic, content_type=content_type)
    assert again.status_code == 200 and again.json["counts"].get("already") == 1


SOFT = [("postmark", lambda s: s.body("postmark_soft.json")),
        ("sendgrid", lambda s: s.body("sendgrid_deferred.json")),
        ("mailgun", lambda s: s.body("mailgun_temporary.json")),
        ("ses", lambda s: s.sns("ses_message_transient.json"))]


@pytest.mark.parametrize(("relay", "make"), SOFT, ids=[r for r, _ in SOFT])
def test_a_soft_bounce_keeps_the_letter_sent(client, db, sent: Sent, relay, make) -> None:  # noqa: ANN001
    """A delay (4.x.x) is noted on the delivery, which stays sent."""
    response = post(client, make(sent), sent.write)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["relay"] == relay
    assert [e["outcome"] for e in response.json["events"]] == ["kept"]
    assert response.json["events"][0]["status"] == "4.2.2"
    delivery = state_of(db, sent.delivery.id)
    assert (delivery.state, delivery.bounce_status) == ("sent", "4.2.2")
    assert delivery.bounced_at is None


def test_an_auto_reply_and_other_events_change_nothing(client, db, sent: Sent) -> None:  # noqa: ANN001
    """Postmark's AutoResponder and SendGrid's "processed" are read and ignored."""
    response = post(client, sent.body("postmark_autoresponder.json"), sent.write)
    assert response.status_code == 200
    assert [(e["kind"], e["outcome"]) for e in response.json["events"]] == [
        ("auto_reply", "ignored")]
    processed = json.loads(sent.body("sendgrid_events.json"))[:1]
    response = post(client, json.dumps(processed).encode(), sent.write)
    assert [(e["kind"], e["relay_type"]) for e in response.json["events"]] == [
        ("other", "processed")]
    assert state_of(db, sent.delivery.id).state == "sent"


def test_a_bounce_is_matched_by_recipient_when_no_message_id_came(client, db,  # noqa: ANN001
                                                                   sent: Sent) -> None:
    """Without the raw bounce, Postmark's event names only the address: its one letter."""
    data = json.loads(sent.body("postmark_hard.json"))
    data["Content"] = ""
    response = post(client, json.dumps(data).encode(), sent.write)
    assert response.json["events"][0]["outcome"] == "bounced"
    assert state_of(db, sent.delivery.id).state == "bounced"


def test_another_organizations_token_bounces_nothing(client, db, sent: Sent) -> None:  # noqa: ANN001
    """A bounce posted with another organization's token finds no letter of theirs."""
    response = post(client, sent.body("sendgrid_events.json"), sent.other)
    assert response.status_code == 200
    assert response.json["counts"] == {"ignored": 1, "unknown": 1}
    assert state_of(db, sent.delivery.id).state == "sent"


def test_a_bad_token_is_401_and_a_read_token_403(client, db, sent: Sent) -> None:  # noqa: ANN001
    """No token, a wrong one (Bearer or Basic): 401 offering Basic; a read token: 403."""
    body = sent.body("sendgrid_events.json")
    for token, basic in ((None, False), ("rct_" + "x" * 43, False), ("rct_" + "x" * 43, True),
                         ("not-a-token", True)):
        response = post(client, body, token, basic=basic)
        assert response.status_code == 401, (token, basic)
        assert response.mimetype == "application/problem+json"
        assert 'Basic realm="recruiter"' in response.headers["WWW-Authenticate"]
        assert "HTTP Basic" in response.json["detail"]
    for basic in (False, True):
        response = post(client, body, sent.read, basic=basic)
        assert response.status_code == 403 and "only read" in response.json["detail"]
    assert state_of(db, sent.delivery.id).state == "sent"


def test_basic_is_taken_on_the_bounces_path_only(client, sent: Sent) -> None:
    """Another endpoint refuses the token as Basic's password: a URL is no place for it."""
    header = "Basic " + base64.b64encode(f"x:{sent.write}".encode()).decode()
    response = client.get("/api/v1/organization", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Basic" not in response.headers["WWW-Authenticate"]
    assert client.get("/api/v1/organization", headers={
        "Authorization": f"Bearer {sent.write}"}).status_code == 200


GARBAGE = [
    (b"", "The body is empty"),
    (b"event=failed&recipient=a%40b.example", "The body is not JSON"),
    (b'"just a string"', "not an object or a list"),
    (b'{"hello": "world", "to": "x"}', "its top-level fields: hello, to"),
    (b'[{"email": "a@example.org"}]', "SendGrid event 1: the field 'event' is missing"),
    (b'[3]', "SendGrid event 1: expected a JSON object"),
    (b'{"event-data": {"event": "failed", "recipient": "a@example.org", "severity": "bad"}}',
     "severity should be 'permanent' or 'temporary'"),
    (b'{"RecordType": "Bounce", "Email": "a@example.org"}', "the field 'Type' is missing"),
    (b'{"Type": "Notification", "TopicArn": "arn:x", "Message": "not json"}',
     "its Message is not JSON"),
    (b'{"notificationType": "Bounce", "mail": {}, "bounce": {"bounceType": "Permanent"}}',
     "bounce.bouncedRecipients: expected a list of recipients"),
]


@pytest.mark.parametrize(("body", "named"), GARBAGE, ids=range(len(GARBAGE)))
def test_a_body_recruiter_cannot_read_is_400_naming_the_problem(client, db, sent: Sent,  # noqa: ANN001
                                                                 body, named) -> None:
    """Garbage and unknown shapes: 400, a problem document that says what is wrong."""
    response = post(client, body, sent.write)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert named in response.json["detail"], response.json["detail"]
    assert response.json["errors"][0]["field"] == "body"
    assert state_of(db, sent.delivery.id).state == "sent"


def test_an_sns_subscription_waits_for_a_person(client, db, sent: Sent) -> None:  # noqa: ANN001
    """SubscriptionConfirmation: 200, never fetched; the answer and the audit give the link."""
    body = (RELAYS / "sns_subscription.json").read_bytes()
    response = post(client, body, sent.write, basic=True, content_type="text/plain")
    assert response.status_code == 200, response.get_data(as_text=True)
    url = json.loads(body)["SubscribeURL"]
    assert response.json["subscribe_url"] == url and response.json["events"] == []
    assert "a person must open the subscribe URL" in response.json["detail"]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "bounces.subscription"))
    assert event.payload["subscribe_url"] == url and event.payload["confirmed"] is False
    assert event.organization_id == sent.frozen.org.id


def test_the_endpoint_is_documented(client) -> None:  # noqa: ANN001
    """The OpenAPI document lists it with its raw body, both schemes and its 400."""
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/bounces"]["post"]
    assert operation["security"] == [{"bearer": []}, {"basic": []}]
    assert {"application/json", "text/plain"} <= set(operation["requestBody"]["content"])
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert doc["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    page = client.get("/api/v1/reference")
    assert page.status_code == 200 and "POST /api/v1/bounces" in page.get_data(as_text=True)


def test_the_envelope_senders_token_names_the_letter_first(client, db, sent: Sent) -> None:  # noqa: ANN001
    """SES's mail.source with a VERP token beats the Message-ID: the token's letter bounces."""
    first, second = deliveries(db, sent.frozen.position, "email")
    second.bounce_token = "a" * 32
    db.commit()
    body = sent.body("ses_message_bounce.json", source=f"bounces+{'A' * 32}@bounce.example.com")
    response = post(client, body, sent.write)
    assert response.json["events"][0]["delivery_id"] == str(second.id)
    assert [state_of(db, d.id).state for d in (first, second)] == ["sent", "bounced"]


PARSED = [
    ([{"email": "a@example.org", "event": "dropped", "reason": "Bounced Address",
       "status": "5.0.0", "smtp-id": "<x@y>"}], "sendgrid", "bounce", "5.0.0"),
    ([{"email": "a@example.org", "event": "bounce", "type": "blocked", "status": "4.7.1",
       "reason": "421 4.7.1 try later"}], "sendgrid", "delay", "4.7.1"),
    ([{"email": "a@example.org", "event": "spamreport"}], "sendgrid", "complaint", None),
    ({"event-data": {"event": "complained", "recipient": "a@example.org"}}, "mailgun",
     "complaint", None),
    ({"event-data": {"event": "failed", "severity": "permanent", "recipient": "a@example.org",
                     "delivery-status": {"code": 605, "description": "Not delivering to "
                                         "previously bounced address"}}},
     "mailgun", "bounce", "5.0.0"),
    ({"RecordType": "SpamComplaint", "Email": "a@example.org"}, "postmark", "complaint", None),
    ({"RecordType": "Delivery", "Recipient": "a@example.org"}, "postmark", "other", None),
    ({"eventType": "Bounce", "mail": {}, "bounce": {
        "bounceType": "Undetermined", "bouncedRecipients": [{"emailAddress": "a@example.org"}]}},
     "ses", "delay", "4.0.0"),
    ({"notificationType": "Complaint", "mail": {}, "complaint": {
        "complainedRecipients": [{"emailAddress": "a@example.org"}]}}, "ses", "complaint", None),
    ({"notificationType": "Delivery", "mail": {"destination": ["a@example.org"]}}, "ses",
     "other", None),
]


@pytest.mark.parametrize(("data", "relay", "kind", "status"), PARSED, ids=range(len(PARSED)))
def test_each_relays_other_events_are_read_for_what_they_are(data, relay, kind, status) -> None:  # noqa: ANN001
    """Dropped, blocked, complaints, deliveries: each relay's event read as the right kind."""
    relayed = read_events(json.dumps(data).encode())
    assert relayed.relay == relay
    [event] = relayed.events
    assert (event.kind, event.status, event.recipient) == (kind, status, "a@example.org")


def test_an_sns_unsubscribe_confirmation_changes_nothing(client, sent: Sent) -> None:  # noqa: ANN001
    """SNS saying the subscription ended: 200, no events, a sentence saying so."""
    body = json.dumps({"Type": "UnsubscribeConfirmation", "TopicArn": "arn:aws:sns:x",
                       "SubscribeURL": "https://sns.example/?Action=ConfirmSubscription"})
    response = post(client, body.encode(), sent.write, content_type="text/plain")
    assert response.status_code == 200 and response.json["events"] == []
    assert "subscription ended" in response.json["detail"]
