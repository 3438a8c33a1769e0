"""Checks while writing: the letter checks on a note or a differentiator, as JSON.

live_checks.js posts the box's text as one types (debounced) with the page's CSRF token in
the X-CSRFToken header, as the notes autosave does; the answer lists the findings with their
spans. Nothing is saved. Editors only: the boxes are theirs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from ..errors import NotFound
from ..extensions import db, limiter
from ..forms.notes import NOTE_MAX
from ..services import live_checks
from ..services.positions import get_application, get_position
from .access import org_id, requires

bp = Blueprint("live_checks", __name__)

# A person typing with a 400 ms pause between requests stays far below this; a script does not.
RATE = "120 per minute"
TEXT_MAX = 2 * NOTE_MAX  # more than any box takes


class _Refused(Exception):
    """A request this endpoint cannot answer: (message, status)."""


@bp.errorhandler(_Refused)
def _refused(exc: _Refused) -> tuple[dict[str, str], int]:
    message, status = exc.args
    return {"error": message}, status


def _member_key() -> str:
    """Each member has their own allowance; an office shares one address."""
    who = current_user.get_id() if current_user.is_authenticated else None
    return f"live-checks:{who or get_remote_address()}"


def _posted() -> tuple[dict[str, Any], str]:
    """The JSON (or form) body and the text to check in it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = request.form.to_dict()
    text = body.get("text")
    if not isinstance(text, str):
        raise _Refused('Send the text to check as "text".', 400)
    if len(text) > TEXT_MAX:
        raise _Refused(f"The text is longer than {TEXT_MAX:,} characters.", 413)
    return body, text


@bp.post("/positions/<int:position_id>/checks/note")
@limiter.limit(RATE, key_func=_member_key)
@requires("edit")
def note(position_id: int) -> tuple[dict[str, Any], int]:
    """The letter checks on a note being written for one candidate of the position."""
    position = get_position(db.session, org_id(), position_id)
    body, text = _posted()
    try:
        application_id = int(str(body.get("application_id", "")))
    except (TypeError, ValueError):
        raise _Refused("Send the candidate's application_id.", 400) from None
    application = get_application(db.session, org_id(), application_id)
    if application.position_id != position.id:
        raise NotFound("No such candidate.")
    found = live_checks.check_note(db.session, application, text)
    return live_checks.as_json(text, found, live_checks.note_language(application)), 200


@bp.post("/positions/<int:position_id>/checks/differentiator")
@limiter.limit(RATE, key_func=_member_key)
@requires("edit")
def differentiator(position_id: int) -> tuple[dict[str, Any], int]:
    """The differentiator checks on the text of one box (``language``: a translation's)."""
    position = get_position(db.session, org_id(), position_id)
    body, text = _posted()
    wanted = body.get("language")
    language = live_checks.differentiator_language(
        db.session, position, wanted if isinstance(wanted, str) else None)
    found = live_checks.check_differentiator_text(position, text, language)
    return live_checks.as_json(text, found, language), 200
