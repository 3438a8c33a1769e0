"""Webhook in: the ATS says a position is filled, and by whom (``POST …/filled``)."""

from __future__ import annotations

from flask import url_for
from pydantic import Field

from ..extensions import db
from ..services import notify
from ..services.filled import UnknownHires, mark_filled
from .core import ApiError, Line, Model, actor, bp, endpoint
from .positions import POSITION, PositionOut, position_of, position_out


class FilledIn(Model):
    """Who was hired, by the ATS's ids, and whether everyone else still pending is declined."""

    hires: list[Line] = Field(min_length=1, max_length=1000,
                              description="External ids of the people hired.")
    decline_others: bool = True


class FilledOut(Model):
    """What the call changed (nothing, the second time) and the letters now to review."""

    position: PositionOut
    hired: list[str] = Field(description="Applications hired by this call.")
    declined: int = Field(description="Candidates declined by this call.")
    letters_drafted: int = Field(description="Letters this call drafted.")
    letters_to_review: int = Field(description="Draft letters of the position, waiting for "
                                   "review.")
    changed: bool


@bp.record_once
def _register_task(state) -> None:  # noqa: ANN001 - flask's BlueprintSetupState
    notify.register(state.app)


@endpoint("POST", POSITION + "/filled", tag="positions", body=FilledIn, response=FilledOut,
          errors=(404, 409, 422))
def position_filled(position_id: int, body: FilledIn) -> FilledOut:
    """Mark the hires, decline the other pending candidates and draft every letter.

    The hires are marked through the state model. When the ATS names more hires than the
    position has openings, the openings are raised to match (it is where the hiring happened).
    Hires recorded here that the call does not name stay hired. Once the change is saved, the
    organization's admins and managers get an email ("Letters for … are drafted"), and
    ``position.letters_ready`` goes to webhook endpoints. The same call twice changes nothing,
    and tells no one, the second time.
    """
    position = position_of(position_id)
    try:
        filled = mark_filled(db.session, position, [h.strip() for h in body.hires],
                             decline_others=body.decline_others, by=actor())
    except UnknownHires as exc:
        error = ApiError(422, "Unprocessable Content", f"hires[{exc.unknown[0][0]}]: no "
                         "candidate of this position has this external id.")
        error.errors = [{"field": f"hires[{i}]", "in": "body",
                         "detail": f"no candidate of this position has the external id {e!r}"}
                        for i, e in exc.unknown[:100]]
        raise error from None
    if filled.changed:
        notify.after_commit(db.session, position.id, filled.letters_to_review,
                            url_for("letters.index", position_id=position.id, _external=True))
    return FilledOut(position=position_out(position), hired=[str(i) for i in filled.hired],
                     declined=filled.declined, letters_drafted=filled.letters_drafted,
                     letters_to_review=filled.letters_to_review, changed=filled.changed)
