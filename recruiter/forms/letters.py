"""Letter review: overrides and approvals."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange


class OverrideForm(FlaskForm):
    """The personal paragraph of this one letter, instead of the candidate's note."""

    note = TextAreaField("Personal paragraph for this letter only", validators=[Length(max=5000)],
                         description="Leave empty to use the candidate's note again.")


class ApproveForm(FlaskForm):
    """Approve one letter, acknowledging its warnings."""

    acknowledge = BooleanField("I have read the warnings and this letter can go as it is")
    # The content hash of the letter the member read: approving never takes a letter that
    # changed since (a note saved meanwhile re-renders it).
    seen = HiddenField()


class ApproveAllForm(FlaskForm):
    """Approve every letter of the position after confirming the count."""

    expected_count = IntegerField("Number of letters to approve",
                                  validators=[DataRequired(), NumberRange(min=1)])
    acknowledge = BooleanField("I have read every warning and these letters can go as they are")
    confirm = HiddenField(default="1")
