"""A bounced email on the sending page: shown with the failures, and sent by post in one click.

The batch's two emails really leave through the outbox; a relay's hard bounce (through the
same service the webhook calls) moves one to ``bounced``. A manager then sends that letter by
post: exactly one postal delivery, its PDF frozen and recorded in the audit chain, printed in
the post bundle and confirmed as mailed like any postal letter. An auditor sees the bounce
and no button.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import PASSWORD
from flask import g
from flask.testing import FlaskClient
from pdftools import pdf_text
from sqlalchemy import func, select
from test_sending import Frozen, _quick, deliveries, freeze  # noqa: F401 - fixtures

from recruiter.models import AuditEvent, Delivery, Resolution
from recruiter.services import audit, rechecks, sending
from recruiter.services.bounces import apply_bounce

DIAGNOSTIC = "smtp; 550 5.1.1 <robin.tremblay1@example.org>... user unknown"


def _as(client: FlaskClient, method: str, url: str, **kwargs):  # noqa: ANN003, ANN202
    """One request; the tests share an app context, where Flask-Login caches the user on g."""
    g.pop("_login_user", None)
    return client.open(url, method=method, **kwargs)


def _sign_in(client: FlaskClient, member) -> None:  # noqa: ANN001
    """Sign in as the batch's own manager (the one who froze it)."""
    response = _as(client, "POST", "/login", data={"email": member.email,
                                                     "password": PASSWORD})
    assert response.status_code == 302


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def bounced(app, db, freeze) -> tuple[Frozen, Delivery]:  # noqa: ANN001, F811
    """Two emails sent through the outbox; the first bounced for good (5.1.1)."""
    frozen = freeze()
    emails = deliveries(db, frozen.position, "email")
    sending.deliver_ids(db, [d.id for d in emails], app.config["MAIL_URL"])
    db.commit()
    first = deliveries(db, frozen.position, "email")[0]
    result = apply_bounce(db, frozen.org.id, message_id=first.letter.frozen.message_id,
                          status="5.1.1", diagnostic=DIAGNOSTIC, source="webhook:sendgrid")
    db.commit()
    assert result.outcome == "bounced"
    db.expire_all()
    return frozen, db.get(Delivery, first.id)


def _page(client: FlaskClient, frozen: Frozen) -> str:
    response = _as(client, "GET", f"/positions/{frozen.position.id}/sending")
    assert response.status_code == 200
    return response.text


def test_a_bounce_is_listed_with_the_failures_and_in_the_csv(client, db, login,  # noqa: ANN001
                                                              bounced) -> None:
    """State, status and diagnostic, when, the button; the headline and the CSV say so too."""
    frozen, delivery = bounced
    _sign_in(client, frozen.member)
    page = _page(client, frozen)
    problems = _text(page.split('data-testid="problems"')[1].split("</table>")[0])
    assert "bounced" in problems and "5.1.1" in problems and "user unknown" in problems
    assert "Bounced" in problems and "Send by post instead" in problems
    assert f'action="/deliveries/{delivery.id}/by_post"' in page
    assert f'action="/deliveries/{delivery.id}/resend"' not in page  # nothing to retry
    assert "1 bounced: see below." in _text(page)
    listed = _text(page.split('data-testid="recipients"')[1])
    when = r"[^A-Za-z]*[A-Z][a-z]+ 20\d\d, [\d:]+"  # "3 Dec 2026, 07:37"
    assert re.search(rf"email bounced bounced {when} 5\.1\.1 smtp; 550", listed), listed

    response = _as(client, "GET", f"/positions/{frozen.position.id}/failures.csv")
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert [(r["state"], r["bounce_status"], r["email"]) for r in rows] == [
        ("bounced", "5.1.1", delivery.recipient)]
    assert "user unknown" in rows[0]["reason"] and rows[0]["bounced_at"]
    assert rows[0]["message_id"] == delivery.letter.frozen.message_id


def test_send_by_post_makes_one_postal_letter_that_is_printed_and_posted(
        client, db, login, bounced, tmp_path) -> None:  # noqa: ANN001
    """One click: one post delivery, PDF frozen and chained; in the bundle; confirmed mailed."""
    frozen, delivery = bounced
    manager = frozen.member
    _sign_in(client, manager)
    response = _as(client, "POST", f"/deliveries/{delivery.id}/by_post", follow_redirects=True)
    assert response.status_code == 200
    assert "now goes by post" in _text(response.text)
    db.expire_all()
    [post] = deliveries(db, frozen.position, "post")
    assert (post.letter_id, post.state) == (delivery.letter_id, "queued")
    assert post.letter.application.channel == "post"
    frozen_letter = post.letter.frozen
    assert frozen_letter.pdf.startswith(b"%PDF") and frozen_letter.eml  # the email stays
    [decision] = db.scalars(select(Resolution).where(Resolution.delivery_id == delivery.id))
    assert (decision.action, decision.member_id) == ("by_post", manager.id)
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "delivery.by_post", AuditEvent.subject_id == post.id)) == 1
    assert audit.verify(db, frozen.org) == []  # the PDF's hash is in the chain

    page = _page(client, frozen)
    assert "Letters for post (PDF)" in page and "Goes by post instead" in page
    assert "1 bounced, going by post instead" in _text(page)
    bundle = _as(client, "GET", f"/positions/{frozen.position.id}/post-letters.pdf")
    assert bundle.mimetype == "application/pdf", bundle.status_code
    name = post.letter.application.candidate
    assert name.last_name in pdf_text(bundle.data, tmp_path)

    again = _as(client, "POST", f"/deliveries/{delivery.id}/by_post", follow_redirects=True)
    assert "already goes by post; nothing changed" in _text(again.text)
    assert len(deliveries(db, frozen.position, "post")) == 1

    posted = _as(client, "POST", f"/positions/{frozen.position.id}/posted",
                 follow_redirects=True)
    assert "Marked 1 postal letter as mailed." in _text(posted.text)
    [post] = deliveries(db, frozen.position, "post")
    assert (post.state, post.letter.status) == ("sent", "sent")
    assert db.get(Delivery, delivery.id).state == "bounced"  # what the email did stays
    assert "mailed" in _text(_page(client, frozen).split('data-testid="by-post"')[1])

    # The letter now stands by its postal delivery: sent, and left (no reinstatement stops it).
    assert re.search(r'data-testid="letter-life">sent<',
                     _as(client, "GET", f"/letters/{post.letter_id}").text)
    assert rechecks.life_of(db, post.letter) == "sent"

    login("auditor", org=frozen.org)  # the letter's proof: both copies match the chain
    proof = _as(client, "GET", f"/audit/letters/{post.letter_id}").text
    assert proof.count("matches the stored bytes and the chain") == 2  # email and PDF
    assert "does not match" not in proof


def test_an_auditor_sees_the_bounce_and_no_button(client, db, login, bounced) -> None:  # noqa: ANN001
    """Read only: the status and the words are there; the button is not, and a POST is 403."""
    frozen, delivery = bounced
    login("auditor", org=frozen.org)
    page = _page(client, frozen)
    assert "5.1.1" in page and "user unknown" in page
    assert "by_post" not in page and "Send by post instead" not in page
    assert _as(client, "POST", f"/deliveries/{delivery.id}/by_post").status_code == 403
    assert deliveries(db, frozen.position, "post") == []


def test_without_a_postal_address_the_page_says_what_is_missing(client, db, login,  # noqa: ANN001
                                                                 bounced) -> None:
    """No street address: no button, a sentence naming it; a POST anyway changes nothing."""
    frozen, delivery = bounced
    candidate = delivery.letter.application.candidate
    candidate.address_line1 = ""
    db.commit()
    _sign_in(client, frozen.member)
    page = _text(_page(client, frozen))
    assert "add Robin’s postal address first (street address missing)" in page
    assert "Send by post instead" not in page
    response = _as(client, "POST", f"/deliveries/{delivery.id}/by_post", follow_redirects=True)
    assert "has no postal address yet (street address missing)" in _text(response.text)
    assert deliveries(db, frozen.position, "post") == []


def test_a_letter_that_did_not_bounce_cannot_go_by_post(client, db, login, bounced) -> None:  # noqa: ANN001
    """The other, sent email: refused with a reason, nothing made."""
    frozen, delivery = bounced
    other = [d for d in deliveries(db, frozen.position, "email") if d.id != delivery.id][0]
    _sign_in(client, frozen.member)
    response = _as(client, "POST", f"/deliveries/{other.id}/by_post", follow_redirects=True)
    assert "Only a bounced email can be sent by post instead" in _text(response.text)
    assert deliveries(db, frozen.position, "post") == []


def test_the_letter_and_position_pages_say_bounced(client, login, bounced) -> None:  # noqa: ANN001
    """The letter's life reads "bounced" on its own page and on the position's."""
    frozen, delivery = bounced
    _sign_in(client, frozen.member)
    letter = _as(client, "GET", f"/letters/{delivery.letter_id}").text
    assert re.search(r'data-testid="letter-life">bounced<', letter)
    position = _text(_as(client, "GET", f"/positions/{frozen.position.id}").text)
    assert "bounced" in position
