"""The organization's settings: letterhead, sender, time zone and sending rate (admins only)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..errors import RecruiterError
from ..services.organization import (
    RATE_MAX,
    RATE_MIN,
    check_bounce_domain,
    check_locale,
    check_timezone,
)
from . import options, single_line


def _time_zone(form: FlaskForm, field: StringField) -> None:
    try:
        check_timezone(field.data or "")
    except RecruiterError as exc:
        raise ValidationError("Enter a time zone such as America/Vancouver or Europe/Berlin."
                              ) from exc


def _locale(form: FlaskForm, field: StringField) -> None:
    try:
        check_locale(field.data or "")
    except RecruiterError as exc:
        raise ValidationError("Enter a locale such as en_CA, en_GB or fr_CA.") from exc


def _bounce_domain(form: FlaskForm, field: StringField) -> None:
    try:
        check_bounce_domain(field.data or "")
    except RecruiterError as exc:
        raise ValidationError(str(exc)) from exc


class OrganizationForm(FlaskForm):
    """What every letter of the organization is signed and sent with."""

    name = StringField("Organization name", validators=[DataRequired(), Length(max=200),
                                                             single_line],
                       description="Shown in the letterhead and in the letters.")
    address = TextAreaField("Postal address", validators=[Length(max=1000)],
                            description="One line per line of the letterhead.")
    sender_name = StringField("Signed by", validators=[Length(max=200), single_line],
                              description="The person who signs the letters.")
    sender_title = StringField("Their title", validators=[Length(max=200), single_line])
    sender_email = EmailField(
        "Sender email address", validators=[DataRequired(), Email(), Length(max=320), single_line],
        description="The From address of every email letter. Letters cannot be sent without it.")
    reply_to = EmailField(
        "Replies go to", validators=[Optional(), Email(), Length(max=320), single_line],
        description="Where a candidate's reply goes (\"could I have feedback?\"); every email "
                    "letter says so. Leave it empty for the sender email address.")
    bounce_domain = StringField(
        "Bounce domain", validators=[Length(max=253), single_line, _bounce_domain],
        description="Optional. Each email is sent from its own bounces+…@ address at this "
                    "domain, so a bounce finds its letter. Its mail must reach recruiter: see "
                    "the deliverability page. Leave it empty to send from the sender address.")
    timezone = StringField(
        "Time zone", validators=[DataRequired(), _time_zone],
        description="Dates in letters, \"send at\" times and business mornings use it.")
    locale = StringField("Locale", validators=[DataRequired(), Length(max=16), _locale],
                         description="How dates are written in letters, e.g. en_CA.")
    send_rate_per_minute = IntegerField(
        "Emails per minute", validators=[
            InputRequired("Enter a number of emails per minute."),
            NumberRange(RATE_MIN, RATE_MAX, f"Choose between {RATE_MIN} and {RATE_MAX}.")],
        description="The most the workers send for this organization in any minute; ask your "
                    "mail provider for its limit.")


def organization_form(languages: list[str], names: dict[str, str], obj: object,
                      titles: dict[str, str]) -> OrganizationForm:
    """The settings form with the sender's title in each other language (``title_in_fr``...)."""

    class Form(OrganizationForm):
        pass

    for code in languages:
        setattr(Form, f"title_in_{code}", StringField(
            f"Their title in {names[code]}", default=titles.get(code, ""),
            validators=[Length(max=200), single_line],
            description=f"Under the signature of letters written in {names[code]}."))
    form = Form(obj=obj)
    form.languages = list(languages)  # type: ignore[attr-defined]
    return form


class TokenForm(FlaskForm):
    """A new API token: what it is for, and whether it may change things."""

    name = StringField("What is it for?", validators=[DataRequired(), Length(max=100),
                                                      single_line],
                       description="The system that will use it, such as your ATS.")
    scope = SelectField("It may", choices=options([("read", "read only"),
                                                   ("write", "read and change")]),
                        default="read")
