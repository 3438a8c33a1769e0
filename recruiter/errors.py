"""The exceptions recruiter raises, each with one clear sentence for the user."""

from __future__ import annotations


class RecruiterError(Exception):
    """Base class: the message is a sentence a user can act on."""


class TemplateError(RecruiterError):
    """A boilerplate could not be compiled or rendered."""

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class CandidateImportError(RecruiterError):
    """A candidate file was refused; ``problems`` names every bad row."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class AddressError(RecruiterError):
    """An email address or header value is unsafe or invalid."""


class PdfError(RecruiterError):
    """A PDF could not be produced."""


class NotFound(RecruiterError):
    """The object does not exist in the member's organization."""


class Conflict(RecruiterError):
    """Someone else changed the object first."""
