"""A position filled in the applicant tracking system: its "job filled" call, applied here.

The ATS names the hires by its own ids. Each is hired through the state model
(``outcomes.change_outcome``); every other pending candidate is declined (``decline_pending``)
and every letter is drafted (``letters.refresh_letters``). Repeating the call changes nothing.

Openings: the ATS is where the hiring happened, so its word on who was hired is taken as fact.
When it names more hires than the position has openings (counting hires already recorded here),
the openings are raised to match, with the usual ``position.openings`` audit event, rather than
refusing a hire that has already happened. Hires recorded here that the ATS does not name are
left as they are: a person made that choice, and un-hiring is never done silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Application, Letter, Member, Position
from .letters import refresh_letters
from .outcomes import change_outcome, decline_pending, pending_applications, set_openings
from .webhooks.letters import letters_ready

_CHUNK = 500


class UnknownHires(RecruiterError):
    """External ids the position does not have: (index, external id) each."""

    def __init__(self, unknown: list[tuple[int, str]]) -> None:
        self.unknown = unknown
        index, external_id = unknown[0]
        more = f" ({len(unknown) - 1} more)" if len(unknown) > 1 else ""
        super().__init__(f"Item {index}: the position has no candidate with the external id "
                         f"{external_id!r}{more}.")


@dataclass(frozen=True)
class Filled:
    """What the call did: who it hired and declined, and the letters waiting for review."""

    hired: tuple[int, ...]  # application ids newly hired
    declined: int
    openings_from: int
    openings: int
    letters_to_review: int
    letters_drafted: int  # letters this call created or brought back to draft

    @property
    def changed(self) -> bool:
        """Whether the call changed anything at all."""
        return bool(self.hired or self.declined or self.letters_drafted
                    or self.openings != self.openings_from)


def hires_by_external_id(session: Session, position: Position,
                         external_ids: Sequence[str]) -> list[Application]:
    """The applications the external ids name, in order and once each; UnknownHires if not."""
    wanted = sorted(set(external_ids))
    found: dict[str, Application] = {}
    for start in range(0, len(wanted), _CHUNK):
        for application in session.scalars(select(Application).where(
                Application.position_id == position.id,
                Application.external_id.in_(wanted[start:start + _CHUNK]))):
            found[application.external_id or ""] = application
    unknown = [(i, e) for i, e in enumerate(external_ids) if e not in found]
    if unknown:
        raise UnknownHires(unknown)
    return list({e: found[e] for e in external_ids}.values())


def _drafts(session: Session, position: Position) -> dict[int, str]:
    return dict(session.execute(
        select(Letter.id, Letter.status).join(Application, Application.id == Letter.application_id)
        .where(Application.position_id == position.id)).all())


def mark_filled(session: Session, position: Position, external_ids: Sequence[str], *,
                decline_others: bool = True, by: Member | None = None) -> Filled:
    """Hire the named candidates, decline the others still pending, and draft every letter."""
    hires = hires_by_external_id(session, position, external_ids)
    hired_now = {a.id for a in hires if a.outcome == "hired"}
    already = set(session.scalars(select(Application.id).where(
        Application.position_id == position.id, Application.outcome == "hired")))
    openings_from = position.openings
    needed = len(already | {a.id for a in hires})
    if needed > position.openings:
        set_openings(session, position, needed, by=by)
    newly = []
    for application in hires:
        if application.id not in hired_now:
            change_outcome(session, application, "hired", by=by, confirmed=True,
                           announce=False)  # once, below, with the letters drafted
            newly.append(application.id)
    declined = 0
    if decline_others:
        declined = decline_pending(session, position,
                                   len(pending_applications(session, position)), by=by)
    before = _drafts(session, position)
    refresh_letters(session, position)
    after = _drafts(session, position)
    drafted = sum(1 for i, s in after.items() if s == "draft" and before.get(i) != "draft")
    to_review = session.scalar(
        select(func.count()).select_from(Letter)
        .join(Application, Application.id == Letter.application_id)
        .where(Application.position_id == position.id, Letter.status == "draft")) or 0
    letters_ready(session, position)  # once, now that the letters are drafted
    return Filled(tuple(newly), declined, openings_from, position.openings, to_review, drafted)

