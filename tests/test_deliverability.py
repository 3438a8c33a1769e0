"""Issue 18, point 5: the deliverability page of an organization.

It shows the DKIM settings as recruiter sees them (never the key), whether the signing domain
matches the From domain and where to publish the key; SPF and DMARC records to publish (no DNS
lookups: the page says recruiter cannot look them up); where replies go; the bounce domain and
the VERP shape; the newest bounces; and "Send a test to me", which mails the newest testable
letter (or a sample) and shows the header block of exactly the bytes handed to the transport.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dkim
import pytest
from conftest import PASSWORD
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_dkim import DOMAIN, SELECTOR, dns, keygen, signing  # noqa: F401 - fixtures
from test_sending import (  # noqa: F401 - fixtures
    _quick,
    candidates_csv,
    deliveries,
    freeze,
    smtp_server,
)

from recruiter.models import AuditEvent, Delivery, Letter, Organization
from recruiter.services import letters as letters_service
from recruiter.services.deliverability import alignment, newest_testable_letter

PAGE = "/organization/deliverability"
TEST = "/organization/deliverability/test"
SENDER = "hiring@harbourair.example.com"


def headers_shown(html: str) -> str:
    """The text of the page's raw-headers block, unescaped."""
    match = re.search(r'<pre class="source raw" tabindex="0" aria-labelledby="headers-title" '
                      r'data-testid="raw-headers">(.*?)</pre>', html, re.S)
    assert match, "no raw headers on the page"
    return unescape(match.group(1))


def outbox_files(app: Flask) -> list[Path]:
    folder = Path(unquote(urlsplit(app.config["MAIL_URL"]).path))
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def head_of(data: bytes) -> str:
    return data.partition(b"\r\n\r\n")[0].decode().replace("\r\n", "\n")


# --- who may see it --------------------------------------------------------------------------


def test_admins_reach_it_from_settings_and_see_every_part(client: FlaskClient, login) -> None:
    login("admin")
    settings = client.get("/organization").text
    assert f'href="{PAGE}"' in settings
    page = client.get(PAGE)
    assert page.status_code == 200
    text = unescape(page.text)
    for heading in ("DKIM signing", "SPF and DMARC", "Replies", "Bounces", "Last bounces",
                    "Send a test to me"):
        assert f">{heading}</h" in text, heading
    assert 'data-testid="dkim-off"' in text and "recruiter mail dkim-keygen" in text
    assert "recruiter cannot look this up for you" in text
    assert 'harbourair.example.com. IN TXT "v=spf1 include:<your mail relay' in text
    assert '_dmarc.harbourair.example.com. IN TXT "v=DMARC1; p=none;' in text
    assert "p=quarantine" in text
    assert f'data-testid="reply-to">{SENDER}<' in text  # none set: the sender address
    assert 'data-testid="no-bounce-domain"' in text and 'data-testid="no-bounces"' in text
    assert 'data-testid="deliverability-test"' in text


def test_managers_find_it_in_the_menu_and_may_test(client: FlaskClient, login) -> None:
    login("manager")
    home = client.get("/positions").text
    assert f'href="{PAGE}"' in home and ">Deliverability</a>" in home
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'data-testid="deliverability-test"' in page.text
    assert 'href="/organization"' not in page.text  # no link they cannot open


def test_auditors_read_it_without_the_button(client: FlaskClient, login, app: Flask) -> None:
    login("auditor")
    assert f'href="{PAGE}"' in client.get("/positions").text  # in the menu
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'data-testid="deliverability-test"' not in page.text
    assert "Managers and admins can send a test from here." in page.text
    assert client.post(TEST).status_code == 403
    assert outbox_files(app) == []


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    assert client.get(PAGE).status_code == 302
    assert client.post(TEST).status_code == 302


# --- DKIM, SPF and DMARC ---------------------------------------------------------------------


def test_a_working_dkim_setup_is_described_never_its_key(client: FlaskClient, login, app,  # noqa: ANN001
                                                        signing: Path, make_org) -> None:  # noqa: F811
    login("admin", org=make_org(sender_email=f"hiring@{DOMAIN}"))
    page = unescape(client.get(PAGE).text)
    assert ">On</span>" in page
    assert f"<code>{SELECTOR}</code>" in page and f"<code>{DOMAIN}</code>" in page
    assert f"<code>{signing}</code>, readable by recruiter" in page
    assert f'data-testid="dkim-txt-name">{SELECTOR}._domainkey.{DOMAIN}<' in page
    assert re.search(r'data-testid="dkim-alignment"><span class="ok">Yes</span>', page)
    key = signing.read_text()
    body = "".join(key.splitlines()[1:-1])
    assert "PRIVATE KEY" not in page and body[:40] not in page and body[-40:] not in page


def test_a_signing_domain_that_is_not_the_from_domain_is_named(client: FlaskClient, login,  # noqa: ANN001
                                                               signing) -> None:  # noqa: F811
    login("admin")  # sends from harbourair.example.com; signs as harbourair.example
    page = unescape(client.get(PAGE).text)
    assert re.search(r'data-testid="dkim-alignment"><span class="warn">No</span>', page)
    assert "Sign with <code>RECRUITER_DKIM_DOMAIN=harbourair.example.com</code>" in page


def test_a_broken_dkim_setup_says_why(client: FlaskClient, login, app: Flask,  # noqa: ANN001
                                      tmp_path: Path) -> None:
    app.config.update(DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN="harbourair.example.com",
                      DKIM_KEY_FILE=str(tmp_path / "gone.pem"))
    login("manager")
    page = unescape(client.get(PAGE).text)
    assert "Not working</span>" in page and "cannot be read by recruiter" in page
    assert "RECRUITER_DKIM_KEY_FILE: the DKIM private key" in page
    assert "no batch can be frozen" in page


@pytest.mark.parametrize(("signing_domain", "from_domain", "expected"), [
    ("harbourair.example.com", "harbourair.example.com", "strict"),
    ("HarbourAir.Example.com.", "harbourair.example.com", "strict"),
    ("mail.harbourair.example.com", "harbourair.example.com", "relaxed"),
    ("harbourair.example.com", "hr.harbourair.example.com", "relaxed"),
    ("harbourair.example", "harbourair.example.com", "none"),
    ("evilharbourair.example.com", "harbourair.example.com", "none"),
    ("xn--bcher-kva.example", "bücher.example", "strict"),
])
def test_alignment_is_judged_as_dmarc_does(signing_domain: str, from_domain: str,
                                           expected: str) -> None:
    assert alignment(signing_domain, from_domain) == expected


def test_the_relay_is_named_without_its_credentials(client: FlaskClient, login,  # noqa: ANN001
                                                    app: Flask) -> None:
    app.config["MAIL_URL"] = "smtp+starttls://relay-user:s3cr3t-pass@smtp.relay.example:587"
    login("admin")
    page = client.get(PAGE).text
    assert "<code>smtp.relay.example</code>" in page
    assert "s3cr3t-pass" not in page and "relay-user" not in page


def test_a_bounce_domain_shows_the_verp_shape_and_moves_spf(client: FlaskClient, login,  # noqa: ANN001
                                                            make_org) -> None:
    login("admin", org=make_org(bounce_domain="bounces.harbourair.example.com",
                                reply_to="people@harbourair.example.com"))
    page = unescape(client.get(PAGE).text)
    assert 'data-testid="no-bounce-domain"' not in page
    assert "<code>bounces+<token>@bounces.harbourair.example.com</code>" in page
    assert "recruiter bounces" in page and "/api/v1/bounces" in page
    assert 'bounces.harbourair.example.com. IN TXT "v=spf1' in page
    assert "Your envelope domain, <code>bounces.harbourair.example.com</code>, matches." in page
    assert 'data-testid="reply-to">people@harbourair.example.com<' in page


def test_a_foreign_bounce_domain_is_said_not_to_align(client: FlaskClient, login,  # noqa: ANN001
                                                      make_org) -> None:
    login("admin", org=make_org(bounce_domain="bounces.mailer.example.net"))
    page = unescape(client.get(PAGE).text)
    assert "does not match</span>, so only DKIM can pass DMARC" in page
    assert "<code>bounces.harbourair.example.com</code>" in page  # the suggestion


def test_positions_with_their_own_reply_to_are_listed(client: FlaskClient, db, login,  # noqa: ANN001
                                                      make_position) -> None:
    member = login("manager")
    make_position(org=member.organization, csv=candidates_csv(1), title="Ramp Agent",
                  reply_to="dana.wu@harbourair.example.com")
    make_position(org=member.organization, csv=candidates_csv(1), title="Dispatcher")
    page = client.get(PAGE).text
    listed = re.search(r'<ul data-testid="own-replies">(.*?)</ul>', page, re.S).group(1)
    assert "Ramp Agent" in listed and "dana.wu@harbourair.example.com" in listed
    assert "Dispatcher" not in listed


# --- the last bounces ------------------------------------------------------------------------


def _bounce(db, delivery: Delivery, minutes: int, status: str = "5.1.1") -> None:  # noqa: ANN001
    delivery.state = "bounced"
    delivery.bounced_at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    delivery.bounce_status = status
    delivery.bounce_diagnostic = f"550 {status} <{delivery.recipient}>: no such user"


def test_the_newest_twenty_bounces_are_shown(client: FlaskClient, db, login, freeze,  # noqa: ANN001, F811
                                             make_org) -> None:
    frozen = freeze(candidates_csv(22))
    emails = deliveries(db, frozen.position, "email")
    assert len(emails) >= 21
    for minutes, delivery in enumerate(emails[:21]):
        _bounce(db, delivery, minutes)
    db.commit()
    other = freeze(candidates_csv(2), name="Beta Analytics")  # another organization's bounce
    [theirs, *_] = deliveries(db, other.position, "email")
    _bounce(db, theirs, 99, "5.7.1")
    db.commit()

    login("admin", org=frozen.org)
    page = client.get(PAGE).text
    table = re.search(r'<table class="table" data-testid="bounces".*?</table>', page, re.S)
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", table.group(0), re.S)
    assert len(rows) == 20
    newest, oldest_shown = emails[20], emails[1]
    assert newest.letter.application.candidate.full_name in rows[0]
    assert oldest_shown.letter.application.candidate.full_name in rows[-1]
    assert emails[0].letter.application.candidate.full_name not in table.group(0)
    assert f'href="/audit/letters/{newest.letter_id}"' in rows[0]
    assert "Operations Coordinator" in rows[0] and "5.1.1" in rows[0]
    assert "no such user" in unescape(rows[0]) and "2026-12-03 08:20:00 UTC" in rows[0]
    assert "5.7.1" not in page  # never another organization's
    assert "The newest 20 bounces at most." in page

    client.post("/logout")  # the fixture's manager cannot open the audit: the letter's page
    client.post("/login", data={"email": frozen.member.email, "password": PASSWORD})
    managed = client.get(PAGE).text
    assert f'href="/letters/{newest.letter_id}"' in managed
    assert "/audit/letters/" not in managed


# --- "Send a test to me" ---------------------------------------------------------------------


def _draft(db, make_position, org: Organization) -> Letter:  # noqa: ANN001
    position = make_position(org=org, csv=candidates_csv(2))
    letters = letters_service.refresh_letters(db, position)
    db.commit()
    return max((x for x in letters if x.status == "draft"
                and x.application.letter_channel == "email"), key=lambda x: x.id)


def test_the_test_sends_the_newest_letter_and_shows_the_headers_that_left(  # noqa: ANN001
        app: Flask, client: FlaskClient, db, login, make_position) -> None:
    member = login("manager")
    draft = _draft(db, make_position, member.organization)
    response = client.post(TEST)
    assert response.status_code == 200
    assert 'data-testid="test-sent"' in response.text and 'role="status"' in response.text
    [path] = outbox_files(app)
    shown = headers_shown(response.text)
    assert shown == head_of(path.read_bytes())  # exactly what was handed to the transport
    assert "X-Recruiter-Test: yes" in shown and "Subject: [TEST]" in " ".join(shown.split())
    assert f"To: Manager <{member.email}>" in shown
    assert "DKIM-Signature" not in shown  # none configured
    candidate = draft.application.candidate
    assert f"A test of the letter to {candidate.full_name}" in unescape(response.text)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.test_sent")).one()
    assert event.subject_id == draft.id and event.actor_id == member.id
    db.expire_all()
    assert db.get(Letter, draft.id).status == "draft"
    assert db.scalars(select(Delivery)).all() == []


def test_the_letter_tested_is_the_newest_that_can_be_tested(db, make_org,  # noqa: ANN001
                                                             make_position) -> None:
    """Not one that fails to render, nor one frozen, nor another organization's."""
    org = make_org()
    _draft(db, make_position, org)
    _draft(db, make_position, org)
    drafts = sorted(db.scalars(select(Letter).where(Letter.status == "draft")),
                    key=lambda x: -x.id)
    assert len(drafts) >= 2
    assert newest_testable_letter(db, org.id).id == drafts[0].id
    drafts[0].render_error = "The boilerplate uses {{ candidate.nickname }}, which is unknown."
    db.commit()
    assert newest_testable_letter(db, org.id).id == drafts[1].id
    for letter in drafts[1:]:
        letter.status = "frozen"
    db.commit()
    assert newest_testable_letter(db, org.id) is None
    assert newest_testable_letter(db, make_org("Beta Analytics").id) is None


def test_without_letters_a_sample_is_sent(app: Flask, client: FlaskClient, db, login) -> None:  # noqa: ANN001
    member = login("admin")
    response = client.post(TEST)
    assert response.status_code == 200
    assert "A sample letter (there is no draft or approved email letter" in response.text
    [path] = outbox_files(app)
    data = path.read_bytes()
    assert headers_shown(response.text) == head_of(data)
    message = data.decode()
    assert "Subject: [TEST] A sample letter from Harbour Air Logistics" in message
    assert f"Reply-To: {SENDER}" in message and "Date: " in message
    [event] = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "organization.test_sent")).all()
    assert event.actor_id == member.id and event.payload["recipient"] == member.email


def test_the_test_is_signed_when_dkim_is_on_and_verifies(  # noqa: ANN001
        app: Flask, client: FlaskClient, db, login, make_org, make_position, signing,  # noqa: F811
        dns, smtp_server) -> None:  # noqa: F811
    """Through a real SMTP server: the headers shown are those that arrived, DKIM included."""
    app.config["MAIL_URL"] = smtp_server.url
    member = login("manager", org=make_org(sender_email=f"hiring@{DOMAIN}"))
    _draft(db, make_position, member.organization)
    response = client.post(TEST)
    assert response.status_code == 200, response.text
    [received] = smtp_server.received
    shown = headers_shown(response.text)
    assert shown == head_of(received.raw)
    assert shown.startswith("DKIM-Signature: ")
    assert f"d={DOMAIN}" in shown and f"s={SELECTOR}" in shown
    assert dkim.verify(received.raw, dnsfunc=dns)  # the DNS is the test's dict


def test_a_refused_test_says_why(app: Flask, client: FlaskClient, db, login,  # noqa: ANN001
                                 smtp_server) -> None:  # noqa: F811
    app.config["MAIL_URL"] = smtp_server.url
    smtp_server.rcpt_reply = "550 5.1.1 No such mailbox"
    login("manager")
    response = client.post(TEST)
    assert response.status_code == 302 and response.location.endswith(PAGE)
    page = client.get(response.location).text
    assert "could not be sent" in page and 'data-testid="raw-headers"' not in page
    assert db.scalars(select(AuditEvent).where(
        AuditEvent.action == "organization.test_sent")).all() == []


@pytest.mark.parametrize("app", [{"RATELIMIT_ENABLED": True,
                                  "TEST_LETTER_RATE_LIMIT": "1 per hour",
                                  "RATELIMIT_KEY_PREFIX": f"d{secrets.token_hex(4)}"}],
                         indirect=True, ids=["throttled"])
def test_tests_share_the_letter_tests_hourly_limit(app: Flask, client: FlaskClient, db,  # noqa: ANN001
                                                   login, make_position) -> None:
    member = login("manager")
    draft = _draft(db, make_position, member.organization)
    assert client.post(TEST).status_code == 200
    second = client.post(TEST)
    assert second.status_code == 302
    assert "try again a little later" in client.get(second.location).text
    on_the_letter = client.post(f"/letters/{draft.id}/test")  # the same member's same hour
    assert "try again a little later" in client.get(on_the_letter.location).text
    assert len(outbox_files(app)) == 1
