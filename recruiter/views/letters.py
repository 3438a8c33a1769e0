"""Letter review: the list, one letter with its email and PDF, overrides and approvals."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any, NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select

from ..caches import review_cache
from ..errors import RecruiterError
from ..extensions import db
from ..forms.letters import ApproveAllForm, ApproveForm, OverrideForm
from ..models import Batch, Letter, Member, Position
from ..plural import plural
from ..services import approval, audit, files, outcomes, required_reasons, review, review_list
from ..services.outcomes import LetterStopped
from ..services.positions import get_position
from .access import org_id, requires
from .reasons import flash_refusal, missing_link

bp = Blueprint("letters", __name__)
FRAMEABLE = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                        "frame-ancestors 'self'",
             "X-Frame-Options": "SAMEORIGIN"}


def _letter(letter_id: int) -> Letter:
    letter = db.session.get(Letter, letter_id)
    if letter is None or letter.organization_id != org_id():
        abort(404)
    return letter


def _review(position: Position) -> review.Review:
    """The position's letters and findings; for editors, every letter is brought up to date."""
    editable = current_user.can("edit")
    result, computed = review.review_of(db.session, position, review_cache(), refresh=editable)
    if editable and computed:  # a hit wrote nothing, and a commit would expire the page's rows
        db.session.commit()
    return result


def _narrowed(position: Position, result: review.Review) -> review_list.Narrowed:
    """The list's filter (``show``) and search (``q``) from the query string."""
    return review_list.narrow(db.session, position, result, show=request.args.get("show", ""),
                              search=request.args.get("q", ""))


@bp.get("/positions/<int:position_id>/letters")
@requires("read")
def index(position_id: int) -> tuple[str, int]:
    """The position's letters with their status and check counts, a page at a time."""
    return _index_page(get_position(db.session, org_id(), position_id), ApproveAllForm())


def _index_page(position: Position, form: ApproveAllForm, ticked: Collection[int] = (),
                status: int = 200) -> tuple[str, int]:
    """The list, narrowed and paged as the query string says; ``form`` as typed."""
    result = _review(position)
    narrowed = _narrowed(position, result)
    per_page = int(current_app.config.get("LETTERS_PER_PAGE", 50))
    pages = max((len(narrowed.ids) + per_page - 1) // per_page, 1)
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    letters = review.letter_rows(db.session, result,
                                 narrowed.ids[(page - 1) * per_page:page * per_page])
    no_note = [NoNote(i, name) for i, name in result.no_note
               if narrowed.statuses.get(i) == "draft"]
    missing = required_reasons.missing_names(db.session, position)  # [] unless required
    return render_template("letters/index.html", position=position, letters=letters,
                           counts=review.review_counts(result, narrowed.statuses), form=form,
                           page=page, pages=pages, narrowed=narrowed,
                           filters=review_list.FILTERS, ticked=set(ticked),
                           differentiator_findings=result.differentiator_findings,
                           no_note=no_note, other_warnings=result.other_warnings,
                           no_note_by=_no_note_deciders(letters),
                           missing_reasons=missing, missing_who=required_reasons.named(missing),
                           missing_link=missing_link(position.id)), status


class NoNote(NamedTuple):
    """A draft without a note, for the batch's per-letter confirmation."""

    id: int
    name: str


def _no_note_deciders(rows: list[review.LetterRow]) -> dict[int, str]:
    """Who approved each listed letter to go without a personal paragraph, by letter id."""
    ids = [row.id for row in rows if row.status in ("approved", "frozen", "sent")
           and any(check == approval.NO_NOTE for check, _, _ in row.acknowledged)]
    if not ids:
        return {}
    return {i: name or email for i, name, email in db.session.execute(
        select(Letter.id, Member.name, Member.email).join(
            Member, Member.id == Letter.approved_by_id).where(Letter.id.in_(ids)))}


def _letter_ids(values: list[str]) -> list[int]:
    """Letter ids from a form's repeated field; what is not a number names no letter."""
    return [int(v) for v in values if v.isdecimal() and len(v) <= 10]


@bp.post("/positions/<int:position_id>/letters/approve")
@requires("edit")
def approve_all(position_id: int) -> Response | tuple[str, int]:
    """Approve every draft after the member typed how many that is; refused, typed is kept."""
    position = get_position(db.session, org_id(), position_id)
    form = ApproveAllForm()
    ticked = _letter_ids(request.form.getlist("without_note"))
    if not form.validate_on_submit():
        flash("Type the number of letters to approve now to confirm.", "error")
        return _index_page(position, form, ticked, 422)
    expected = form.expected_count.data or 0
    try:
        count = approval.approve_all(db.session, position, current_user,
                                    expected_count=expected,
                                    acknowledge_warnings=bool(form.acknowledge.data),
                                    without_note=ticked)
    except RecruiterError as exc:
        db.session.rollback()
        flash_refusal(exc)
        return _index_page(position, form, ticked, 422)
    db.session.commit()
    stopped = expected - count
    every = "Approved 1 letter." if count == 1 else f"Approved all {count} letters."
    flash(every if not stopped else
          f"Approved {plural(count, 'letter', 'letters')}; {stopped} "
          f"{'was' if stopped == 1 else 'were'} cancelled on a last check (the list says why).",
          "success")
    return redirect(url_for("letters.index", position_id=position.id, **_nav_args()))


def _nav_args() -> dict[str, Any]:
    """The list's filter and search, from the query string, to pass along."""
    return {k: v for k in ("show", "q") if (v := request.args.get(k, "").strip())}


@bp.get("/letters/<int:letter_id>")
@requires("read")
def show(letter_id: int) -> str:
    """One letter: highlighted checks, the email and the PDF side by side."""
    letter = _letter(letter_id)
    position = letter.application.position
    result = _review(position)
    narrowed = _narrowed(position, result)
    previous_id, next_id = review_list.neighbours(result.letter_ids, set(narrowed.ids),
                                                  letter.id)
    mine = result.findings.get(letter.id, [])
    batch = db.session.get(Batch, letter.batch_id) if letter.batch_id else None
    life = outcomes.letter_life(letter, next(iter(letter.deliveries), None), batch)
    no_note_by = None
    if letter.status in ("approved", "frozen", "sent") and letter.approved_by and any(
            isinstance(a, dict) and a.get("check") == approval.NO_NOTE
            for a in letter.acknowledged or ()):
        no_note_by = letter.approved_by.name or letter.approved_by.email
    # An organization that requires reasons: say so before the member tries to approve.
    missing_reason = letter.status == "draft" and current_user.can("edit") and bool(
        required_reasons.missing_names(db.session, position, [letter.id]))
    return render_template(
        "letters/show.html", letter=letter, position=position, findings=mine,
        life=life, life_label=outcomes.LIFE_LABELS.get(life or "", letter.status),
        highlighted=highlight(letter.text, mine),
        previous_id=previous_id, next_id=next_id, narrowed=narrowed, nav=narrowed.args,
        position_in=narrowed.ids.index(letter.id) + 1 if letter.id in narrowed.ids else None,
        total=len(narrowed.ids), filter_label=dict(review_list.FILTERS)[narrowed.show],
        override_form=OverrideForm(note=letter.note_override or ""),
        approve_form=ApproveForm(seen=letter.content_hash), no_note_by=no_note_by,
        missing_reason=missing_reason, missing_link=missing_link(position.id))


@bp.get("/letters/<int:letter_id>/email")
@requires("read")
def email(letter_id: int) -> Response:
    """The email's HTML part, for the preview frame."""
    letter = _letter(letter_id)
    page = render_template("letters/email_frame.html", letter=letter)
    return Response(page, headers=FRAMEABLE, mimetype="text/html")


def _page_size() -> str:
    """RECRUITER_PAGE_SIZE, for every PDF the pages render."""
    return str(current_app.config.get("PAGE_SIZE") or "A4")


@bp.get("/letters/<int:letter_id>/letter.pdf")
@requires("read")
def pdf(letter_id: int) -> Response:
    """The letterhead PDF of one letter."""
    letter = _letter(letter_id)
    try:
        data = files.letter_pdf(letter, page_size=_page_size())
    except RecruiterError as exc:  # its boilerplate fails for this candidate: no document
        page = f'<!doctype html><html lang="en"><title>No PDF</title><p>{escape(str(exc))}</p>'
        return Response(page, status=409, headers=FRAMEABLE, mimetype="text/html")
    return Response(data, mimetype="application/pdf", headers={
        **FRAMEABLE, "Content-Disposition": files.content_disposition(letter, "pdf",
                                                                      inline=True)})


@bp.post("/letters/<int:letter_id>/override")
@requires("edit")
def override(letter_id: int) -> Response:
    """Replace the personal paragraph of this one letter, or go back to the note."""
    letter = _letter(letter_id)
    form = OverrideForm()
    if form.validate_on_submit():
        try:
            approval.set_note_override(db.session, letter, form.note.data, current_user)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("This letter now uses its own paragraph." if letter.note_override
                  else "This letter uses the candidate's note again.", "success")
    return redirect(url_for("letters.show", letter_id=letter.id))


@bp.post("/letters/<int:letter_id>/approve")
@requires("edit")
def approve(letter_id: int) -> Response:
    """Approve one letter; with ``then=next``, go on to the next letter to review."""
    letter = _letter(letter_id)
    form = ApproveForm()
    position = letter.application.position
    try:
        # Checked against the whole batch as it is now (services/review.py), so checks that
        # compare letters (duplicates, colder) count here too.
        review.approve_reviewed(db.session, letter, review_cache(), current_user,
                                seen=form.seen.data or None,
                                acknowledge=bool(form.validate_on_submit()
                                                 and form.acknowledge.data))
    except LetterStopped as exc:  # the cancellation and its reason are kept
        db.session.commit()
        flash(str(exc), "error")
        return redirect(url_for("letters.show", letter_id=letter.id, **_nav_args()))
    except RecruiterError as exc:
        db.session.rollback()
        flash_refusal(exc)
        return redirect(url_for("letters.show", letter_id=letter.id, **_nav_args()))
    db.session.commit()
    done = f"Approved the letter to {letter.application.candidate.full_name}."
    if request.form.get("then") != "next":
        flash(done, "success")
        return redirect(url_for("letters.index", position_id=position.id, **_nav_args()))
    result = _review(position)
    narrowed = _narrowed(position, result)
    upcoming = review_list.next_to_review(narrowed, result.letter_ids, letter.id)
    if upcoming is None:
        flash(f"{done} No letter is left to review"
              f"{' in this view' if narrowed.args else ''}.", "success")
        return redirect(url_for("letters.index", position_id=position.id, **narrowed.args))
    flash(done, "success")
    return redirect(url_for("letters.show", letter_id=upcoming, **narrowed.args))


@bp.post("/letters/<int:letter_id>/unapprove")
@requires("edit")
def unapprove(letter_id: int) -> Response:
    """Take one letter back to draft."""
    letter = _letter(letter_id)
    try:
        approval.unapprove_letter(db.session, letter, current_user)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("The letter is a draft again.", "info")
    return redirect(url_for("letters.show", letter_id=letter.id))


@bp.post("/positions/<int:position_id>/letters.zip")
@requires("read")
def download_zip(position_id: int) -> Response:
    """Every letter as PDF and .eml in one ZIP, streamed; a POST, since it is audit-logged."""
    position = get_position(db.session, org_id(), position_id)
    audit.record(db.session, position.organization_id, "export.letters_zip",
                 actor=current_user, subject=position)
    db.session.commit()
    def chunks(pid: int = position.id, page_size: str = _page_size()) -> Iterator[bytes]:
        # The body streams after this view returns: load the position again in the
        # streaming context rather than using an object of a session that has closed.
        yield from files.iter_letters_zip(db.session, db.session.get(Position, pid),
                                            page_size=page_size)

    return Response(stream_with_context(chunks()), mimetype="application/zip", headers={
        "Content-Disposition":
            f'attachment; filename="{files.letters_zip_name(db.session, position)}"'})


@bp.get("/positions/<int:position_id>/post-letters.pdf")
@requires("read")
def download_post(position_id: int) -> Response:
    """Every letter that goes by post, as one print-ready PDF."""
    position = get_position(db.session, org_id(), position_id)
    try:
        data = files.print_bundle(db.session, position, page_size=_page_size())
    except RecruiterError as exc:
        flash(str(exc), "info")
        return redirect(url_for("letters.index", position_id=position.id))
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="post-letters-{position.id}.pdf"'})


def highlight(text: str, findings: list) -> Markup:
    """The letter's text with each finding's span marked, escaped everywhere else."""
    spans = sorted((f for f in findings if f.start is not None and f.end is not None),
                   key=lambda f: (f.start, -f.end))
    out, pos = [], 0
    for f in spans:
        if f.start < pos:
            continue  # overlapping spans: the first one wins
        out.append(escape(text[pos:f.start]))
        out.append(Markup('<mark class="finding-span {}" title="{}">{}</mark>').format(
            f.severity, f.message, text[f.start:f.end]))
        pos = f.end
    out.append(escape(text[pos:]))
    return Markup("").join(out)
