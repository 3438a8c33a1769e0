"""Positions: open one, read and list them, change the differentiator and the openings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from sqlalchemy import func, select

from ..errors import RecruiterError
from ..extensions import db
from ..models import Application, Organization, Position
from ..services.addresses import check_position_reply_to
from ..services.organization import reply_address
from ..services.outcomes import set_openings
from ..services.positions import create_position, get_position, set_differentiator, set_reply_to
from ..services.translations import check_language_tag, set_differentiators_in
from .core import (
    ID,
    Line,
    Model,
    Page,
    PageQuery,
    Reply,
    Timestamp,
    actor,
    cursor_after,
    endpoint,
    organization_id,
)

POSITION = "/positions/" + ID.format("position_id")


def _tag(value: str) -> str:
    try:
        return check_language_tag(value)
    except RecruiterError as exc:
        raise ValueError(str(exc)) from None


LanguageTag = Annotated[str, Field(min_length=2, max_length=16,
                                   pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"),
                        AfterValidator(_tag)]
Differentiators = Annotated[
    dict[LanguageTag, Annotated[Line, Field(max_length=300)]],
    Field(max_length=50, description="The differentiator in other languages than the "
          "organization's, by language tag (stored by its primary subtag: \"fr-CA\" is "
          "\"fr\"): {\"fr\": \"...\"}. An empty text removes that language; languages left "
          "out stay as they are.")]


def _reply_to(value: str) -> str:
    try:
        return check_position_reply_to(value)
    except RecruiterError as exc:
        raise ValueError(str(exc)) from None


ReplyTo = Annotated[Line, Field(max_length=320, description="Where replies to the position's "
                                "letters go (their Reply-To header); \"\" for the "
                                "organization's reply-to address."), AfterValidator(_reply_to)]


class PositionIn(Model):
    """A position to open."""

    title: Line = Field(min_length=1, max_length=200)
    location: Line = Field("", max_length=200)
    openings: int = Field(1, ge=1, le=1000)
    differentiator: Line = Field("", max_length=300, description="What set the hire apart, "
                                 "in one sentence; it goes into every letter.")
    differentiator_in: Differentiators | None = None
    reply_to: ReplyTo = ""


class PositionChange(Model):
    """What may change on a position; fields left out stay as they are."""

    differentiator: Line | None = Field(None, max_length=300)
    differentiator_in: Differentiators | None = None
    openings: int | None = Field(None, ge=1, le=1000)
    reply_to: ReplyTo | None = None


class PositionOut(Model):
    """A position and how far its letters are."""

    id: str
    title: str
    location: str
    status: Literal["open", "filled", "closed"]
    openings: int
    differentiator: str
    differentiator_in: dict[str, str] = Field(description="The differentiator in other "
                                              "languages than the organization's, by language.")
    reply_to: str = Field(description="The position's own Reply-To; \"\": the "
                          "organization's.")
    replies_go_to: str = Field(description="Where replies to its letters go now: its own "
                               "Reply-To, else the organization's, else the sender address.")
    applications: int
    hired: int
    created_at: Timestamp
    filled_at: Timestamp | None


class PositionList(Page):
    """A page of positions, newest first."""

    data: list[PositionOut]


class PositionQuery(PageQuery):
    """Filters: by status, and by words in the title."""

    status: Literal["open", "filled", "closed"] | None = None
    q: str | None = Field(None, max_length=200, description="Words the title contains.")


def _counts(position_ids: list[int]) -> dict[int, tuple[int, int]]:
    rows = db.session.execute(
        select(Application.position_id, func.count(),
               func.count().filter(Application.outcome == "hired"))
        .where(Application.position_id.in_(position_ids)).group_by(Application.position_id))
    return {row[0]: (row[1], row[2]) for row in rows}


def position_out(position: Position, counts: tuple[int, int] | None = None) -> PositionOut:
    """A position as the API shows it."""
    applications, hired = counts if counts is not None else _counts([position.id]).get(
        position.id, (0, 0))
    return PositionOut(
        id=str(position.id), title=position.title, location=position.location,
        status=position.status, openings=position.openings,
        differentiator=position.differentiator,
        differentiator_in=dict(sorted((position.differentiator_in or {}).items())),
        reply_to=position.reply_to or "",
        replies_go_to=reply_address(db.session.get(Organization, position.organization_id),
                                    position),
        applications=applications, hired=hired,
        created_at=position.created_at, filled_at=position.filled_at)


def position_of(position_id: int) -> Position:
    """The token's organization's position, or a 404."""
    return get_position(db.session, organization_id(), position_id)


@endpoint("GET", "/positions", tag="positions", query=PositionQuery, response=PositionList,
          errors=())
def list_positions(query: PositionQuery) -> PositionList:
    """List positions, newest first."""
    statement = select(Position).where(Position.organization_id == organization_id())
    if query.after():
        statement = statement.where(Position.id < query.after())
    if query.status:
        statement = statement.where(Position.status == query.status)
    for word in (query.q or "").split():
        statement = statement.where(Position.title.ilike(
            "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
            escape="\\"))
    rows = list(db.session.scalars(statement.order_by(Position.id.desc())
                                   .limit(query.limit + 1)))
    page = rows[:query.limit]
    counts = _counts([p.id for p in page])
    return PositionList(data=[position_out(p, counts.get(p.id, (0, 0))) for p in page],
                        next_cursor=cursor_after(rows, query.limit, lambda p: p.id))


@endpoint("POST", "/positions", tag="positions", body=PositionIn, response=PositionOut,
          status=201, errors=())
def open_position(body: PositionIn) -> Reply:
    """Open a position."""
    org = db.session.get(Organization, organization_id())
    position = create_position(db.session, org, title=body.title, location=body.location,
                               openings=body.openings, reply_to=body.reply_to)
    if body.differentiator:
        set_differentiator(db.session, position, body.differentiator, by=actor())
    if body.differentiator_in:
        set_differentiators_in(db.session, position, body.differentiator_in, by=actor())
    return Reply(position_out(position, (0, 0)), 201,
                 {"Location": f"/api/v1/positions/{position.id}"})


@endpoint("GET", POSITION, tag="positions", response=PositionOut)
def read_position(position_id: int) -> PositionOut:
    """Read a position."""
    return position_out(position_of(position_id))


@endpoint("PATCH", POSITION, tag="positions", body=PositionChange, response=PositionOut,
          errors=(404,))
def change_position(position_id: int, body: PositionChange) -> PositionOut:
    """Change the differentiator (in any language), the number of openings or the Reply-To.

    Letters rendered from the old differentiator drop back to draft; openings never go below
    the number of hires.
    """
    position = position_of(position_id)
    if body.differentiator is not None:
        set_differentiator(db.session, position, body.differentiator, by=actor())
    if body.differentiator_in is not None:
        set_differentiators_in(db.session, position, body.differentiator_in, by=actor())
    if body.openings is not None:
        set_openings(db.session, position, body.openings, by=actor())
    if body.reply_to is not None:
        set_reply_to(db.session, position, body.reply_to, by=actor())
    return position_out(position)
