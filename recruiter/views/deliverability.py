"""The deliverability page: DKIM, SPF, DMARC, replies, bounces, and a test showing its headers.

Every member may read it (auditors see no button); managers and admins may send the test, as
they may "Send me a test" on a letter, under the same hourly throttle.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..models import Letter, Organization
from ..services import deliverability
from ..services.organization import reply_address
from ..services.test_letter import SentTest, send_sample, send_test_letter
from ..services.verp import verp_address
from .access import org_id, requires
from .audit_data import when
from .test_letter import allowed as test_allowed

bp = Blueprint("deliverability", __name__)


def _page(sent: SentTest | None = None, tested: Letter | None = None) -> str:
    org: Organization = current_user.organization
    config = current_app.config
    return render_template(
        "organization/deliverability.html", org=org,
        dkim=deliverability.dkim_status(config, org.sender_email),
        records=deliverability.records(org, config.get("MAIL_URL") or ""),
        relay=deliverability.relay_host(config.get("MAIL_URL") or ""),
        reply_to=reply_address(org),
        own_replies=deliverability.positions_replying_elsewhere(db.session, org.id),
        verp=verp_address("<token>", org.bounce_domain) if org.bounce_domain else "",
        bounces=deliverability.last_bounces(db.session, org.id),
        shown=deliverability.BOUNCES_SHOWN, sent=sent, tested=tested, when=when)


@bp.get("/organization/deliverability")
@requires("read")
def show() -> str:
    """What recruiter signs and sends with, what to publish in DNS, and the last bounces."""
    return _page()


@bp.post("/organization/deliverability/test")
@requires("edit")
def test() -> Response | str:
    """Send the newest testable letter (or a sample) to the member; show the headers that left."""
    back = redirect(url_for("deliverability.show"))
    if not test_allowed():
        flash("You have sent many test letters this hour; try again a little later.", "error")
        return back
    letter = deliverability.newest_testable_letter(db.session, org_id())
    mail_url = current_app.config["MAIL_URL"]
    try:
        if letter is not None:
            sent = send_test_letter(db.session, letter, current_user, mail_url)
        else:
            sent = send_sample(db.session, current_user.organization, current_user, mail_url)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    # Shown on this response, not stored: the headers name a candidate's letter's subject.
    return _page(sent=sent, tested=letter)
