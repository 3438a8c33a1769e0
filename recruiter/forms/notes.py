"""The notes page: one small form per candidate."""

from __future__ import annotations

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange
from wtforms.widgets import HiddenInput

from ..models import Application

NOTE_MAX = 5000


class NoteForm(FlaskForm):
    """A candidate's note and the revision it was written against."""

    note = TextAreaField("Note", validators=[Length(max=NOTE_MAX, message=(
        f"Keep the note under {NOTE_MAX:,} characters."))],
        render_kw={"rows": 3, "maxlength": NOTE_MAX, "spellcheck": "true"})
    base_revision = IntegerField(widget=HiddenInput(), validators=[
        InputRequired("The page is out of date; reload it and try again."), NumberRange(min=0)])


def note_form(application: Application, *, note: str | None = None,
              revision: int | None = None, error: str | None = None) -> NoteForm:
    """A display form for one card; ids are unique because the page holds one per candidate."""
    form = NoteForm(formdata=None, meta={"csrf": False},
                    note=application.note if note is None else note,
                    base_revision=application.note_revision if revision is None else revision)
    form.note.id = f"note-{application.id}"
    form.note.label.field_id = form.note.id
    form.note.label.text = Markup('Note<span class="sr-only"> for {}</span>').format(
        application.candidate.full_name)
    if error:
        form.note.errors = [error]
    return form
