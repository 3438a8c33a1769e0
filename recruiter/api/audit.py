"""The audit trail, read by sequence, and a position's evidence export.

Events hold hashes and references, never personal text, so every token of the organization may
read them. The export writes an audit event of its own, hence a POST (and a write token).
"""

from __future__ import annotations

from typing import Any

from flask import Response, send_file
from pydantic import Field

from ..extensions import db
from ..services import audit, evidence
from .core import Model, Timestamp, actor, endpoint, organization_id
from .positions import POSITION, position_of


class EventQuery(Model):
    """The events after ``after_seq``, oldest first."""

    after_seq: int = Field(0, ge=0, le=2**31 - 1, description="The last `seq` you read (0 "
                           "for the start of the trail).")
    limit: int = Field(100, ge=1, le=500)


class Actor(Model):
    """Who acted: a person, or an API token (kind `token`)."""

    id: str
    name: str
    kind: str


class EventOut(Model):
    """One event of the organization's hash chain."""

    seq: int
    action: str
    actor: Actor | None = Field(description="Null for the system (the worker, a schedule).")
    subject_type: str
    subject_id: str | None
    created_at: Timestamp
    payload: dict[str, Any]
    hash: str = Field(description="SHA-256 of `prev_hash` and the event's canonical JSON.")
    prev_hash: str


class EventList(Model):
    """A page of events; ask again with `after_seq=next_after_seq` for the next."""

    data: list[EventOut]
    next_after_seq: int = Field(description="The last `seq` of this page (or the `after_seq` "
                                            "asked for, when the page is empty).")
    more: bool = Field(description="Whether more events follow already.")


@endpoint("GET", "/audit/events", tag="audit", query=EventQuery, response=EventList,
          errors=())
def list_audit_events(query: EventQuery) -> EventList:
    """Read the audit trail by sequence number.

    Sequence numbers have no gaps: starting each page after the last `seq` read misses
    nothing and repeats nothing. Poll with the last `next_after_seq` for new events.
    """
    rows = audit.events_after(db.session, organization_id(), query.after_seq,
                              query.limit + 1)
    page = rows[:query.limit]
    data = [EventOut(
        seq=event.seq, action=event.action,
        actor=Actor(id=str(member.id), name=member.name or member.email, kind=member.kind)
        if member is not None else None,
        subject_type=event.subject_type,
        subject_id=None if event.subject_id is None else str(event.subject_id),
        created_at=event.created_at, payload=event.payload or {}, hash=event.hash,
        prev_hash=event.prev_hash) for event, member in page]
    return EventList(data=data, next_after_seq=page[-1][0].seq if page else query.after_seq,
                     more=len(rows) > query.limit)


@endpoint("POST", POSITION + "/evidence", tag="audit", errors=(404,), reads=True,
          media={"application/zip": "Every letter exactly as sent, SHA256SUMS, index.csv, "
                                    "manifest.json with the audit chain segment, and a signed "
                                    "checkpoint."})
def export_evidence(position_id: int) -> Response:
    """Export a position's evidence as a ZIP.

    The letters byte for byte as stored and sent, with what proves they are unaltered. The
    export is recorded in the audit trail before the first byte leaves.
    """
    position = position_of(position_id)
    spool, size = evidence.spooled_export(db.session, position, actor())
    response = send_file(spool, mimetype="application/zip", as_attachment=True,  # type: ignore[arg-type]
                         download_name=f"evidence-position-{position.id}.zip", max_age=0)
    response.content_length = size
    response.headers["Cache-Control"] = "no-store"
    return response
