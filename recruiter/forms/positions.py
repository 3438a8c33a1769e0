"""Positions, candidates, imports and the differentiator."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..errors import RecruiterError
from ..models import STAGES
from ..services import ats
from ..services.addresses import check_position_reply_to
from ..services.ats import ImportMapping
from ..services.languages import display_name, normalise
from ..services.translations import check_language_tag
from . import options, single_line

AUTO_BOILERPLATE = "auto"
MAX_UPLOAD = 20 * 1024 * 1024
# Offered by name in the candidate form; any other language tag is kept when it is stored.
COMMON_LANGUAGES = ("ar", "de", "en", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt",
                    "ru", "sv", "tr", "uk", "vi", "zh")


def _language_tag(form: object, field: SelectField) -> None:
    try:
        check_language_tag(field.data)
    except RecruiterError as exc:
        raise ValidationError(str(exc)) from exc


def language_choices(field: SelectField, *stored: str | None) -> None:
    """Common languages by name, plus the stored and the organization's (``fr-CA`` as is)."""
    codes = {normalise(code) for code in (*COMMON_LANGUAGES, *stored) if normalise(code)}
    field.choices = options(sorted(
        ((code, display_name(code) + (f" ({code})" if "-" in code else "")) for code in codes),
        key=lambda pair: pair[1]))



def _reply_to(form: object, field: EmailField) -> None:
    try:
        check_position_reply_to(field.data)
    except RecruiterError as exc:
        raise ValidationError(str(exc)) from exc


class PositionForm(FlaskForm):
    """Title, location and the boilerplate its letters use."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200), single_line])
    location = StringField("Location", validators=[Length(max=200), single_line])
    openings = IntegerField(
        "Openings", default=1, validators=[Optional(), NumberRange(min=1, max=1000)],
        description="How many people this position hires. Marking more hires asks first.")
    boilerplate = SelectField(
        "Boilerplate", default=AUTO_BOILERPLATE,
        description="Automatic picks the warmer letter for interviewees and the shorter one "
                    "for everyone else.")
    reply_to = EmailField(
        "Replies go to", validators=[Length(max=320), single_line, _reply_to],
        description="Optional: where a candidate's reply to this position's letters goes, "
                    "such as the hiring manager's address. Leave it empty for the "
                    "organization's reply-to address.")


class ImportForm(FlaskForm):
    """A candidate CSV to preview."""

    csv = FileField("Candidate CSV", validators=[
        FileRequired("Choose a CSV file to import."),
        FileSize(MAX_UPLOAD, message="The file is larger than 20 MB.")])


class ConfirmImportForm(FlaskForm):
    """Confirm an import that was previewed, or preview it again with another mapping.

    The mapping's own inputs depend on the file (one select per column, per unknown value and
    one greeting per row to check), so ``import_mapping_from`` reads them from the form data.
    """

    token = HiddenField(validators=[DataRequired()])
    skip_invalid = BooleanField("Import the valid rows and leave out the rows with problems")


def import_mapping_from(formdata: Mapping[str, str], headers: list[str]) -> ImportMapping:
    """The mapping chosen in the preview: ``column-N``, ``value-F-N`` (+ ``-raw``), ``greeting-R``.

    Anything that is not a known field or value is left out, so the built-in proposal stands.
    """
    mapping = ImportMapping()
    for index, title in enumerate(headers):
        chosen = formdata.get(f"column-{index}")
        if title and chosen and (chosen in ats.FIELDS or chosen == ats.IGNORED):
            mapping.columns[title] = chosen
    for name, (_, allowed, _) in ats.CHOICES.items():
        for key, raw in formdata.items():
            if key.startswith(f"value-{name}-") and key.endswith("-raw"):
                chosen = formdata.get(key.removesuffix("-raw"), "")
                if chosen in allowed and raw.strip():
                    mapping.values.setdefault(name, {})[ats.key(raw)] = chosen
    for key, value in formdata.items():
        row = key.removeprefix("greeting-")
        if key.startswith("greeting-") and row.isdigit() and len(value) <= 200:
            mapping.greetings[int(row)] = value
    return mapping


class CandidateForm(FlaskForm):
    """One candidate's details and how their letter travels."""

    first_name = StringField("First name", validators=[Length(max=200), single_line])
    last_name = StringField("Last name", validators=[Length(max=200), single_line])
    email = EmailField("Email", validators=[Optional(), Length(max=320), single_line],
                       description="Leave empty to send the letter by post.")
    address_line1 = StringField("Address", validators=[Length(max=300), single_line])
    address_line2 = StringField("Address line 2", validators=[Length(max=300), single_line])
    city = StringField("City", validators=[Length(max=200), single_line])
    region = StringField("Region or state", validators=[Length(max=200), single_line])
    postal_code = StringField("Postal code", validators=[Length(max=40), single_line])
    country = StringField("Country", validators=[Length(max=200), single_line])
    language = SelectField("Language", validators=[DataRequired(), _language_tag],
                           validate_choice=False,
                           description="The letter is written in it when its boilerplate has "
                                       "a version in this language.")
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


def differentiator_form(languages: list[str], written: Mapping[str, str],
                        names: Mapping[str, str]) -> DifferentiatorForm:
    """The differentiator form with one more field per other language (``in_fr``...)."""

    class Form(DifferentiatorForm):
        pass

    for code in languages:
        setattr(Form, f"in_{code}", TextAreaField(
            f"Differentiator in {names[code]}", validators=[Length(max=300)],
            default=written.get(code, ""),
            description=f"The same phrase, as the letters in {names[code]} say it. "
                        "Leave empty to remove it."))
    form = Form()
    form.languages = list(languages)  # type: ignore[attr-defined]
    return form


class OutcomeForm(FlaskForm):
    """Mark the hire, a withdrawal, a decline, or reinstate; with the choices a change needs."""

    outcome = HiddenField(validators=[DataRequired()])
    confirm = HiddenField()  # "1": the member saw the plan's effects and confirms
    raise_openings = HiddenField()  # "1": hire one more than the openings by raising them
    replace = HiddenField()  # the application id of the hire who goes back to pending
