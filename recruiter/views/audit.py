"""Audit: what each candidate received, the chain that proves it, retention and erasure.

Admins and auditors read everything here and export evidence; verifying the chain only reads.
Changing the retention period and erasing a person are for admins.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..forms.audit import ErasureForm, RetentionForm
from ..models import Letter, Organization
from ..plural import plural
from ..services import audit, evidence, files, retention
from ..services.positions import get_position
from . import audit_data as data
from .access import org_id, requires
from .letters import FRAMEABLE

bp = Blueprint("audit", __name__)
log = logging.getLogger(__name__)
EVENTS_PER_PAGE = 50
RECENT_PER_PAGE = 25
LETTERS_PER_PAGE = 100


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"when": data.when, "payload_text": data.payload_text}


def _org() -> Organization:
    return db.session.get(Organization, org_id())


def _letter(letter_id: int) -> Letter:
    letter = db.session.get(Letter, letter_id)
    if letter is None or letter.organization_id != org_id():
        abort(404)
    return letter


def _page_arg(name: str = "page") -> int:
    return max(request.args.get(name, 1, type=int) or 1, 1)


@bp.get("/audit")
@requires("audit")
def index() -> str:
    """Positions with a batch, the newest audit events, and the chain check."""
    org = _org()
    events = data.paginate(db.session, data.org_events(org.id), _page_arg(), RECENT_PER_PAGE)
    return render_template("audit/index.html", org=org, batches=data.batches(db.session, org),
                           events=events, names=data.member_names(db.session, org.id),
                           subjects=data.subject_links(db.session, org.id, events.items))


@bp.post("/audit/verify")
@requires("audit")
def verify() -> Response:
    """Recompute the chain and every stored letter's hash; reads only, so auditors may."""
    org = _org()
    problems = audit.verify(db.session, org)
    count = audit.event_count(db.session, org.id)
    db.session.rollback()  # nothing a check touched is ever written
    if problems:
        flash(f"The audit trail is broken. {problems[0].where}: {problems[0].what}.", "error")
    else:
        events = "the audit event chains" if count == 1 else f"all {count} audit events chain"
        flash(f"Intact: {events} correctly and every stored letter "
              "matches the SHA-256 recorded when it was frozen.", "success")
    return redirect(url_for("audit.index"))


@bp.get("/audit/positions/<int:position_id>")
@requires("audit")
def position(position_id: int) -> str:
    """Who got what for one position, and the timeline of everything that happened to it."""
    pos = get_position(db.session, org_id(), position_id)
    letters = data.position_letters(db.session, pos, _page_arg(), LETTERS_PER_PAGE)
    events = data.paginate(db.session, data.position_events(pos), _page_arg("events"),
                           EVENTS_PER_PAGE)
    return render_template("audit/position.html", position=pos, letters=letters,
                           events=events, names=data.member_names(db.session, pos.organization_id),
                           subjects=data.subject_links(db.session, org_id(), events.items),
                           keep_until=retention.keep_until(pos, _org()))


@bp.post("/audit/positions/<int:position_id>/export.zip")
@requires("audit")
def export(position_id: int) -> Response:
    """The evidence ZIP of a position; the export itself goes into the audit chain.

    A POST with the form's CSRF token: a GET that writes an audit event would let another
    site add events in a member's name.
    """
    pos = get_position(db.session, org_id(), position_id)
    try:
        spool, size = evidence.spooled_export(db.session, pos, current_user)
    except BaseException:
        db.session.rollback()
        raise
    try:
        db.session.commit()  # the export is recorded before a single byte leaves
    except BaseException:
        db.session.rollback()
        spool.close()
        raise
    response = send_file(spool, mimetype="application/zip", as_attachment=True,  # type: ignore[arg-type]
                         download_name=f"evidence-position-{pos.id}.zip", max_age=0)
    response.content_length = size
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/audit/letters/<int:letter_id>")
@requires("audit")
def letter(letter_id: int) -> str:
    """One letter exactly as sent, with who approved it and every delivery attempt."""
    item = _letter(letter_id)
    return render_template("audit/letter.html", letter=item, frozen=item.frozen,
                           position=item.application.position,
                           candidate=item.application.candidate,
                           evidence=data.letter_evidence(db.session, item),
                           names=data.member_names(db.session, item.organization_id))


def _stored(letter: Letter, kind: str) -> bytes:
    """The frozen ``eml`` or ``pdf`` bytes, or 410 once purged and 404 when never made.

    An email letter has no frozen PDF, a postal letter no email, a draft neither.
    """
    candidate = letter.application.candidate
    if candidate.purged_at is not None:
        abort(410, description=f"This letter's content was purged on "
                               f"{candidate.purged_at:%Y-%m-%d} under the rule "
                               f"“{candidate.purge_rule}”.")
    content = getattr(letter.frozen, kind) if letter.frozen is not None else None
    if content is None:
        abort(404)
    return content


@bp.get("/audit/letters/<int:letter_id>/email")
@requires("audit")
def email(letter_id: int) -> Response:
    """The HTML part of the stored message, exactly as sent, for the preview frame."""
    item = _letter(letter_id)
    html = data.html_part(_stored(item, "eml"))
    if html is None:
        abort(404)
    return Response(html, headers=FRAMEABLE, mimetype="text/html")


@bp.get("/audit/letters/<int:letter_id>/source")
@requires("audit")
def source(letter_id: int) -> Response:
    """The raw message as stored and sent, byte for byte."""
    item = _letter(letter_id)
    return Response(_stored(item, "eml"), content_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": files.content_disposition(item, "eml")})


@bp.get("/audit/letters/<int:letter_id>/letter.pdf")
@requires("audit")
def pdf(letter_id: int) -> Response:
    """The PDF as frozen with the letter."""
    item = _letter(letter_id)
    return Response(_stored(item, "pdf"), mimetype="application/pdf", headers={
        **FRAMEABLE, "Content-Disposition": files.content_disposition(item, "pdf",
                                                                      inline=True)})


def _settings_page(retention_form: RetentionForm, erasure_form: ErasureForm) -> str:
    org = _org()
    return render_template("audit/settings.html", org=org, retention_form=retention_form,
                           erasure_form=erasure_form,
                           rule=retention.rule_text(org.retention_months),
                           requests=data.erasure_requests(db.session, org.id),
                           names=data.member_names(db.session, org.id))


@bp.get("/audit/settings")
@requires("audit")
def settings() -> str:
    """The retention period and past erasure requests; the forms are for admins."""
    return _settings_page(RetentionForm(months=_org().retention_months), ErasureForm())


@bp.post("/audit/settings")
@requires("admin")
def save_settings() -> Response | str:
    """Change the retention period, audit-logged."""
    org = _org()
    form = RetentionForm()
    if not form.validate_on_submit():
        return _settings_page(form, ErasureForm())
    before, after = org.retention_months, int(form.months.data)
    if before == after:
        flash(f"The retention period stays at {plural(after, 'month', 'months')}.", "info")
        return redirect(url_for("audit.settings"))
    org.retention_months = after
    audit.record(db.session, org.id, "org.retention", actor=current_user, subject=org,
                 payload={"from_months": before, "to_months": after})
    db.session.commit()
    flash(f"Personal data is now kept {plural(after, 'month', 'months')} after a position closes "
          f"(was {before}).", "success")
    return redirect(url_for("audit.settings"))


@bp.post("/audit/erasure")
@requires("admin")
def erasure() -> Response | str:
    """Erase one person now, or record why the request is restricted; never keeps the email."""
    org = _org()
    form = ErasureForm()
    if not form.validate_on_submit():
        return _settings_page(RetentionForm(months=org.retention_months), form)
    result = retention.request_erasure(
        db.session, org, form.email.data or "", current_user,
        outbox=retention.outbox_folder(current_app.config["MAIL_URL"]))
    db.session.commit()
    if result.status == "done":
        flash(f"Done. {result.reason}", "success")
        try:
            retention.compact(db.session)  # the erased text must not linger in free pages
        except OperationalError:
            log.exception("could not compact the database after an erasure")
            flash("The database file could not be compacted just now, so erased text may "
                  "linger in its free space: run `recruiter audit purge` soon.", "warning")
    else:
        flash(f"Restricted. {result.reason}", "warning")
    return redirect(url_for("audit.settings"))
