"""WTForms for every page; Flask-WTF adds the CSRF token to each."""

from __future__ import annotations

from collections.abc import Iterable

from wtforms import Field
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from ..services.text import single_line_problem


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """Select choices from (value, label) pairs (tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def single_line(form: object, field: Field) -> None:
    """WTForms validator: one line, no control characters or direction overrides."""
    problem = single_line_problem(field.data)
    if problem:
        raise ValidationError(f"This {problem}.")
