"""Boilerplates: the list, the editor with its live preview, and the version history."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from ..errors import RecruiterError, TemplateError
from ..extensions import db
from ..forms import options
from ..forms.boilerplates import BODY_MAX, BoilerplateForm, NewBoilerplateForm
from ..models import Application, Boilerplate, BoilerplateVersion, Candidate, Member, Position
from ..models.hiring import LETTER_OUTCOMES
from ..services.boilerplates import ensure_shipped, get_boilerplate, save_version
from ..services.languages import SHIPPED, display_name, letter_locale, org_language, primary
from ..services.letters import context_for
from ..services.rendering import (
    MERGE_FIELDS,
    CandidateFields,
    LetterContext,
    Rendered,
    render_untrusted,
)
from ..services.rendering import Boilerplate as Source
from ..services.template_checks import template_problems
from .access import org_id, requires

bp = Blueprint("boilerplates", __name__)
MAX_CHOICES = 1000  # candidates offered in the preview picker
SAMPLE = LetterContext(
    candidate=CandidateFields(first_name="Alex", last_name="Sample", full_name="Alex Sample",
                              email="alex.sample@example.com", city="Vancouver",
                              country="Canada", stage="interviewed", salutation="Alex"),
    note="(The candidate's personal note appears here.)",
    differentiator="(the position's differentiator)", position_title="(Position)",
    position_location="", organization_name="(Your organization)", sender_name="(Sender)",
    applicant_count=30, interviewed_count=6)


@bp.get("/boilerplates")
@requires("read")
def index() -> str:
    """The organization's boilerplates, shipped ones included, and a way to add one."""
    if ensure_shipped(db.session, current_user.organization):
        db.session.commit()
    rows = db.session.scalars(
        select(Boilerplate).where(Boilerplate.organization_id == org_id())
        .options(selectinload(Boilerplate.versions))
        .order_by(Boilerplate.shipped.desc(), Boilerplate.title)).all()
    form = NewBoilerplateForm()
    form.copy_from.choices = options((b.id, b.title) for b in rows)
    return render_template("boilerplates/index.html", boilerplates=rows, form=form,
                           authors=_authors(v for b in rows for v in b.versions[-1:]))


@bp.post("/boilerplates/new")
@requires("admin")
def create() -> Response:
    """Add a boilerplate, starting from a copy of an existing one."""
    form = NewBoilerplateForm()
    form.copy_from.choices = options((b.id, b.title) for b in db.session.scalars(
        select(Boilerplate).where(Boilerplate.organization_id == org_id())))
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        return redirect(url_for("boilerplates.index"))
    source = get_boilerplate(db.session, org_id(), form.copy_from.data)
    title = " ".join((form.title.data or "").split())
    taken = set(db.session.scalars(select(Boilerplate.name).where(
        Boilerplate.organization_id == org_id())))
    slug = "custom-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "letter")
    name, n = slug, 2
    while name in taken:
        name, n = f"{slug}-{n}", n + 1
    new = Boilerplate(organization_id=org_id(), name=name, title=title,
                      description=f"Copied from \u201c{source.title}\u201d.", shipped=False)
    # The newest text in each language, the organization's first.
    copied = [source.current, *(v for code in source.languages
                                if (v := source.version_in(code)) is not source.current and v)]
    for number, version in enumerate(copied, start=1):
        new.versions.append(BoilerplateVersion(number=number, language=version.language,
                                               subject=version.subject, body=version.body,
                                               created_by_id=current_user.id))
    db.session.add(new)
    db.session.commit()
    flash(f"Added \u201c{title}\u201d as a copy of \u201c{source.title}\u201d. Edit it below.",
          "success")
    return redirect(url_for("boilerplates.show", boilerplate_id=new.id))


@dataclass
class Chooser:
    """The candidate the preview renders for, and the choices around it."""

    positions: list[Position]
    position: Position | None
    applications: list[Application] = field(default_factory=list)
    application: Application | None = None


def _chooser(position_id: int | None, application_id: int | None) -> Chooser:
    positions = list(db.session.scalars(
        select(Position).where(Position.organization_id == org_id())
        .order_by(Position.created_at.desc(), Position.id.desc())))
    position = next((p for p in positions if p.id == position_id), None) \
        or (positions[0] if positions else None)
    if position is None:
        return Chooser(positions, None)
    applications = list(db.session.scalars(
        select(Application).join(Candidate).where(
            Application.position_id == position.id,
            Application.outcome.in_(LETTER_OUTCOMES))
        .options(selectinload(Application.candidate))
        .order_by(Candidate.last_name, Candidate.first_name, Application.id)
        .limit(MAX_CHOICES)))
    chosen = next((a for a in applications if a.id == application_id), None) or next(
        (a for a in applications if a.outcome == "declined"), None) or \
        (applications[0] if applications else None)
    return Chooser(positions, position, applications, chosen)


def _error(exc: TemplateError) -> dict[str, Any]:
    match = re.match(r"(Subject|Body), line \d+", str(exc))
    return {"line": exc.lineno, "part": match.group(1) if match else "Body",
            "message": str(exc)}


def _preview(source: Source, application: Application | None, language: str
             ) -> tuple[Rendered | None, list[dict[str, Any]]]:
    """Render in preview mode, in ``language``; errors carry their line numbers."""
    try:
        problems = template_problems(source)
    except TemplateError as exc:
        return None, [_error(exc)]
    errors = [{"line": p.line, "part": p.part, "message": f"{p}. " + (
        "Use one from the list of merge fields." if p.message.startswith("unknown") else "")}
        for p in problems]
    context = (context_for(application, language=language) if application is not None
               else replace(SAMPLE, locale=letter_locale(language,
                                                         current_user.organization)))
    try:
        # In a worker process with CPU and memory limits: the text may be anyone's draft.
        return render_untrusted(source, context), errors
    except TemplateError as exc:
        return None, [*errors, _error(exc)]


def _marked(html: str) -> Markup:
    """The sanitised preview HTML, with unfilled ⟦fields⟧ highlighted."""
    parts = re.split(r"(<[^>]*>)", html)  # marks go in text, never inside a tag
    return Markup("".join(part if part.startswith("<") else re.sub(
        "(\u27e6[^\u27e7]*\u27e7)", r'<mark class="missing">\1</mark>', part) for part in parts))


def _authors(versions: Any) -> dict[int, str]:
    ids = {v.created_by_id for v in versions if v.created_by_id}
    if not ids:
        return {}
    return {m.id: m.name or m.email for m in db.session.scalars(
        select(Member).where(Member.id.in_(ids), Member.organization_id == org_id()))}


def _version(boilerplate: Boilerplate, number: int) -> BoilerplateVersion:
    version = next((v for v in boilerplate.versions if v.number == number), None)
    if version is None:
        abort(404)
    return version


def _languages(boilerplate: Boilerplate) -> list[str]:
    """What the selector offers: the organization's language first, then by name."""
    own = org_language(current_user.organization)
    others = (set(SHIPPED) | set(boilerplate.languages)) - {own}
    return [own, *sorted(others, key=display_name)]


def _language(boilerplate: Boilerplate, requested: str | None) -> str:
    """The language asked for when the selector offers it, else the organization's."""
    code = primary(requested)
    return code if code in _languages(boilerplate) else org_language(current_user.organization)


def _form_source(form: BoilerplateForm) -> Source:
    # Browsers send CRLF; stored text uses LF, so an untouched save changes nothing.
    return Source(subject=" ".join((form.subject.data or "").split()),
                  body=(form.body.data or "").replace("\r\n", "\n"))


def _editor(boilerplate: Boilerplate, form: BoilerplateForm, chooser: Chooser,
            source: Source, language: str, *, viewing: BoilerplateVersion | None = None,
            errors: list[dict[str, Any]] | None = None, status: int = 200) -> tuple[str, int]:
    rendered, preview_errors = _preview(source, chooser.application, language)
    form.language.data = language
    versions = [v for v in reversed(boilerplate.versions) if primary(v.language) == language]
    form.position.choices = options((p.id, p.title) for p in chooser.positions)
    form.application.choices = options((a.id, a.candidate.full_name)
                                       for a in chooser.applications)
    form.position.data = chooser.position.id if chooser.position else None
    form.application.data = chooser.application.id if chooser.application else None
    return render_template(
        "boilerplates/edit.html", boilerplate=boilerplate, form=form, chooser=chooser,
        viewing=viewing, rendered=rendered, html=_marked(rendered.html) if rendered else "",
        errors=errors if errors is not None else preview_errors, fields=MERGE_FIELDS,
        editable=current_user.can("admin") and viewing is None,
        versions=versions, authors=_authors(boilerplate.versions), language=language,
        language_name=display_name(language),
        own_name=display_name(org_language(current_user.organization)),
        languages=[(code, display_name(code), sum(primary(v.language) == code
                                                  for v in boilerplate.versions))
                   for code in _languages(boilerplate)],
        current=versions[0] if versions else None,
        next_number=max((v.number for v in boilerplate.versions), default=0) + 1,
    ), status


@bp.get("/boilerplates/<int:boilerplate_id>")
@requires("read")
def show(boilerplate_id: int) -> tuple[str, int]:
    """The editor, or an older version read-only, with a preview for a chosen candidate."""
    boilerplate = get_boilerplate(db.session, org_id(), boilerplate_id)
    number = request.args.get("version", type=int)
    viewing = _version(boilerplate, number) if number else None
    language = primary(viewing.language) if viewing else _language(
        boilerplate, request.args.get("lang"))
    # A language without a version yet starts from the organization's text, to translate.
    start = _version(boilerplate, request.args.get("from_version", type=int) or (
        boilerplate.version_in(language) or boilerplate.current).number)
    form = BoilerplateForm(formdata=None, subject=start.subject, body=start.body)
    chooser = _chooser(request.args.get("position", type=int),
                       request.args.get("application", type=int))
    shown = viewing or start
    return _editor(boilerplate, form, chooser, Source(shown.subject, shown.body), language,
                   viewing=viewing)


@bp.post("/boilerplates/<int:boilerplate_id>")
@requires("admin")
def save(boilerplate_id: int) -> Response | tuple[str, int]:
    """Preview the edited text, or save it as a new version when it compiles."""
    boilerplate = get_boilerplate(db.session, org_id(), boilerplate_id)
    form = BoilerplateForm()
    language = _language(boilerplate, form.language.data)
    chooser = _chooser(form.position.data, form.application.data)
    source = _form_source(form)
    if not form.validate_on_submit():
        errors = [{"line": None, "part": name.title(), "message": f"{form[name].label.text}: "
                   f"{messages[0]}"} for name, messages in form.errors.items()]
        return _editor(boilerplate, form, chooser, source, language, errors=errors, status=422)
    rendered, errors = _preview(source, chooser.application, language)
    if errors:
        if form.save.data:
            flash("Nothing was saved: fix the problems shown in the editor first.", "error")
        return _editor(boilerplate, form, chooser, source, language, errors=errors, status=422)
    if not form.save.data:
        return _editor(boilerplate, form, chooser, source, language)
    before = boilerplate.version_in(language)
    try:
        version = save_version(db.session, boilerplate, subject=source.subject,
                               body=source.body, by=current_user, language=language)
    except RecruiterError as exc:  # a TemplateError, with its line, or a refused language
        db.session.rollback()
        error = _error(exc) if isinstance(exc, TemplateError) else {
            "line": None, "part": "Body", "message": str(exc)}
        return _editor(boilerplate, form, chooser, source, language, errors=[error],
                       status=422)
    db.session.commit()
    if before is not None and version.number == before.number:
        flash("Nothing changed, so no new version was made.", "info")
    else:
        flash(f"Saved version {version.number} in {display_name(language)}. Draft letters "
              "that use it will follow it; approved ones drop back to draft.", "success")
    return redirect(url_for("boilerplates.show", boilerplate_id=boilerplate.id, lang=language,
                            position=form.position.data, application=form.application.data))


@bp.post("/boilerplates/<int:boilerplate_id>/preview")
@requires("admin")
def preview(boilerplate_id: int) -> dict[str, Any]:
    """The live preview as JSON: subject, HTML, text and errors with their lines."""
    boilerplate = get_boilerplate(db.session, org_id(), boilerplate_id)
    form = BoilerplateForm()
    # The editor's script sends the text and the candidate; the language is in the URL.
    language = _language(boilerplate, form.language.data or request.args.get("lang"))
    chooser = _chooser(form.position.data, form.application.data)
    source = _form_source(form)
    if len(source.subject) > 300 or len(source.body) > BODY_MAX:
        return {"subject": "", "html": "", "text": "", "missing": [], "errors": [{
            "line": None, "part": "Body", "message": "The text is too long to preview."}]}
    rendered, errors = _preview(source, chooser.application, language)
    payload: dict[str, Any] = {
        "subject": rendered.subject if rendered else "",
        "html": str(_marked(rendered.html)) if rendered else "",
        "text": rendered.text if rendered else "",
        "missing": list(rendered.missing) if rendered else [], "errors": errors,
        "position_id": chooser.position.id if chooser.position else None,
        "application_id": chooser.application.id if chooser.application else None,
        "candidate": chooser.application.candidate.full_name if chooser.application else None}
    if request.form.get("with_candidates"):
        payload["candidates"] = [{"id": a.id, "name": a.candidate.full_name}
                                 for a in chooser.applications]
    return payload
