"""CVs and cover letters beside the note: upload, ZIP import with a preview, open, remove.

Managers and admins only (``edit``): they write the notes. Auditors audit what candidates
received, and a CV is never sent, so they are not shown one (README, CVs and cover letters).
"""

from __future__ import annotations

import io
import secrets

from flask import (
    Blueprint,
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
from werkzeug.wrappers import Response

from ..errors import NotFound
from ..extensions import db
from ..forms.documents import ConfirmZipForm, DocumentForm, ZipForm
from ..models import Application, Position
from ..models.documents import KIND_NOUNS
from ..plural import plural
from ..services import documents
from ..services.documents_text import DocumentError, clean_name, megabytes
from ..services.documents_zip import preview_zip, save_zip
from ..services.positions import get_application, get_position
from .access import org_id, requires
from .uploads import pending_upload

bp = Blueprint("documents", __name__)
# What a served file or text may do in the browser: nothing (no script, no plug-in, no frame).
SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"


def _limits() -> documents.Limits:
    return documents.Limits.from_config(current_app.config)


def _back(application: Application, page: int | None = None) -> Response:
    return redirect(url_for("notes.index", position_id=application.position_id,
                            page=page or 1, _anchor=f"a-{application.id}"))


@bp.post("/applications/<int:application_id>/documents")
@requires("edit")
def upload(application_id: int) -> Response:
    """Keep one CV or cover letter for this candidate, replacing the one before."""
    application = get_application(db.session, org_id(), application_id)
    form = DocumentForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back(application, form.page.data)
    name = clean_name(form.file.data.filename or "")
    try:
        data = form.file.data.read()  # the request is capped at MAX_CONTENT_LENGTH
        saved = documents.save_documents(db.session, [documents.Upload(
            application, form.kind.data or "cv", name, data)], by=current_user,
            limits=_limits())[0]
    except DocumentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back(application, form.page.data)
    db.session.commit()
    flash(f"Saved {name} as the {saved.noun} of {application.candidate.full_name}. "
          "It is for reading here only: it is never sent.", "success")
    return _back(application, form.page.data)


def _document(application_id: int, kind: str):  # noqa: ANN202
    application = get_application(db.session, org_id(), application_id)
    try:
        return application, documents.get_document(db.session, org_id(), application.id, kind)
    except NotFound:
        abort(404)


@bp.get("/applications/<int:application_id>/cv", defaults={"kind": "cv"})
@bp.get("/applications/<int:application_id>/cover-letter", defaults={"kind": "cover_letter"})
@requires("edit")
def original(application_id: int, kind: str) -> Response:
    """The original file, always as a download, never shown by the browser as a page."""
    _, document = _document(application_id, kind)
    data = documents.original_bytes(db.session, document)
    response = send_file(
        io.BytesIO(data), mimetype=document.media_type, as_attachment=True,
        download_name=document.file_name, max_age=0, etag=False, last_modified=None)
    return _sandboxed(response)


@bp.get("/applications/<int:application_id>/cv/text", defaults={"kind": "cv"})
@bp.get("/applications/<int:application_id>/cover-letter/text",
        defaults={"kind": "cover_letter"})
@requires("edit")
def text(application_id: int, kind: str) -> Response:
    """The whole extracted text, as plain text (the notes page shows its start)."""
    _, document = _document(application_id, kind)
    return _sandboxed(Response(documents.full_text(db.session, document),
                               mimetype="text/plain"))


def _sandboxed(response: Response) -> Response:
    """A candidate's file or text as served: inert, never sniffed, never cached."""
    response.headers["Content-Security-Policy"] = SANDBOX
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/applications/<int:application_id>/cv/remove", defaults={"kind": "cv"})
@bp.post("/applications/<int:application_id>/cover-letter/remove",
         defaults={"kind": "cover_letter"})
@requires("edit")
def remove(application_id: int, kind: str) -> Response:
    """Delete one document: its text and bytes go; the audit keeps its hash."""
    application, document = _document(application_id, kind)
    name = document.file_name
    documents.remove_document(db.session, document, by=current_user)
    db.session.commit()
    flash(f"Removed {name}, the {KIND_NOUNS[kind]} of "
          f"{application.candidate.full_name}.", "success")
    return _back(application, request.form.get("page", type=int))


def _preview_page(position: Position, data: bytes, token: str) -> tuple[str, bool]:
    """The preview page, and whether it offers to save anything."""
    preview, uploads = preview_zip(db.session, position, data, _limits())
    return render_template("documents/preview.html", position=position, preview=preview,
                           form=ConfirmZipForm(token=token)), bool(uploads)


@bp.route("/positions/<int:position_id>/documents/import", methods=["GET", "POST"])
@requires("edit")
def import_zip(position_id: int) -> str:
    """Upload a ZIP of CVs and cover letters, and see which file goes to whom first."""
    position = get_position(db.session, org_id(), position_id)
    form = ZipForm()
    if form.validate_on_submit():
        data = form.archive.data.read()
        token = secrets.token_urlsafe(24)
        page, offered = _preview_page(position, data, token)
        if offered:  # kept until confirmed, or a day (services/retention.py purges it)
            pending_upload(position, token, "zip").write_bytes(data)
        return page
    return render_template("documents/import.html", position=position, form=form,
                           limits=_limits(), document_size=megabytes)


@bp.post("/positions/<int:position_id>/documents/import/confirm")
@requires("edit")
def import_confirm(position_id: int) -> Response | str:
    """Save every matched file of the previewed ZIP, or none."""
    position = get_position(db.session, org_id(), position_id)
    form = ConfirmZipForm()
    if not form.validate_on_submit():
        abort(400)
    path = pending_upload(position, form.token.data or "", "zip")
    if not path.exists():
        flash("That preview has expired. Upload the ZIP again.", "error")
        return redirect(url_for("documents.import_zip", position_id=position.id))
    data = path.read_bytes()
    try:
        saved = save_zip(db.session, position, data, by=current_user, limits=_limits())
    except DocumentError as exc:
        db.session.rollback()
        flash(f"Nothing was saved. {exc}", "error")
        return _preview_page(position, data, form.token.data or "")[0]
    db.session.commit()
    path.unlink(missing_ok=True)
    flash(f"Saved {plural(len(saved), 'document', 'documents')} beside the notes. They are "
          "for reading here only: never sent.", "success")
    return redirect(url_for("notes.index", position_id=position.id))
