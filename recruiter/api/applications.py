"""Applications of a position: list and read them, bulk upsert by external id, change outcomes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Application
from ..services.ats_sync import CANDIDATE, Incoming, RowProblems, upsert_applications
from ..services.outcomes import OutcomeNeedsConfirmation, change_outcome
from ..services.positions import get_application
from .core import (
    ID,
    ApiError,
    Line,
    Model,
    Page,
    PageQuery,
    Text,
    Timestamp,
    actor,
    cursor_after,
    endpoint,
    organization_id,
)
from .positions import POSITION, position_of

APPLICATION = "/applications/" + ID.format("application_id")
Stage = Literal["applied", "screened", "interviewed"]
Outcome = Literal["pending", "hired", "declined", "withdrawn"]
Channel = Literal["auto", "email", "post"]


class ApplicationOut(Model):
    """A candidate's application to a position (the internal note is not shown)."""

    id: str
    position_id: str
    external_id: str | None
    first_name: str
    last_name: str
    email: str | None
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    language: str
    stage: Stage
    outcome: Outcome
    channel: Channel
    note_revision: int
    has_note: bool
    created_at: Timestamp


class ApplicationList(Page):
    """A page of applications, oldest first."""

    data: list[ApplicationOut]


class ApplicationQuery(PageQuery):
    """Filters: by outcome, by stage, and by the ATS's id."""

    outcome: Outcome | None = None
    stage: Stage | None = None
    external_id: str | None = Field(None, max_length=200)


class ApplicationIn(Model):
    """One candidate as the ATS has them; fields left out keep their stored value."""

    external_id: Line = Field(min_length=1, max_length=200,
                              description="The ATS's own id of the candidate; unique per "
                                          "position.")
    first_name: Line | None = Field(None, max_length=200)
    last_name: Line | None = Field(None, max_length=200)
    email: Line | None = Field(None, max_length=320)
    address_line1: Line | None = Field(None, max_length=300)
    address_line2: Line | None = Field(None, max_length=300)
    city: Line | None = Field(None, max_length=200)
    region: Line | None = Field(None, max_length=200)
    postal_code: Line | None = Field(None, max_length=40)
    country: Line | None = Field(None, max_length=200)
    language: Line | None = Field(None, max_length=16)
    stage: Stage | None = None
    channel: Channel | None = None
    internal_note: Text | None = Field(None, max_length=10000, description="The team's own "
                                       "words (an ATS's notes or comments); never in a letter.")


class BulkIn(Model):
    """Up to 5,000 applications, matched by external id."""

    applications: list[ApplicationIn] = Field(min_length=1, max_length=5000)


class BulkOut(Model):
    """What the upsert did, and each external id's application id."""

    created: int
    updated: int
    unchanged: int
    ids: dict[str, str]


class OutcomeIn(Model):
    """A new outcome; ``confirm`` once the 409 answer's reasons were read."""

    outcome: Outcome
    confirm: bool = False
    raise_openings: bool = Field(False, description="Hiring one more than the openings "
                                 "allow raises them instead of being refused.")


class ChangeOut(Model):
    """One application the change touched, and what happens to its letter."""

    application_id: str
    before: Outcome
    after: Outcome
    letter: str


class OutcomeOut(Model):
    """The application after the change, and every change made."""

    application: ApplicationOut
    changes: list[ChangeOut]


def application_out(application: Application) -> ApplicationOut:
    """An application as the API shows it."""
    candidate = application.candidate
    return ApplicationOut(
        id=str(application.id), position_id=str(application.position_id),
        external_id=application.external_id,
        **{name: getattr(candidate, name) for name in CANDIDATE},
        stage=application.stage, outcome=application.outcome, channel=application.channel,
        note_revision=application.note_revision, has_note=bool(application.note),
        created_at=application.created_at)


def application_of(application_id: int) -> Application:
    """The token's organization's application, or a 404."""
    return get_application(db.session, organization_id(), application_id)


@endpoint("GET", POSITION + "/applications", tag="applications", query=ApplicationQuery,
          response=ApplicationList)
def list_applications(position_id: int, query: ApplicationQuery) -> ApplicationList:
    """List a position's applications, oldest first."""
    position = position_of(position_id)
    statement = (select(Application).where(Application.position_id == position.id,
                                           Application.id > query.after())
                 .options(joinedload(Application.candidate)))
    if query.outcome:
        statement = statement.where(Application.outcome == query.outcome)
    if query.stage:
        statement = statement.where(Application.stage == query.stage)
    if query.external_id is not None:
        statement = statement.where(Application.external_id == query.external_id)
    rows = list(db.session.scalars(statement.order_by(Application.id).limit(query.limit + 1)))
    return ApplicationList(data=[application_out(a) for a in rows[:query.limit]],
                           next_cursor=cursor_after(rows, query.limit, lambda a: a.id))


@endpoint("GET", APPLICATION, tag="applications", response=ApplicationOut)
def read_application(application_id: int) -> ApplicationOut:
    """Read an application."""
    return application_out(application_of(application_id))


@endpoint("POST", POSITION + "/applications/bulk", tag="applications", body=BulkIn,
          response=BulkOut, errors=(404, 409, 422))
def upsert_applications_in_bulk(position_id: int, body: BulkIn) -> BulkOut:
    """Create or update up to 5,000 applications by external id, all or nothing.

    Values that differ are changed, others left alone: the same request twice changes nothing
    the second time. One bad item refuses the whole request, naming it
    (``applications[17].email``). An application added before the ATS knew it (no external
    id) is matched by its email and given the external id.
    """
    position = position_of(position_id)
    items = [Incoming(item.external_id, item.model_dump(
        exclude_none=True, exclude={"external_id"})) for item in body.applications]
    try:
        result = upsert_applications(db.session, position, items, by=actor())
    except RowProblems as exc:
        error = ApiError(422, "Unprocessable Content",
                         f"applications[{exc.problems[0][0]}].{exc.problems[0][1]}: "
                         f"{exc.problems[0][2]}")
        error.errors = [{"field": f"applications[{i}].{name}", "in": "body", "detail": text}
                        for i, name, text in exc.problems[:100]]
        raise error from None
    return BulkOut(created=result.created, updated=result.updated, unchanged=result.unchanged,
                   ids={k: str(v) for k, v in result.ids.items()})


@endpoint("POST", APPLICATION + "/outcome", tag="applications", body=OutcomeIn,
          response=OutcomeOut, errors=(404, 409, 422))
def change_application_outcome(application_id: int, body: OutcomeIn) -> OutcomeOut:
    """Change an outcome through the state model.

    A change that needs a person's confirmation (declining a hire, hiring someone who was
    already sent a decline letter, or raising the openings) is answered 409 with the reasons:
    send it again with ``confirm: true``. When every opening is taken, send
    ``raise_openings: true`` too.
    """
    application = application_of(application_id)
    try:
        plan = change_outcome(db.session, application, body.outcome, by=actor(),
                              confirmed=body.confirm, raise_openings=body.raise_openings)
    except OutcomeNeedsConfirmation as exc:
        if exc.plan.full:
            fix = ("Send it again with \"raise_openings\": true and \"confirm\": true to "
                   "hire one more.")
            errors = [{"field": "raise_openings", "in": "body",
                       "detail": "every opening of this position is taken"}]
        else:
            fix = "Send it again with \"confirm\": true."
            errors = [{"field": "confirm", "in": "body", "detail": reason}
                      for reason in exc.plan.confirm]
        effects = " ".join(f"{c.name}: {c.letter}" for c in exc.plan.changes)
        error = ApiError(409, "Conflict", f"{exc} {effects} {fix}".replace("  ", " "))
        error.errors = errors
        raise error from None
    return OutcomeOut(application=application_out(application), changes=[
        ChangeOut(application_id=str(c.application_id), before=c.before, after=c.after,
                  letter=c.letter) for c in plan.changes])
