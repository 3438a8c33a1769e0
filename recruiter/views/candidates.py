"""Candidates of a position: CSV import with a preview, one by one, and outcomes."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import CandidateImportError, RecruiterError
from ..extensions import db
from ..forms.positions import (
    CandidateForm,
    ConfirmImportForm,
    ImportForm,
    OutcomeForm,
    import_mapping_from,
    language_choices,
)
from ..models import Position
from ..plural import plural
from ..services.importing import accepted_rows, parse_candidates, read_headers
from ..services.languages import normalise, org_language
from ..services.outcomes import (
    OutcomeNeedsConfirmation,
    Plan,
    change_outcome,
    decline_pending,
    pending_applications,
)
from ..services.positions import (
    existing_emails,
    get_application,
    get_position,
    import_rows,
    save_candidate,
)
from . import import_preview
from .access import org_id, requires
from .uploads import pending_upload

bp = Blueprint("candidates", __name__)
OUTCOME_LABELS = {"hired": "hired", "withdrawn": "withdrawn", "declined": "declined",
                  "pending": "pending (reinstated)"}


@bp.route("/positions/<int:position_id>/import", methods=["GET", "POST"])
@requires("edit")
def import_csv(position_id: int) -> str:
    """Upload a CSV and preview every column, value and row before anything is saved."""
    position = get_position(db.session, org_id(), position_id)
    form = ImportForm()
    if form.validate_on_submit():
        data = form.csv.data.read()
        mapping = import_preview.remembered(db.session, org_id(), data)
        preview = import_preview.build_preview(db.session, position, data, mapping)
        if preview.headers:  # a file with columns: the mapping may still fix what is wrong
            token = secrets.token_urlsafe(24)
            pending_upload(position, token, "csv").write_bytes(data)
            return import_preview.render_preview(position, token, preview)
        flash(preview.error, "error")
    return render_template("positions/import.html", position=position, form=form)


@bp.post("/positions/<int:position_id>/import/confirm")
@requires("edit")
def import_confirm(position_id: int) -> Response | str:
    """Preview again with the chosen mapping, or save: all rows, or the valid ones; never half."""
    position = get_position(db.session, org_id(), position_id)
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    token = form.token.data or ""
    path = pending_upload(position, token, "csv")
    if not path.exists():
        flash("That preview has expired. Upload the file again.", "error")
        return redirect(url_for("candidates.import_csv", position_id=position.id))
    data = path.read_bytes()
    mapping = import_mapping_from(request.form, read_headers(data))
    if request.form.get("action") == "preview":
        preview = import_preview.build_preview(db.session, position, data, mapping)
        return import_preview.render_preview(position, token, preview,
                                             bool(form.skip_invalid.data), mapping.greetings)
    try:
        parsed = parse_candidates(data, existing_emails(db.session, position), mapping=mapping)
        rows = accepted_rows(parsed, skip_invalid=bool(form.skip_invalid.data))
        added = import_rows(db.session, position, rows, by=current_user)
        import_preview.remember(db.session, org_id(), data, parsed, mapping)
    except CandidateImportError as exc:
        db.session.rollback()
        flash(f"Nothing was imported. {exc}", "error")
        preview = import_preview.build_preview(db.session, position, data, mapping)
        return import_preview.render_preview(position, token, preview,
                                             bool(form.skip_invalid.data), mapping.greetings)
    db.session.commit()
    path.unlink(missing_ok=True)
    left = len(parsed.problems)
    skipped = (f" {plural(left, 'row', 'rows')} with problems "
               f"{plural(left, 'was', 'were', with_count=False)} left out.") if left else ""
    flash(f"Imported {plural(len(added), 'candidate', 'candidates')}.{skipped}", "success")
    return redirect(url_for("positions.show", position_id=position.id))


def _save_form(position: Position, form: CandidateForm, application=None):  # noqa: ANN001, ANN202
    fields = {name: getattr(form, name).data or "" for name in (
        "first_name", "last_name", "email", "address_line1", "address_line2", "city", "region",
        "postal_code", "country", "language")}
    return save_candidate(db.session, position, fields, stage=form.stage.data or "applied",
                          channel=form.channel.data or "auto", application=application)


@bp.route("/positions/<int:position_id>/candidates/new", methods=["GET", "POST"])
@requires("edit")
def new(position_id: int) -> Response | str:
    """Add one candidate by hand."""
    position = get_position(db.session, org_id(), position_id)
    form = CandidateForm()
    own = org_language(current_user.organization)
    language_choices(form.language, own)
    if not form.is_submitted():
        form.language.data = own
    if form.validate_on_submit():
        try:
            application = _save_form(position, form)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Added {application.candidate.full_name}.", "success")
            return redirect(url_for("positions.show", position_id=position.id))
    return render_template("positions/candidate.html", position=position, form=form,
                           application=None)


@bp.route("/applications/<int:application_id>/edit", methods=["GET", "POST"])
@requires("edit")
def edit(application_id: int) -> Response | str:
    """Edit one candidate's details, stage and channel."""
    application = get_application(db.session, org_id(), application_id)
    form = CandidateForm(obj=application.candidate)
    language_choices(form.language, application.candidate.language,
                     org_language(current_user.organization))
    if not form.is_submitted():
        form.stage.data, form.channel.data = application.stage, application.channel
        form.language.data = normalise(application.candidate.language)
    if form.validate_on_submit():
        try:
            _save_form(application.position, form, application)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Saved {application.candidate.full_name}.", "success")
            return redirect(url_for("positions.show", position_id=application.position_id))
    return render_template("positions/candidate.html", position=application.position,
                           form=form, application=application)


@bp.post("/applications/<int:application_id>/outcome")
@requires("edit")
def outcome(application_id: int) -> Response | str:
    """Change an outcome; a change that touches others or a sent letter is confirmed first."""
    application = get_application(db.session, org_id(), application_id)
    form = OutcomeForm()
    if not form.validate_on_submit() or form.outcome.data not in OUTCOME_LABELS:
        abort(400)
    replace = int(form.replace.data) if (form.replace.data or "").isdigit() else None
    try:
        plan = change_outcome(db.session, application, form.outcome.data, by=current_user,
                              confirmed=form.confirm.data == "1",
                              raise_openings=form.raise_openings.data == "1", replace=replace)
    except OutcomeNeedsConfirmation as exc:
        db.session.rollback()
        return render_template("positions/outcome_confirm.html", application=application,
                               outcome=form.outcome.data, plan=exc.plan,
                               labels=OUTCOME_LABELS)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("positions.show", position_id=application.position_id))
    db.session.commit()
    flash(_changed(plan), "success")
    hired = form.outcome.data == "hired" and plan.changes
    target = "positions.differentiator" if hired else "positions.show"
    return redirect(url_for(target, position_id=application.position_id))


OUTCOME_SENTENCES = {"hired": "{name} is marked as the hire.", "declined": "{name} is declined.",
                     "withdrawn": "{name} withdrew.",
                     "pending": "{name} is reinstated (pending)."}


def _changed(plan: Plan) -> str:
    """One sentence per changed candidate: the new outcome and what it did to their letter."""
    if not plan.changes:
        return "Nothing changed."
    parts = []
    for change in plan.changes:
        parts.append(OUTCOME_SENTENCES[change.after].format(name=change.name))
        if not (change.after == "hired" and change.letter == "No letter."):
            parts.append(change.letter)
    if plan.changes[0].after == "hired":
        parts.append("Write the differentiator next.")
    return " ".join(parts)


@bp.route("/positions/<int:position_id>/decline-pending", methods=["GET", "POST"])
@requires("edit")
def decline_all_pending(position_id: int) -> Response | str:
    """List the candidates with no decision yet; decline them all once the member confirms."""
    position = get_position(db.session, org_id(), position_id)
    form = OutcomeForm(outcome="declined")
    if request.method == "POST":
        if not form.validate_on_submit() or not (form.confirm.data or "").isdigit():
            abort(400)
        try:
            count = decline_pending(db.session, position, int(form.confirm.data or 0),
                                    by=current_user)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("candidates.decline_all_pending", position_id=position.id))
        db.session.commit()
        flash(f"Declined {count} candidate{'' if count == 1 else 's'}; their decline letters "
              "are drafted for review.", "success")
        return redirect(url_for("positions.show", position_id=position.id))
    return render_template("positions/decline_pending.html", position=position,
                           pending=pending_applications(db.session, position))
