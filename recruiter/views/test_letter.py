""""Send me a test": one letter, as it would be sent now, to the signed-in member's own address.

The work is in services/test_letter.py; here are the role, the organization and a light
throttle per member (``TEST_LETTER_RATE_LIMIT``, default 10 per hour) on the app's limiter.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_login import current_user
from limits import parse
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db, limiter
from ..models import Letter
from ..services.test_letter import send_test_letter
from .access import org_id, requires

bp = Blueprint("test_letter", __name__)
RATE = "10 per hour"


def allowed() -> bool:
    """Count one test for the member; False when their tests of the hour are used up."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return True
    item = parse(config.get("TEST_LETTER_RATE_LIMIT") or RATE)
    key = (config.get("RATELIMIT_KEY_PREFIX") or "", "test-letter", str(current_user.id))
    return bool(limiter.limiter.hit(item, *key))


@bp.post("/letters/<int:letter_id>/test")
@requires("edit")
def send(letter_id: int) -> Response:
    """Mail this letter, marked as a test, to the member; never counted as sent."""
    letter = db.session.get(Letter, letter_id)
    if letter is None or letter.organization_id != org_id():
        abort(404)
    back = redirect(url_for("letters.show", letter_id=letter.id))
    if not allowed():
        flash("You have sent many test letters this hour; try again a little later.", "error")
        return back
    try:
        sent = send_test_letter(db.session, letter, current_user,
                                current_app.config["MAIL_URL"])
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(f"A test of this letter is on its way to {sent.recipient}, marked [TEST]. It does "
          "not count as sent.", "success")
    return back
