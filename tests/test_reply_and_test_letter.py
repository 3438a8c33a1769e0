"""Issue 17, point 6: a Reply-To on every email letter, and "Send me a test".

Reply-To is the organization's ``reply_to``, or its sender address when that is empty: it is
always written, so a candidate's "could I have feedback?" reaches a person. A test letter is
the candidate's letter as it would be sent now, mailed to the member who asked through the
same transport, marked [TEST], audited, and never counted as sent.
"""

from __future__ import annotations

import secrets
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select
from test_sending import (  # noqa: F401 - fixtures
    _quick,
    approve,
    candidates_csv,
    deliveries,
    freeze,
    send_one,
    smtp_server,
)

from recruiter.models import (
    AuditEvent,
    Delivery,
    Letter,
    Organization,
    WebhookEvent,
)
from recruiter.services import files
from recruiter.services import letters as letters_service

SENDER = "hiring@harbourair.example.com"
FEEDBACK = "feedback@harbourair.example.com"


def parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def outbox(app: Flask) -> list[EmailMessage]:
    """The messages the file transport wrote, oldest first."""
    folder = Path(unquote(urlsplit(app.config["MAIL_URL"]).path))
    if not folder.exists():
        return []
    paths = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [parse(p.read_bytes()) for p in paths]


def count(db, model) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(model))


# --- Reply-To on the letters ---------------------------------------------------------------------


def test_a_frozen_letter_says_where_replies_go(db, freeze) -> None:  # noqa: ANN001, F811
    frozen = freeze(reply_to=FEEDBACK)
    for delivery in deliveries(db, frozen.position, "email"):
        message = parse(delivery.letter.frozen.eml)
        assert message["Reply-To"] == FEEDBACK
        assert message["From"].addresses[0].addr_spec == SENDER


def test_without_a_reply_to_replies_go_to_the_sender(db, freeze) -> None:  # noqa: ANN001, F811
    frozen = freeze()
    [delivery, *_] = deliveries(db, frozen.position, "email")
    assert parse(delivery.letter.frozen.eml)["Reply-To"] == SENDER


def test_an_international_reply_to_stays_an_address(db, freeze) -> None:  # noqa: ANN001, F811
    """An IDN domain is written in its ASCII form, never as an encoded word."""
    frozen = freeze(reply_to="antworten@bücher.example")
    [delivery, *_] = deliveries(db, frozen.position, "email")
    assert b"Reply-To: antworten@xn--bcher-kva.example\r\n" in delivery.letter.frozen.eml


def test_the_reply_to_reaches_the_smtp_server(app, db, freeze, smtp_server) -> None:  # noqa: ANN001, F811
    """What arrives is the frozen bytes, Reply-To included."""
    app.config["MAIL_URL"] = smtp_server.url
    frozen = freeze(reply_to=FEEDBACK)
    [first, *_] = deliveries(db, frozen.position, "email")
    assert send_one(db, first.id, smtp_server.url).state == "sent"  # claims the batch's two
    assert len(smtp_server.received) == 2
    for received in smtp_server.received:
        assert parse(received.raw)["Reply-To"] == FEEDBACK


def test_a_draft_letters_email_has_the_reply_to_too(db, make_org, make_position) -> None:  # noqa: ANN001
    org = make_org(reply_to=FEEDBACK)
    position = make_position(org=org, csv=candidates_csv(1))
    letter = next(x for x in letters_service.refresh_letters(db, position)
                  if x.status == "draft")
    assert parse(files.letter_eml(letter))["Reply-To"] == FEEDBACK


# --- the setting ---------------------------------------------------------------------------------

GOOD = {
    "name": "Harbour Air Logistics", "address": "1055 West Hastings Street",
    "sender_name": "Jordan Reyes", "sender_title": "Operations Manager",
    "sender_email": SENDER, "timezone": "America/Vancouver", "locale": "en_CA",
    "send_rate_per_minute": "120",
}


def test_the_settings_page_sets_the_reply_to(client, db, login) -> None:  # noqa: ANN001
    admin = login("admin")
    page = client.get("/organization")
    assert page.status_code == 200 and 'name="reply_to"' in page.text
    response = client.post("/organization", data={**GOOD, "reply_to": FEEDBACK})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Organization, admin.organization_id).reply_to == FEEDBACK
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "organization.changed")
                       ).all()[-1]
    assert "reply_to" in event.payload["fields"]
    assert f'value="{FEEDBACK}"' in client.get("/organization").text
    idn = client.post("/organization", data={**GOOD, "reply_to": "antworten@bücher.example"})
    assert idn.status_code == 302  # as the sender's: an internationalized domain is an address
    db.expire_all()
    assert db.get(Organization, admin.organization_id).reply_to == "antworten@bücher.example"
    cleared = client.post("/organization", data={**GOOD, "reply_to": ""})
    assert cleared.status_code == 302
    db.expire_all()
    assert db.get(Organization, admin.organization_id).reply_to == ""


def test_the_settings_page_refuses_a_bad_reply_to(client, db, login) -> None:  # noqa: ANN001
    admin = login("admin")
    response = client.post("/organization", data={**GOOD, "reply_to": "not an address"})
    assert response.status_code == 200
    assert "Invalid email address" in response.text
    db.expire_all()
    assert db.get(Organization, admin.organization_id).reply_to == ""


def test_org_set_reply_to_and_show(db, runner, make_org) -> None:  # noqa: ANN001
    org = make_org()
    result = runner.invoke(args=["org", "set", "--reply-to", FEEDBACK])
    assert (result.exit_code, result.output) == (0, "Changed: reply_to.\n")
    shown = runner.invoke(args=["org", "show"]).output.splitlines()
    assert shown[5] == f"reply_to: {FEEDBACK}"
    idn = runner.invoke(args=["org", "set", "--reply-to", "antworten@bücher.example"])
    assert idn.exit_code == 0, idn.output
    cleared = runner.invoke(args=["org", "set", "--reply-to", ""])
    assert (cleared.exit_code, cleared.output) == (0, "Changed: reply_to.\n")
    db.expire_all()
    assert db.get(Organization, org.id).reply_to == ""


def test_org_set_refuses_a_bad_reply_to_naming_it(db, runner, make_org) -> None:  # noqa: ANN001
    org = make_org()
    result = runner.invoke(args=["org", "set", "--sender-name", "Ana Souza",
                                 "--reply-to", "not an address"])
    assert result.exit_code == 1
    assert "The reply-to address 'not an address' is not a valid address" in result.output
    db.expire_all()
    assert (db.get(Organization, org.id).reply_to,
            db.get(Organization, org.id).sender_name) == ("", "Jordan Reyes")


# --- "Send me a test" ----------------------------------------------------------------------------


@pytest.fixture
def draft(db, make_org, make_position):  # noqa: ANN001, ANN201
    """A draft email letter of a Harbour Air position, with a Reply-To set."""
    org = make_org(reply_to=FEEDBACK)
    position = make_position(org=org, csv=candidates_csv(2))
    letters = letters_service.refresh_letters(db, position)
    db.commit()
    return next(x for x in letters if x.status == "draft")


def _no_trace_of_sending(db, letter_id: int, status: str) -> None:  # noqa: ANN001
    db.expire_all()
    assert db.get(Letter, letter_id).status == status
    assert count(db, Delivery) == 0
    assert count(db, WebhookEvent) == 0


def test_send_me_a_test_mails_the_member_marked_as_a_test(app, client, db, login, draft) -> None:  # noqa: ANN001
    member = login("manager", org=db.get(Organization, draft.organization_id))
    page = client.get(f"/letters/{draft.id}")
    assert 'data-testid="send-test"' in page.text and "Send me a test" in page.text
    response = client.post(f"/letters/{draft.id}/test")
    assert response.status_code == 302
    assert response.location.endswith(f"/letters/{draft.id}")
    assert "marked [TEST]" in client.get(response.location).text
    [message] = outbox(app)
    # The stdlib folds a long subject that starts with "[" onto its own line: unfolded, it
    # starts with a space, which readers drop (as they do for every folded header).
    assert message["Subject"].lstrip() == f"[TEST] {draft.subject}"
    assert message["X-Recruiter-Test"] == "yes"
    assert message["To"].addresses[0].addr_spec == member.email
    assert message["Reply-To"] == FEEDBACK
    assert message["From"].addresses[0].addr_spec == SENDER
    assert draft.application.candidate.email not in str(message["To"])
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert draft.application.candidate.first_name in body
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.test_sent")).one()
    assert event.actor_id == member.id
    assert event.subject_id == draft.id
    assert event.payload["recipient"] == member.email
    assert event.payload["member"] == member.id
    _no_trace_of_sending(db, draft.id, "draft")


def test_a_frozen_letter_is_not_tested(app, client, db, login, freeze) -> None:  # noqa: ANN001, F811
    """Its email is final and in the audit; a test would only be a second copy of it."""
    frozen = freeze()
    login("admin", org=frozen.org)  # the fixture's manager froze it
    [delivery, *_] = deliveries(db, frozen.position, "email")
    refused = client.post(f"/letters/{delivery.letter_id}/test")
    assert refused.status_code == 302
    assert "only a draft or an approved letter" in client.get(refused.location).text
    assert outbox(app) == []
    db.expire_all()
    assert db.get(Letter, delivery.letter_id).status == "frozen"


def test_an_approved_letter_is_tested_as_it_is(app, client, db, login, make_org,  # noqa: ANN001
                                               make_position, make_member) -> None:
    org = make_org()
    approver = make_member("admin", org=org)
    position = make_position(org=org, csv=candidates_csv(2))
    approve(db, position, approver)
    letter = db.scalars(select(Letter).where(Letter.status == "approved")).first()
    member = login("manager", org=org)
    for _ in range(2):
        assert client.post(f"/letters/{letter.id}/test").status_code == 302
    messages = outbox(app)
    assert len(messages) == 2
    ids = {m["Message-ID"] for m in messages}
    assert len(ids) == 2  # a fresh Message-ID each time, so both reached the outbox
    assert all(m["Reply-To"] == SENDER for m in messages)  # none set: the sender's
    assert all(m["To"].addresses[0].addr_spec == member.email for m in messages)
    assert len(db.scalars(select(AuditEvent).where(
        AuditEvent.action == "letter.test_sent")).all()) == 2
    _no_trace_of_sending(db, letter.id, "approved")
    db.expire_all()
    assert db.get(Letter, letter.id).approved_by_id == approver.id


def test_a_test_reaches_the_smtp_server(app, client, db, login, draft, smtp_server) -> None:  # noqa: ANN001, F811
    app.config["MAIL_URL"] = smtp_server.url
    member = login("manager", org=db.get(Organization, draft.organization_id))
    assert client.post(f"/letters/{draft.id}/test").status_code == 302
    [received] = smtp_server.received
    assert received.rcpt == (member.email,)
    message = parse(received.raw)
    assert message["Subject"].lstrip().startswith("[TEST] ")
    assert message["X-Recruiter-Test"] == "yes"
    assert message["Reply-To"] == FEEDBACK
    _no_trace_of_sending(db, draft.id, "draft")


def test_a_failed_test_says_why_and_records_nothing(app, client, db, login, draft,  # noqa: ANN001
                                                   smtp_server) -> None:  # noqa: F811
    app.config["MAIL_URL"] = smtp_server.url
    smtp_server.rcpt_reply = "550 5.1.1 No such mailbox"
    login("manager", org=db.get(Organization, draft.organization_id))
    response = client.post(f"/letters/{draft.id}/test")
    assert "could not be sent" in client.get(response.location).text
    assert count(db, AuditEvent) == len(db.scalars(select(AuditEvent).where(
        AuditEvent.action != "letter.test_sent")).all())
    _no_trace_of_sending(db, draft.id, "draft")


def test_a_letter_that_does_not_render_is_refused_kindly(app, client, db, login, draft) -> None:  # noqa: ANN001
    draft.render_error = "The boilerplate uses {{ candidate.nickname }}, which is unknown."
    db.commit()
    login("manager", org=db.get(Organization, draft.organization_id))
    response = client.post(f"/letters/{draft.id}/test")  # before a page could render it again
    assert response.status_code == 302
    assert "cannot be rendered, so no test was sent" in client.get(response.location).text
    assert outbox(app) == []
    assert not db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.test_sent")).all()


def test_another_organizations_letter_is_a_404(app, client, db, login, draft, make_org) -> None:  # noqa: ANN001
    login("admin", org=make_org("Beta Analytics"))
    assert client.post(f"/letters/{draft.id}/test").status_code == 404
    assert client.post("/letters/999999/test").status_code == 404
    assert outbox(app) == []


def test_an_auditor_may_not_send_tests(app, client, db, login, draft) -> None:  # noqa: ANN001
    login("auditor", org=db.get(Organization, draft.organization_id))
    assert 'data-testid="send-test"' not in client.get(f"/letters/{draft.id}").text
    assert client.post(f"/letters/{draft.id}/test").status_code == 403
    assert client.get(f"/letters/{draft.id}/test").status_code == 405
    assert outbox(app) == []


@pytest.mark.parametrize("app", [{"RATELIMIT_ENABLED": True,
                                  "TEST_LETTER_RATE_LIMIT": "2 per hour",
                                  "RATELIMIT_KEY_PREFIX": f"t{secrets.token_hex(4)}"}],
                         indirect=True, ids=["throttled"])
def test_tests_are_rate_limited_per_member(app, client, db, login, draft) -> None:  # noqa: ANN001
    login("manager", org=db.get(Organization, draft.organization_id))
    for _ in range(2):
        client.post(f"/letters/{draft.id}/test")
    third = client.post(f"/letters/{draft.id}/test")
    assert "try again a little later" in client.get(third.location).text
    assert len(outbox(app)) == 2
