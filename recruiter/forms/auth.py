"""Signing in and managing members."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from ..services.accounts import MIN_PASSWORD
from . import options

ROLE_CHOICES = options([("manager", "Manager: writes notes and approves letters"),
                ("admin", "Admin: also manages members, boilerplates and settings"),
                ("auditor", "Auditor: reads and exports, changes nothing")])


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class MemberForm(FlaskForm):
    """A new member of the organization."""

    name = StringField("Name", validators=[Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Email()])
    role = SelectField("Role", choices=ROLE_CHOICES, default="manager")
    password = PasswordField(
        "First password", validators=[DataRequired(), Length(min=MIN_PASSWORD)],
        description=f"At least {MIN_PASSWORD} characters. Share it with them privately; they "
                    "can change it under their name at the top of every page.")


class RoleForm(FlaskForm):
    """Change a member's role or switch their access off."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    active = SelectField("Access", choices=options([("1", "Active"), ("0", "Switched off")]))
