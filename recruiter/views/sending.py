"""Sending: freeze the approved batch, release it, watch it leave and resolve every doubt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..errors import RecruiterError
from ..extensions import db
from ..forms.sending import SendForm, local_label, send_form, to_utc
from ..models import Batch, Delivery, Organization, Position, Resolution
from ..plural import plural
from ..queue import queue
from ..services import files, sending
from ..services.orgtime import org_zone
from ..services.positions import get_position, hire_of
from ..services.sending import post
from ..services.text import check_single_line
from .access import org_id, requires
from .sending_status import (
    ACTIONS,
    Status,
    decision_text,
    failures_csv,
    headline,
    progress_of,
    status_of,
)

bp = Blueprint("sending", __name__)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    """Let the letters and position pages show the batch without their views knowing it."""
    return {"sending_status": status_of, "send_form_for": _send_form_for,
            "decision_text": decision_text,
            "goes_by_post": lambda position: files.has_post_letters(db.session, position),
            "freezing": lambda position: sending.freezing(position, timeout=_timeout()),
            "local_time": lambda position, moment: local_label(moment, _zone(position))}


def _timeout() -> timedelta:
    """RECRUITER_SENDING_TIMEOUT: after it, a freeze whose worker died may be asked again."""
    return timedelta(seconds=float(current_app.config.get("SENDING_TIMEOUT", 600)))


def _send_form_for(position: Position) -> SendForm:
    return send_form(_zone(position))


def _zone(position: Position) -> ZoneInfo:
    return org_zone(db.session.get(Organization, position.organization_id))


def _page(position: Position) -> Response:
    return redirect(url_for("sending.show", position_id=position.id))


def _frozen_message(batch: Batch, status: Status | None, count: int) -> tuple[str, str]:
    """What the member learns right after freezing: what leaves, and when."""
    if batch.state == "held":
        return ("The letters are frozen and held until the hire accepts. Nothing has been sent "
                "yet.", "success")
    if batch.state == "scheduled" and status is not None:
        return f"The letters are frozen and leave on {status.send_at}.", "success"
    # Once nothing is queued any more, the page's headline says how it went: no flash
    # claims that letters are still leaving.
    still = status is None or status.progress.queued > 0
    message = f"Sending {plural(count, 'email', 'emails')} now." if still and count else ""
    if status is not None and (posts := status.progress.to_post):
        message += (f" {posts} letters go by post: print them from this page, then confirm "
                    "they were mailed." if posts > 1 else " 1 letter goes by post: print it "
                    "from this page, then confirm it was mailed.")
    return message.strip(), "success"


@bp.post("/positions/<int:position_id>/send")
@requires("edit")
def send(position_id: int) -> Response:
    """Freeze every approved letter into the batch, then queue what may leave now."""
    position = get_position(db.session, org_id(), position_id)
    form = SendForm()
    if not form.validate_on_submit():
        problems = [f"{form[name].label.text}: {error}" if name in form else str(error)
                    for name, errors in form.errors.items() for error in errors]
        flash("Nothing was sent. " + "; ".join(problems), "error")
        return redirect(url_for("letters.index", position_id=position.id))
    try:
        send_at = to_utc(form.send_at.data, _zone(position)) if form.send_at.data else None
        started = sending.start_sending(
            db.session, position, current_user, send_at=send_at, hold=bool(form.hold.data),
            page_size=current_app.config["PAGE_SIZE"], timeout=_timeout(),
            inline_max=int(current_app.config.get("FREEZE_INLINE_MAX", 200)))
    except (RecruiterError, ValueError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("letters.index", position_id=position.id))
    if started.batch is None:
        return _freeze_in_background(position, started, send_at, bool(form.hold.data))
    batch, due = started.batch, started.due
    db.session.commit()
    queue().enqueue(due)
    # Counted after the queue had its go: an inline queue has sent them all already.
    message = _frozen_message(batch, status_of(position), len(due)) if started.created else (
        "Already sending: these letters were frozen once already. Nothing was frozen or sent "
        "twice.", "info")
    if message[0]:
        flash(*message)
    return _page(position)


def _freeze_in_background(position: Position, started: sending.Started,
                          send_at: datetime | None, hold: bool) -> Response:
    """A big batch takes minutes to freeze: a worker does it, and the page follows it."""
    if started.background:
        db.session.commit()
        queue().freeze(position.id, current_user.id, send_at.isoformat() if send_at else None,
                       hold)
        flash(f"Freezing {plural(started.letters, 'letter', 'letters')}. This takes about a "
              "minute for every 1,500 letters; this page shows the batch when it is ready.",
              "success")
    else:
        flash("These letters are already being frozen. Nothing was frozen or sent twice.",
              "info")
    return _page(position)


@bp.post("/positions/<int:position_id>/release")
@requires("edit")
def release(position_id: int) -> Response:
    """The hire accepted: record it, and let the held letters go."""
    position = get_position(db.session, org_id(), position_id)
    due = sending.release(db.session, position)
    db.session.commit()
    queue().enqueue(due)
    status = status_of(position)  # after the queue had its go, as for sending
    if status is None:
        flash("Recorded that the hire accepted. No letters are frozen yet.", "info")
    elif status.batch.state == "scheduled":
        flash(f"Recorded that the hire accepted. The letters leave on {status.send_at}.",
              "success")
    elif not status.progress.queued:  # already gone: the page's headline says how it went
        flash("Recorded that the hire accepted, and released the letters.", "success")
    else:
        flash(f"Recorded that the hire accepted. Sending "
              f"{plural(len(due), 'email', 'emails')} now.", "success")
    return _page(position)


@bp.post("/positions/<int:position_id>/batch/cancel")
@requires("edit")
def cancel(position_id: int) -> Response:
    """Cancel a held or scheduled batch: its letters are drafts again."""
    position = get_position(db.session, org_id(), position_id)
    try:
        count = sending.cancel_batch(db.session, position)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _page(position)
    db.session.commit()
    drafts = plural(count, "is a draft", "are drafts", with_count=False)
    flash(f"Cancelled the batch. Nothing was sent; its {plural(count, 'letter', 'letters')} "
          f"{drafts} again.",
          "success")
    return redirect(url_for("letters.index", position_id=position.id))


@bp.post("/positions/<int:position_id>/posted")
@requires("edit")
def posted(position_id: int) -> Response:
    """A member confirms the letters for post were mailed."""
    position = get_position(db.session, org_id(), position_id)
    try:
        count = sending.confirm_posted(db.session, position, current_user)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Marked {count} postal letter{'s' if count != 1 else ''} as mailed.", "success")
    return _page(position)


@bp.get("/positions/<int:position_id>/sending")
@requires("read")
def show(position_id: int) -> str:
    """The batch: its gate, live progress, and every letter that needs a person."""
    position = get_position(db.session, org_id(), position_id)
    status = status_of(position)
    per_page = int(current_app.config.get("RECIPIENTS_PER_PAGE", 100))
    zone = _zone(position)
    page, pages, rows, line = 1, 1, [], None
    if status is not None:
        listed = status.progress.total + status.progress.cancelled + status.progress.rerouted
        pages = max((listed + per_page - 1) // per_page, 1)
        page = min(max(request.args.get("page", 1, type=int), 1), pages)
        rows = sending.recipients(db.session, status.batch, page=page, per_page=per_page)
        line = headline(status, zone)
    problems = sending.problems(db.session, position)
    return render_template("sending/show.html", position=position, status=status,
                           problems=problems, plans=post.post_plans(db.session, problems),
                           hire=hire_of(position), recipients=rows, page=page, pages=pages,
                           headline=line,
                           local_short=lambda moment: _short(moment, zone),
                           decided=lambda decision: _decided(decision, zone))


def _decided(decision: Resolution, zone: ZoneInfo) -> str:
    """A person's decision for the list, in the organization's time like the rest of it."""
    member = decision.member
    who = (member.name or member.email) if member else "a former member"
    text = f"{ACTIONS.get(decision.action, decision.action)} by {who}, {_short(decision.at, zone)}"
    return f"{text} \u2014 \u201c{decision.reason}\u201d" if decision.reason else text


def _short(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment in the organization's time, short enough for a table cell: '3 Dec, 10:42'."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M}"


@bp.get("/positions/<int:position_id>/sending.json")
@requires("read")
def progress(position_id: int) -> Response:
    """The live numbers, for the progress script."""
    position = get_position(db.session, org_id(), position_id)
    batch = sending.batch_of(db.session, position)
    return jsonify(progress_of(batch).as_json(batch.state if batch else None))


@bp.get("/positions/<int:position_id>/failures.csv")
@requires("read")
def failures(position_id: int) -> Response:
    """Failed and in-doubt letters with their reasons, for a spreadsheet."""
    position = get_position(db.session, org_id(), position_id)
    data = failures_csv(sending.problems(db.session, position))
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="failures-position-{position.id}.csv"'})


def _own_delivery(delivery_id: int) -> Delivery:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.organization_id != org_id():
        abort(404)
    return delivery


@bp.post("/deliveries/<int:delivery_id>/by_post")
@requires("edit")
def by_post(delivery_id: int) -> Response:
    """A bounced email's letter goes by post instead; a second click changes nothing."""
    delivery = _own_delivery(delivery_id)
    position_id = delivery.letter.application.position_id
    name = delivery.letter.application.candidate.full_name
    try:
        _, created = post.send_by_post(db.session, delivery, current_user,
                                       page_size=current_app.config["PAGE_SIZE"])
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"The letter to {name} now goes by post. Print it with the letters for post, "
              "mail it, then confirm it here." if created else
              f"The letter to {name} already goes by post; nothing changed.",
              "success" if created else "info")
    return redirect(url_for("sending.show", position_id=position_id))


@bp.post("/deliveries/<int:delivery_id>/resend", defaults={"action": "resend"})
@bp.post("/deliveries/<int:delivery_id>/mark_sent", defaults={"action": "mark_sent"})
@bp.post("/deliveries/<int:delivery_id>/cancel", defaults={"action": "cancel"})
@requires("edit")
def resolve(delivery_id: int, action: str) -> Response:
    """A person decides about one failed or doubtful letter; the decision is recorded."""
    delivery = _own_delivery(delivery_id)
    position_id = delivery.letter.application.position_id
    name = delivery.letter.application.candidate.full_name
    try:
        reason = check_single_line(request.form.get("reason", "")[:500], "reason")
        enqueue = sending.resolve(db.session, delivery, current_user, action, reason=reason)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("sending.show", position_id=position_id))
    db.session.commit()
    if enqueue:
        queue().enqueue([delivery_id])
    done = {"resend": f"Sending the letter to {name} again.",
            "mark_sent": f"Marked the letter to {name} as sent.",
            "cancel": f"Cancelled the letter to {name}; it will not be sent."}[action]
    flash(done, "success")
    return redirect(url_for("sending.show", position_id=position_id))
