"""Rejection reasons: the admin's list, choosing them for declined candidates, the reports."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import case, func, select
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms import options
from ..forms.reasons import ChangeReasonForm, ChooseReasonForm, ReasonForm, RequireReasonsForm
from ..models import Application, Organization, Position, RejectionReason
from ..services import audit, required_reasons
from ..services import reasons as service
from ..services.positions import get_application, get_position
from .access import org_id, requires

bp = Blueprint("reasons", __name__)
NONE = "none"  # the choice "no reason given"


def _reasons(*, active_only: bool = False) -> list[RejectionReason]:
    """The organization's reasons; an organization that has none gets the defaults first."""
    org: Organization = current_user.organization
    if service.ensure_default_reasons(db.session, org):
        db.session.commit()
    return service.reasons_of(db.session, org.id, active_only=active_only)


def _choose_form() -> ChooseReasonForm:
    form = ChooseReasonForm()
    form.reason.choices = options([(r.id, r.label) for r in _reasons(active_only=True)]
                                  + [(NONE, service.NO_REASON)])
    return form


def _flash_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        flash(f"Saved, with a warning from the checks: {warning}", "warning")


@bp.route("/organization/rejection-reasons", methods=["GET", "POST"])
@requires("admin")
def settings() -> Response | str:
    """The organization's reasons: add, rename, reorder and deactivate."""
    reasons = _reasons()
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            reason, warnings = service.add_reason(db.session, current_user.organization,
                                                  form.label.data or "", by=current_user)
        except RecruiterError as exc:
            db.session.rollback()
            form.label.errors = [*form.label.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Added “{reason.label}”.", "success")
            _flash_warnings(warnings)
            return redirect(url_for("reasons.settings"))
    return render_template("reasons/settings.html", form=form, reasons=reasons,
                           change=ChangeReasonForm(formdata=None),
                           require=RequireReasonsForm(
                               formdata=None, require=current_user.organization.require_reasons))


@bp.post("/organization/rejection-reasons/required")
@requires("admin")
def required() -> Response:
    """Turn on or off the rule that every declined candidate has a reason before approval."""
    form = RequireReasonsForm()
    if not form.validate_on_submit():
        flash("That change was not understood; nothing was changed.", "error")
        return redirect(url_for("reasons.settings"))
    on = bool(form.require.data)
    if required_reasons.set_required(db.session, current_user.organization, on,
                                     by=current_user):
        db.session.commit()
        flash("A rejection reason is now required for every declined candidate before "
              "letters are approved." if on else
              "A rejection reason is no longer required before letters are approved.",
              "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("reasons.settings", _anchor="required"))


def missing_link(position_id: int) -> str:
    """The position's declined candidates without a reason, where many are set at once."""
    return url_for("reasons.position", position_id=position_id, missing="1",
                   _anchor="candidates")


def flash_refusal(exc: Exception) -> None:
    """Flash a refused approval; missing reasons come with a link to choose them."""
    if isinstance(exc, required_reasons.ReasonsMissing):
        flash(Markup('{} <a href="{}">Choose the missing reasons</a>').format(
            str(exc), missing_link(exc.position_id)), "error")
    else:
        flash(str(exc), "error")


@bp.post("/organization/rejection-reasons/change")
@requires("admin")
def change() -> Response | str:
    """Rename, deactivate, offer again or move one reason; its id is in the form."""
    form = ChangeReasonForm()
    if not form.validate_on_submit():
        flash("That change was not understood; nothing was changed.", "error")
        return redirect(url_for("reasons.settings"))
    reason = service.get_reason(db.session, org_id(), form.reason_id.data)
    try:
        match form.change.data:
            case "rename":
                _flash_warnings(service.rename_reason(db.session, reason, form.label.data or "",
                                                      by=current_user))
            case "deactivate" | "activate":
                service.set_reason_active(db.session, reason, form.change.data == "activate",
                                          by=current_user)
            case "up" | "down":
                service.move_reason(db.session, reason, -1 if form.change.data == "up" else 1,
                                    by=current_user)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Saved “{reason.label}”.", "success")
    return redirect(url_for("reasons.settings"))


@bp.get("/positions/<int:position_id>/rejection-reasons")
@requires("read")
def position(position_id: int) -> str:
    """The position's report, and each declined candidate's reason (chosen here by editors)."""
    position = get_position(db.session, org_id(), position_id)
    page = max(request.args.get("page", 1, type=int), 1)
    missing = request.args.get("missing") == "1"
    per_page = int(current_app.config.get("CANDIDATES_PER_PAGE", 50))
    applications, total = service.declined_page(db.session, position, page, per_page,
                                                missing_only=missing)
    pages = max((total + per_page - 1) // per_page, 1)
    if page > pages:
        applications, _ = service.declined_page(db.session, position, pages, per_page,
                                                missing_only=missing)
        page = pages
    report = service.reason_report(db.session, org_id(), position)
    return render_template("reasons/position.html", position=position, report=report,
                           applications=applications, page=page, pages=pages, missing=missing,
                           form=_choose_form(), no_reason=NONE)


def _chosen(form: ChooseReasonForm) -> RejectionReason | None:
    value = form.reason.data
    return None if value == NONE else service.get_reason(db.session, org_id(), int(value))


def _back(position: Position) -> Response:
    page = request.form.get("page", 1, type=int)
    missing = "1" if request.form.get("missing") == "1" else None
    return redirect(url_for("reasons.position", position_id=position.id, page=page,
                            missing=missing, _anchor="candidates"))


def _record(position: Position, applications: list[Application]) -> Response:
    """Record the form's reason for ``applications`` of ``position``, then go back."""
    form = _choose_form()
    if not form.validate_on_submit():
        flash("Choose a reason from the list.", "error")
        return _back(position)
    reason = _chosen(form)
    try:
        count = service.choose_reason(db.session, applications, reason, by=current_user)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        label = reason.label if reason else service.NO_REASON
        flash(f"“{label}” recorded for {count} candidate{'s' if count != 1 else ''}"
              f"{'' if count == len(applications) else ' (the others had it already)'}.",
              "success")
    return _back(position)


@bp.post("/applications/<int:application_id>/rejection-reason")
@requires("edit")
def choose(application_id: int) -> Response:
    """Record one declined candidate's reason."""
    application = get_application(db.session, org_id(), application_id)
    return _record(application.position, [application])


@bp.post("/positions/<int:position_id>/rejection-reasons/set")
@requires("edit")
def choose_many(position_id: int) -> Response:
    """Record one reason for every ticked declined candidate of the position."""
    position = get_position(db.session, org_id(), position_id)
    try:
        ids = [int(value) for value in request.form.getlist("application")]
    except ValueError:
        ids = []
    if not ids:
        flash("Tick the candidates to set the reason for.", "error")
        return _back(position)
    return _record(position, service.declined_applications(db.session, position, ids))


@bp.get("/rejection-reasons")
@requires("read")
def report() -> str:
    """The organization's report, and each position's declined candidates with and without."""
    _reasons()
    declined = Application.outcome.in_(service.REASON_OUTCOMES)
    positions = db.session.execute(
        select(Position.id, Position.title, func.count(Application.id),
               func.sum(case((Application.rejection_reason_id.is_(None), 1), else_=0)))
        .join(Application, (Application.position_id == Position.id) & declined)
        .where(Position.organization_id == org_id())
        .group_by(Position.id, Position.title).order_by(Position.title, Position.id)).all()
    return render_template("reasons/report.html",
                           report=service.reason_report(db.session, org_id()),
                           positions=positions)


def _csv(report: service.Report, name: str, position: Position | None) -> Response:
    audit.record(db.session, org_id(), "export.rejection_reasons", actor=current_user,
                 subject=position, payload={"position_id": position.id if position else None})
    db.session.commit()
    return Response(service.report_csv(report), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/positions/<int:position_id>/rejection-reasons.csv")
@requires("read")  # an auditor reads the report, and may take it away
def position_csv(position_id: int) -> Response:
    """The position's report as CSV; a POST, since the download is recorded in the audit."""
    position = get_position(db.session, org_id(), position_id)
    return _csv(service.reason_report(db.session, org_id(), position),
                f"rejection-reasons-position-{position.id}.csv", position)


@bp.post("/rejection-reasons.csv")
@requires("read")
def report_csv() -> Response:
    """The organization's report as CSV; a POST, since the download is recorded in the audit."""
    _reasons()
    return _csv(service.reason_report(db.session, org_id()), "rejection-reasons.csv", None)
