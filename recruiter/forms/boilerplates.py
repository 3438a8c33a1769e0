"""The boilerplate list and editor."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from . import single_line

BODY_MAX = 20_000


def _optional_int(value: object) -> int | None:
    """An id from a select, or None when nothing is chosen."""
    if value in (None, ""):
        return None
    return int(value)  # type: ignore[call-overload]



class NewBoilerplateForm(FlaskForm):
    """A new boilerplate, copied from an existing one."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200), single_line],
                        description="For example \u201cWarehouse roles, after interview\u201d.")
    copy_from = SelectField("Start from a copy of", coerce=int)


class BoilerplateForm(FlaskForm):
    """Subject and body, and the candidate the preview is rendered for."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=300), single_line],
                          render_kw={"class": "mono", "spellcheck": "true"})
    body = TextAreaField("Body", validators=[DataRequired(), Length(max=BODY_MAX)],
                         description="Markdown, with merge fields such as "
                                     "{{ candidate.first_name }} and conditions such as "
                                     "{% if note %}\u2026{% endif %}.",
                         render_kw={"class": "mono", "rows": 18, "spellcheck": "true"})
    position = SelectField("Position", coerce=_optional_int, validate_choice=False,
                           render_kw={"form": "editor"})
    application = SelectField("Candidate", coerce=_optional_int, validate_choice=False,
                              render_kw={"form": "editor"})
    language = HiddenField()  # the version's language; the editor's selector sets it
    preview = SubmitField("Preview")
    save = SubmitField("Save as a new version")
