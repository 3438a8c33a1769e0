"""The notes page: every declined candidate's personal paragraph, fast and never lost."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from ..caches import index_cache
from ..errors import Conflict, RecruiterError
from ..extensions import db
from ..forms.notes import NOTE_MAX, NoteForm
from ..models import Application, Position
from ..services.checks import COLDER_RATIO, LONG_NOTE_WORDS, SHORT_NOTE_WORDS
from ..services.documents import Limits, documents_for
from ..services.documents_text import megabytes
from ..services.live_checks import as_json, check_note, note_language, saved_message
from ..services.position_index import PositionIndex, note_words, position_index
from ..services.positions import applications_by_id, get_application, get_position, save_note
from .access import org_id, requires
from .urls import IdUrls

bp = Blueprint("notes", __name__)
DOCUMENT_EXCERPT_CHARS = 1_500  # of each text on the page; "Read the whole text" fetches the rest


def _per_page() -> int:
    return int(current_app.config.get("NOTES_PER_PAGE", 50))


def _index(position: Position) -> PositionIndex:
    """The position's name order and note counts, kept per process while they hold."""
    return position_index(db.session, position, index_cache())


def gauge(words: int, median: int | None) -> dict[str, Any]:
    """The length gauge of one note box: its figures and a gentle hint, or none.

    The same thresholds as the letter checks (services/checks/batch.py), so the hint says
    beforehand what the review would warn about; notes.js's gauge recomputes it as one types.
    """
    hint = ""
    if not words:
        hint = "No note yet: this letter would go without a personal paragraph."
    elif words < SHORT_NOTE_WORDS or (median and words < median * COLDER_RATIO):
        hint = "Shorter than most: this letter will feel colder."
    elif words > LONG_NOTE_WORDS:
        hint = "Longer than most: two or three sentences read warmer than an assessment."
    return {"words": words, "median": median, "hint": hint,
            "max": max(words, 2 * (median or SHORT_NOTE_WORDS * 3), 1)}


def _page_of(application: Application) -> int:
    return PositionIndex.page_of(_index(application.position).letter_ids, application.id,
                                 _per_page())


def _theirs(application: Application) -> dict[str, Any]:
    by = application.note_updated_by
    when = application.note_updated_at
    return {"note": application.note, "revision": application.note_revision,
            "updated_by": (by.name or by.email) if by else None,
            "updated_at": when.isoformat() if when else None}


def _render(position: Position, page: int, *, saved: int | None = None,
            states: dict[int, dict[str, Any]] | None = None, status: int = 200
            ) -> tuple[str, int]:
    """The page; ``states`` carries a refused save (error or conflict) for one card."""
    states = states or {}
    per_page = _per_page()
    index = _index(position)
    written, total, median = index.written, len(index.letter_ids), index.median_words
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(page, pages)
    applications = applications_by_id(
        db.session, PositionIndex.page(index.letter_ids, page, per_page), authors=True)
    shown = {a.id for a in applications}
    for application_id in states.keys() - shown:  # refused, and no longer on this page
        applications.insert(0, db.session.get(Application, application_id))
    editable = current_user.can("edit")
    # CVs and cover letters, for those who write the notes: metadata and the start of the
    # text, never the bytes (services/documents.py).
    documents = documents_for(db.session, [a.id for a in applications],
                              excerpt_chars=DOCUMENT_EXCERPT_CHARS) if editable else None
    # The template writes each card's textarea itself: 50 WTForms forms per view cost more than
    # the rest of the page. NoteForm still validates every save.
    cards = []
    for a in applications:
        state = states.get(a.id, {})
        note = state.get("note")
        revision = state.get("revision")
        found = check_note(db.session, a, a.note) if a.id == saved else []
        cards.append({"application": a, "theirs": state.get("theirs"), "saved": a.id == saved,
                      "findings": found, "saved_message": saved_message(found),
                      "note": a.note if note is None else note, "error": state.get("error"),
                      "revision": a.note_revision if revision is None else revision,
                      "gauge": gauge(note_words(a.note if note is None else note), median)})
    return render_template(
        "notes/index.html", position=position, cards=cards, written=written, total=total,
        page=page, pages=pages, first_number=(page - 1) * per_page + 1,
        editable=editable, note_max=NOTE_MAX, app_url=IdUrls(), median=median, documents=documents,
        document_size=megabytes, form_token=generate_csrf() if editable else "",
        document_max=Limits.from_config(current_app.config).max_bytes,
        gauge_limits={"short": SHORT_NOTE_WORDS, "ratio": COLDER_RATIO,
                      "long": LONG_NOTE_WORDS}), status


@bp.get("/positions/<int:position_id>/notes")
@requires("read")
def index(position_id: int) -> tuple[str, int]:
    """Every candidate who gets a letter, with their note, in name order."""
    position = get_position(db.session, org_id(), position_id)
    return _render(position, max(request.args.get("page", 1, type=int), 1),
                   saved=request.args.get("saved", type=int))


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) \
        == "application/json"


@bp.post("/applications/<int:application_id>/note")
@requires("edit")
def save(application_id: int) -> Response | tuple[Any, int]:
    """Save one note unless someone else saved it first; then both versions are shown."""
    application = get_application(db.session, org_id(), application_id)
    position, name = application.position, application.candidate.full_name
    form = NoteForm()
    submitted = form.note.data or ""
    try:
        if not form.validate_on_submit():
            raise RecruiterError(next(iter(form.errors.values()))[0])
        _save(application, submitted, form.base_revision.data or 0)
    except Conflict as exc:
        theirs = _theirs(application)
        if _wants_json():
            return {"error": str(exc), "theirs": theirs, "yours": submitted}, 409
        state = {"note": submitted, "revision": theirs["revision"], "theirs": theirs}
        return _render(position, _page_of(application), states={application.id: state},
                       status=409)
    except RecruiterError as exc:
        if _wants_json():
            return {"error": str(exc)}, 422
        state = {"note": submitted, "error": str(exc), "revision": form.base_revision.data}
        return _render(position, _page_of(application), states={application.id: state},
                       status=422)
    index = _index(position)
    # What the letter checks say about the saved note: "Saved, with 2 warnings".
    found = check_note(db.session, application, application.note)
    if _wants_json():
        return {"revision": application.note_revision, "note": application.note,
                "progress_written": index.written, "progress_total": len(index.letter_ids),
                "median_words": index.median_words, "message": saved_message(found),
                **as_json(application.note, found, note_language(application))}, 200
    flash(f"{saved_message(found, saved=f'Saved the note for {name}')}. "
          f"{index.written} of {len(index.letter_ids)} written.", "warning" if found else "success")
    return redirect(url_for("notes.index", position_id=position.id, page=_page_of(application),
                            saved=application.id, _anchor=f"a-{application.id}"))


def _save(application: Application, note: str, base_revision: int) -> None:
    """Save and commit; on refusal roll back, so ``application`` shows what is stored."""
    try:
        save_note(db.session, application, note, base_revision=base_revision, by=current_user)
    except RecruiterError:
        db.session.rollback()
        raise
    db.session.commit()
