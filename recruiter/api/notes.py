"""The note of an application, with an ETag, so that two writers never overwrite each other.

The ETag is the note's revision, which every save moves on: ``"7"``. A PUT must send it back in
``If-Match``; without one it is refused (428), and with one that is no longer current (someone
saved since) it is refused too (412), with the current ETag, so the client reads again, merges
and resends. ``*`` matches any revision (a deliberate overwrite).
"""

from __future__ import annotations

from flask import request
from pydantic import Field

from ..errors import Conflict
from ..extensions import db
from ..models import Application
from ..services.positions import save_note
from .applications import APPLICATION, application_of
from .core import ApiError, Model, Reply, Text, Timestamp, actor, endpoint


class NoteOut(Model):
    """The note (the letter's personal paragraph), its revision and when it was saved."""

    note: str
    revision: int
    updated_at: Timestamp | None


class NoteIn(Model):
    """The new note."""

    note: Text = Field(max_length=5000, description="The personal paragraph, for the "
                       "candidate: what was good in their application.")


def etag(application: Application) -> str:
    """The note's strong ETag."""
    return f'"{application.note_revision}"'


def _note(application: Application) -> Reply:
    return Reply(NoteOut(note=application.note, revision=application.note_revision,
                         updated_at=application.note_updated_at),
                 headers={"ETag": etag(application)})


def _matched_revision(application: Application) -> int:
    """The revision If-Match names when it is the current one; 428 or 412 otherwise."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise ApiError(428, "Precondition Required", "Send If-Match with the note's ETag as "
                       "last read (GET the note first), so no one's edit is overwritten.",
                       field="If-Match", location="header")
    current = etag(application)
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags or current in tags:  # weak tags (W/"…") never match: If-Match is strong
        return application.note_revision
    raise ApiError(412, "Precondition Failed", "Someone else saved this note since you read "
                   "it: read it again, merge your words into theirs, and send the new ETag.",
                   field="If-Match", location="header", headers={"ETag": current})


@endpoint("GET", APPLICATION + "/note", tag="notes", response=NoteOut)
def read_note(application_id: int) -> Reply:
    """Read an application's note; its ETag is in the ``ETag`` header."""
    return _note(application_of(application_id))


@endpoint("PUT", APPLICATION + "/note", tag="notes", body=NoteIn, response=NoteOut,
          errors=(404, 412, 422, 428), headers=("If-Match",))
def write_note(application_id: int, body: NoteIn) -> Reply:
    """Save an application's note, if it is still the one read (``If-Match``)."""
    application = application_of(application_id)
    revision = _matched_revision(application)
    try:
        save_note(db.session, application, body.note, base_revision=revision, by=actor())
    except Conflict:
        db.session.rollback()
        raise ApiError(412, "Precondition Failed", "Someone else saved this note at the same "
                       "moment: read it again and resend.", field="If-Match",
                       location="header", headers={"ETag": etag(application_of(
                           application_id))}) from None
    return _note(application)
