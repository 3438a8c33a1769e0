"""A member's own account: changing the password."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ..services.accounts import MIN_PASSWORD


class PasswordForm(FlaskForm):
    """The current password and the new one, twice."""

    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD, max=1000,
               message=f"The new password must be {MIN_PASSWORD} to 1,000 characters long."),
    ], description=f"At least {MIN_PASSWORD} characters.")
    repeat = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new", message="The two new passwords differ.")])
