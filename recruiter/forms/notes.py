"""The notes page: one small form per candidate."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange
from wtforms.widgets import HiddenInput

NOTE_MAX = 5000


class NoteForm(FlaskForm):
    """A candidate's note and the revision it was written against."""

    note = TextAreaField("Note", validators=[Length(max=NOTE_MAX, message=(
        f"Keep the note under {NOTE_MAX:,} characters."))],
        render_kw={"rows": 3, "maxlength": NOTE_MAX, "spellcheck": "true"})
    base_revision = IntegerField(widget=HiddenInput(), validators=[
        InputRequired("The page is out of date; reload it and try again."), NumberRange(min=0)])
