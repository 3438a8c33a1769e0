"""Positions, candidates, imports and the differentiator."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..models import STAGES
from . import options

AUTO_BOILERPLATE = "auto"
MAX_UPLOAD = 20 * 1024 * 1024


def _single_line(form: FlaskForm, field: StringField) -> None:
    if field.data and any(c in field.data for c in "\r\n\0"):
        raise ValidationError("Use a single line, without line breaks.")


class PositionForm(FlaskForm):
    """Title, location and the boilerplate its letters use."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200), _single_line])
    location = StringField("Location", validators=[Length(max=200), _single_line])
    boilerplate = SelectField(
        "Boilerplate", default=AUTO_BOILERPLATE,
        description="Automatic picks the warmer letter for interviewees and the shorter one "
                    "for everyone else.")


class ImportForm(FlaskForm):
    """A candidate CSV to preview."""

    csv = FileField("Candidate CSV", validators=[
        FileRequired("Choose a CSV file to import."),
        FileSize(MAX_UPLOAD, message="The file is larger than 20 MB.")])


class ConfirmImportForm(FlaskForm):
    """Confirm an import that was previewed."""

    token = HiddenField(validators=[DataRequired()])
    skip_invalid = BooleanField("Import the valid rows and leave out the rows with problems")


class CandidateForm(FlaskForm):
    """One candidate's details and how their letter travels."""

    first_name = StringField("First name", validators=[Length(max=200), _single_line])
    last_name = StringField("Last name", validators=[Length(max=200), _single_line])
    email = EmailField("Email", validators=[Optional(), Length(max=320), _single_line],
                       description="Leave empty to send the letter by post.")
    address_line1 = StringField("Address", validators=[Length(max=300), _single_line])
    address_line2 = StringField("Address line 2", validators=[Length(max=300), _single_line])
    city = StringField("City", validators=[Length(max=200), _single_line])
    region = StringField("Region or state", validators=[Length(max=200), _single_line])
    postal_code = StringField("Postal code", validators=[Length(max=40), _single_line])
    country = StringField("Country", validators=[Length(max=200), _single_line])
    language = StringField("Language", default="en", validators=[Length(max=16), _single_line])
    stage = SelectField("Stage reached", choices=options((s, s.title()) for s in STAGES))
    channel = SelectField("Send by", choices=options([
        ("auto", "Email when there is an address"), ("email", "Email"), ("post", "Post")]))

    def validate_last_name(self, field: StringField) -> None:
        """A candidate needs a first or a last name."""
        if not (self.first_name.data or "").strip() and not (field.data or "").strip():
            raise ValidationError("Give a first or a last name.")


class DifferentiatorForm(FlaskForm):
    """What set the hire apart, in one job-related sentence."""

    differentiator = TextAreaField(
        "What set the person you hired apart", validators=[Length(max=300)],
        description="One job-related, verifiable phrase, for example \u201chands-on aviation "
                    "operations experience\u201d. Never name the person you hired.")


class OutcomeForm(FlaskForm):
    """Mark the hire, a withdrawal, a decline, or reinstate; with the choices a change needs."""

    outcome = HiddenField(validators=[DataRequired()])
    confirm = HiddenField()  # "1": the member saw the plan's effects and confirms
    raise_openings = HiddenField()  # "1": hire one more than the openings by raising them
    replace = HiddenField()  # the application id of the hire who goes back to pending
