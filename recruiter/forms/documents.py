"""Forms of the CVs and cover letters: one file for one candidate, or a ZIP for a position."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.validators import DataRequired, Optional

from ..models.documents import KIND_LABELS
from . import options


class DocumentForm(FlaskForm):
    """One CV or cover letter (the notes page writes these inputs itself, one per card)."""

    kind = SelectField("This file is", choices=options(KIND_LABELS.items()), default="cv")
    file = FileField("CV or cover letter", validators=[
        FileRequired("Choose a PDF, Word (.docx) or text file to upload.")])
    page = IntegerField(validators=[Optional()])


class ZipForm(FlaskForm):
    """A ZIP of CVs and cover letters to match to the position's candidates."""

    archive = FileField("ZIP of CVs and cover letters", validators=[
        FileRequired("Choose a ZIP file of CVs and cover letters.")],
        description="PDF, Word (.docx) or text files, named after the candidate or with "
                    "their email: okafor-daniel-cv.pdf, Daniel Okafor - Cover letter.docx, "
                    "daniel.okafor@example.com.pdf.")


class ConfirmZipForm(FlaskForm):
    """Save what the preview showed."""

    token = HiddenField(validators=[DataRequired()])
