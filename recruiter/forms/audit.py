"""Audit: the retention period and erasure requests (admins only)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange

from ..services.organization import RETENTION_MAX, RETENTION_MIN


class RetentionForm(FlaskForm):
    """How long personal data is kept after a position closes."""

    months = IntegerField(
        "Retention period in months", validators=[
            InputRequired("Enter a number of months."),
            NumberRange(RETENTION_MIN, RETENTION_MAX,
                        f"Choose between {RETENTION_MIN} and {RETENTION_MAX} months.")],
        description="Counted from the day a position closes (or is filled). Then names, "
                    "addresses, emails, notes and stored letters are purged; the audit chain, "
                    "which holds hashes only, stays.")


class ErasureForm(FlaskForm):
    """One person's request to be forgotten, by the email address they applied with."""

    email = EmailField(
        "Email address of the person", validators=[DataRequired(), Email(), Length(max=320)],
        description="Only a SHA-256 hash of the address is stored. The person is erased now, "
                    "or the request is recorded as restricted while retention applies and "
                    "carried out when it ends.")
