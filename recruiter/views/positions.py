"""Positions: the list, opening one, its page, its settings and the differentiator."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..caches import index_cache
from ..errors import RecruiterError
from ..extensions import db
from ..forms import options
from ..forms.positions import AUTO_BOILERPLATE, OutcomeForm, PositionForm, differentiator_form
from ..models import Boilerplate
from ..services.approval import differentiator_findings
from ..services.boilerplates import get_boilerplate
from ..services.languages import display_name, org_language
from ..services.live_checks import saved_message
from ..services.outcomes import set_openings
from ..services.position_index import PositionIndex, position_index
from ..services.positions import (
    applications_by_id,
    create_position,
    get_position,
    hire_of,
    position_summaries,
    set_differentiator,
    set_reply_to,
)
from ..services.standings import OUTCOME_ACTIONS, standings
from ..services.translations import (
    differentiator_languages,
    missing_differentiators,
    set_differentiators_in,
)
from ..services.versions import bump_review
from .access import org_id, requires
from .urls import IdUrls

bp = Blueprint("positions", __name__)


@bp.get("/positions")
@requires("read")
def index() -> str:
    """Every position with its applicants, notes written and letters approved or sent."""
    return render_template("positions/index.html",
                           summaries=position_summaries(db.session, org_id()))


def _boilerplate_choices(form: PositionForm) -> None:
    rows = db.session.scalars(select(Boilerplate).where(Boilerplate.organization_id == org_id())
                              .order_by(Boilerplate.title)).all()
    form.boilerplate.choices = options(
        [(AUTO_BOILERPLATE, "Automatic: by the stage each candidate reached")]
        + [(b.id, b.title) for b in rows])


def _chosen_boilerplate(form: PositionForm) -> Boilerplate | None:
    if form.boilerplate.data in (None, "", AUTO_BOILERPLATE):
        return None
    return get_boilerplate(db.session, org_id(), int(form.boilerplate.data))


@bp.route("/positions/new", methods=["GET", "POST"])
@requires("edit")
def new() -> Response | str:
    """Open a position: title, location and boilerplate."""
    form = PositionForm()
    _boilerplate_choices(form)
    if form.validate_on_submit():
        try:
            position = create_position(
                db.session, current_user.organization, title=form.title.data or "",
                location=form.location.data or "", boilerplate=_chosen_boilerplate(form),
                openings=form.openings.data or 1, reply_to=form.reply_to.data or "")
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Opened {position.title}. Now import its candidates.", "success")
            return redirect(url_for("candidates.import_csv", position_id=position.id))
    return render_template("positions/form.html", form=form, position=None)


@bp.route("/positions/<int:position_id>/edit", methods=["GET", "POST"])
@requires("edit")
def edit(position_id: int) -> Response | str:
    """Change a position's title, location or boilerplate."""
    position = get_position(db.session, org_id(), position_id)
    form = PositionForm(obj=position if request.method == "GET" else None)
    _boilerplate_choices(form)
    if request.method == "GET":
        form.boilerplate.data = str(position.boilerplate_id or AUTO_BOILERPLATE)
    if form.validate_on_submit():
        position.title = " ".join((form.title.data or "").split())
        position.location = (form.location.data or "").strip()
        position.boilerplate = _chosen_boilerplate(form)
        try:
            set_openings(db.session, position, form.openings.data or position.openings,
                         by=current_user)
            set_reply_to(db.session, position, form.reply_to.data or "", by=current_user)
        except RecruiterError as exc:
            db.session.rollback()
            form.openings.errors = [str(exc)]
            return render_template("positions/form.html", form=form, position=position)
        bump_review(db.session, position.id)
        db.session.commit()
        flash("Position saved. Letters that change drop back to draft.", "success")
        return redirect(url_for("positions.show", position_id=position.id))
    return render_template("positions/form.html", form=form, position=position)


@bp.get("/positions/<int:position_id>")
@requires("read")
def show(position_id: int) -> str:
    """The position: its hire, differentiator and candidates, a page at a time."""
    position = get_position(db.session, org_id(), position_id)
    page = max(request.args.get("page", 1, type=int), 1)
    per_page = int(current_app.config.get("CANDIDATES_PER_PAGE", 50))
    index = position_index(db.session, position, index_cache())
    total, pending = len(index.ids), index.pending
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(page, pages)
    applications = applications_by_id(db.session, PositionIndex.page(index.ids, page, per_page))
    return render_template(
        "positions/show.html", position=position, applications=applications,
        standings=standings(db.session, position, applications), actions=OUTCOME_ACTIONS,
        hire=hire_of(position), language_names={
            a.candidate.language: display_name(a.candidate.language) for a in applications},
        total=total, pending=pending, page=page, pages=pages,
        outcome_form=OutcomeForm(), app_url=IdUrls(), letter_url=IdUrls("letter_id"))


@bp.route("/positions/<int:position_id>/differentiator", methods=["GET", "POST"])
@requires("edit")
def differentiator(position_id: int) -> Response | str:
    """Write what set the hire apart, with guidance and checks."""
    position = get_position(db.session, org_id(), position_id)
    names = {code: display_name(code)
             for code in differentiator_languages(db.session, position)}
    languages = sorted(names, key=names.__getitem__)
    form = differentiator_form(languages, position.differentiator_in or {}, names)
    if request.method == "GET":
        form.differentiator.data = position.differentiator
    if languages:
        own = display_name(org_language(current_user.organization))
        form.differentiator.label.text += f", in {own}"
    if form.validate_on_submit():
        try:
            set_differentiator(db.session, position, form.differentiator.data or "",
                               by=current_user)
            set_differentiators_in(db.session, position, {
                code: getattr(form, f"in_{code}").data or "" for code in languages},
                by=current_user)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            # Green only when the checks found nothing: "Differentiator saved, with 1 warning".
            found = differentiator_findings(position)
            flash(saved_message(found, saved="Differentiator saved",
                                blocks="no letter can be approved until it changes") + ".",
                  "warning" if found else "success")
            return redirect(url_for("positions.differentiator", position_id=position.id))
    # The same findings as the letter review: each translation with its language's words.
    return render_template("positions/differentiator.html", position=position, form=form,
                           hire=hire_of(position), findings=differentiator_findings(position),
                           names=names,
                           missing=sorted(names[code] for code in
                                          missing_differentiators(db.session, position)))
