"""Rejection reasons: the admin's list, and choosing a reason for declined candidates."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from ..models.reasons import LABEL_MAX
from ..services.required_reasons import SETTING_LABEL
from . import single_line

CHANGES = ("rename", "deactivate", "activate", "up", "down")


class ReasonForm(FlaskForm):
    """A new reason at the end of the list."""

    label = StringField("New reason", validators=[DataRequired(), Length(max=LABEL_MAX),
                                                  single_line],
                        description="What happened, as your reports should say it; never "
                                    "shown to the candidate. Checked like a letter's wording.")


class ChangeReasonForm(FlaskForm):
    """Rename, deactivate, activate or move one reason (its id travels in the form)."""

    reason_id = IntegerField(validators=[InputRequired()])
    change = HiddenField(validators=[AnyOf(CHANGES)])
    label = StringField("Label", validators=[Optional(), Length(max=LABEL_MAX), single_line])


class ChooseReasonForm(FlaskForm):
    """The reason for one declined candidate, or for the ticked ones ("" means none given)."""

    reason = SelectField("Rejection reason", choices=[], validate_choice=True)



class RequireReasonsForm(FlaskForm):
    """The organization's rule: a reason for every declined candidate before approval."""

    require = BooleanField(SETTING_LABEL, description=(
        "Letters to declined candidates without a reason cannot be approved, one by one or "
        "all at once, in the browser, on the command line or through the API. The reason "
        "stays for your records; it is never shown to the candidate."))
