"""Changing an outcome: the one door through which views, the CLI and imports decide who is hired.

The outcomes, the letter's life and the table of transitions are in services/states.py (the
README prints the table); letters are stopped and checked again by services/rechecks.py. This
module plans a change (who else it touches, what happens to each letter, whether a person must
confirm), applies it, keeps the openings and the position's status in step, and re-exports
the state model so that callers need one import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..errors import RecruiterError
from ..models import Application, Candidate, Letter, Member, Position
from . import audit
from .rechecks import (
    LetterStopped,
    blocked_letters,
    life_of,
    recheck,
    restorable,
    stop_letter,
)
from .states import (
    LEFT,
    LETTER_LIFE,
    LIFE_LABELS,
    OUTCOMES,
    REASONS,
    TRANSITIONS,
    allowed_outcomes,
    gets_letter,
    letter_life,
)
from .versions import bump_review
from .webhooks.letters import letters_ready

__all__ = ["LEFT", "LETTER_LIFE", "LIFE_LABELS", "OUTCOMES", "REASONS",
           "TRANSITIONS", "Change", "LetterStopped", "OutcomeNeedsConfirmation", "Plan",
           "allowed_outcomes", "blocked_letters", "change_outcome", "decline_pending",
           "gets_letter", "letter_life", "pending_applications", "plan_outcome", "recheck",
           "restorable", "set_openings", "stop_letter"]



@dataclass(frozen=True)
class Change:
    """One application whose outcome changes, and what happens to its letter."""

    application_id: int
    name: str
    before: str
    after: str
    letter: str


@dataclass(frozen=True)
class Plan:
    """What a change of outcome would do, before anything is written."""

    position_id: int
    changes: tuple[Change, ...]
    confirm: tuple[str, ...] = ()  # why a person must confirm first; empty: none needed
    openings: int = 1  # the position's openings afterwards
    hires: tuple[tuple[int, str], ...] = ()  # the current hires (application id, name)
    full: bool = False  # hiring one more needs more openings or a replaced hire


class OutcomeNeedsConfirmation(RecruiterError):
    """The change is allowed only once a person confirms it (``plan`` says why)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        reasons = plan.confirm or ("every opening of this position is taken",)
        super().__init__("Please confirm: " + "; ".join(reasons) + ".")


def _letter_of(session: Session, application: Application) -> Letter | None:
    return session.scalar(select(Letter).where(Letter.application_id == application.id))


def _when(moment: datetime | None) -> str:
    return f" on {moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _effect(session: Session, application: Application, after: str) -> str:
    letter = _letter_of(session, application)
    life = life_of(session, letter)
    if gets_letter(after):
        if life is None or (life == "cancelled" and letter is not None
                            and restorable(letter)):
            return "A decline letter is drafted for review."
        if life == "cancelled":
            return ("Their earlier letter was cancelled after its batch was approved; cancel "
                    "and approve the batch again to send them a new one.")
        return f"Their letter stays {LIFE_LABELS[life]}."
    if life is None or life == "cancelled":
        return "No letter."
    if life == "sent":
        sent = max((d.sent_at for d in letter.deliveries if d.sent_at), default=None)
        return f"Their decline letter was already sent{_when(sent)}; it cannot be taken back."
    if life == "sending":
        return "Their letter is being sent right now and may arrive."
    if life == "in_doubt":
        return "Their letter may have arrived (in doubt): resolve it on the sending page."
    if life == "bounced":
        return "Their letter bounced and never reached them; it is cancelled, not sent by post."
    return f"Their {LIFE_LABELS[life]} letter is cancelled before it leaves."


def _hires(session: Session, position: Position, *, besides: Application) -> list[Application]:
    return list(session.scalars(
        select(Application).where(Application.position_id == position.id,
                                  Application.outcome == "hired", Application.id != besides.id)
        .options(joinedload(Application.candidate)).order_by(Application.id)))


def plan_outcome(session: Session, application: Application, outcome: str, *,
                 raise_openings: bool = False, replace: int | None = None) -> Plan:
    """What setting ``outcome`` would change, for every application it touches.

    ``raise_openings`` hires one more than the openings allow by raising them;
    ``replace`` names the hire (an application id) who goes back to pending instead.
    """
    if outcome not in OUTCOMES:
        raise RecruiterError(f"The outcome must be one of {', '.join(OUTCOMES)}.")
    position = application.position
    name = application.candidate.full_name
    hires = _hires(session, position, besides=application)
    plan_hires = tuple((h.id, h.candidate.full_name) for h in hires)
    if outcome == application.outcome:
        return Plan(position.id, (), openings=position.openings, hires=plan_hires)
    changes = [Change(application.id, name, application.outcome, outcome,
                      _effect(session, application, outcome))]
    confirm: list[str] = []
    openings = position.openings
    full = outcome == "hired" and len(hires) >= position.openings
    if full and replace is not None:
        replaced = next((h for h in hires if h.id == replace), None)
        if replaced is None:
            raise RecruiterError("The hire to replace is not a hire of this position.")
        changes.append(Change(replaced.id, replaced.candidate.full_name, "hired", "pending",
                              _effect(session, replaced, "pending")))
        confirm.append(f"{replaced.candidate.full_name} is no longer the hire and goes back "
                       "to pending (no letter is drafted)")
        full = False
    elif full and raise_openings:
        openings = len(hires) + 1
        confirm.append(f"the openings go from {position.openings} to {openings}")
        full = False
    if application.outcome == "hired" and outcome == "declined":
        confirm.append(f"{name} was hired; declining them drafts a decline letter")
    if outcome == "hired" and "already sent" in changes[0].letter:
        confirm.append(f"{name} already received a decline letter")
    return Plan(position.id, tuple(changes), tuple(confirm), openings, plan_hires, full)


def change_outcome(session: Session, application: Application, outcome: str, *,
                   by: Member | None = None, confirmed: bool = False,
                   raise_openings: bool = False, replace: int | None = None,
                   announce: bool = True) -> Plan:
    """Set an outcome through the table, with its effects on letters; flushes, never commits.

    ``announce``: when this change fills the position, tell the webhook endpoints that its
    letters are ready. A caller that goes on changing the position (the API's "filled" call
    declines the others next) passes False and tells them once, when it is done.

    Raises OutcomeNeedsConfirmation (with the plan) when every opening is taken and neither
    ``raise_openings`` nor ``replace`` was chosen, or when the plan needs a person's
    confirmation and ``confirmed`` is false.
    """
    plan = plan_outcome(session, application, outcome, raise_openings=raise_openings,
                        replace=replace)
    if plan.full or (plan.confirm and not confirmed):
        raise OutcomeNeedsConfirmation(plan)
    position = application.position
    was_filled = position.status == "filled"
    if plan.openings != position.openings:
        audit.record(session, position.organization_id, "position.openings", actor=by,
                     subject=position, payload={"from": position.openings,
                                                "to": plan.openings})
        position.openings = plan.openings
    for change in plan.changes:
        target = session.get(Application, change.application_id)
        assert target is not None  # planned from rows of this session
        target.outcome = change.after
        session.flush()
        if not gets_letter(change.after) and (letter := _letter_of(session, target)):
            stop_letter(session, letter, change.after, step="outcome", actor=by)
        audit.record(session, target.organization_id, "application.outcome", actor=by,
                     subject=target, payload={"outcome": change.after, "from": change.before,
                                              "confirmed": bool(plan.confirm)})
    follow_hires(session, position)
    bump_review(session, position.id)
    session.flush()
    if announce and position.status == "filled" and not was_filled:
        letters_ready(session, position)
    return plan


def set_openings(session: Session, position: Position, openings: int,
                 by: Member | None = None) -> None:
    """Change how many people the position hires; never fewer than it has hired."""
    if not 1 <= openings <= 1000:
        raise RecruiterError("The number of openings must be between 1 and 1,000.")
    hires = session.scalar(select(func.count()).select_from(Application).where(
        Application.position_id == position.id, Application.outcome == "hired")) or 0
    if openings < hires:
        raise RecruiterError(f"{hires} candidates are hired, so the position needs at least "
                             f"{hires} openings; change a hire's outcome first.")
    if openings != position.openings:
        audit.record(session, position.organization_id, "position.openings", actor=by,
                     subject=position, payload={"from": position.openings, "to": openings})
        position.openings = openings
        follow_hires(session, position)
    session.flush()


def follow_hires(session: Session, position: Position) -> None:
    """Filled when every opening has its hire; open again when one is given back."""
    hires = session.scalar(select(func.count()).select_from(Application).where(
        Application.position_id == position.id, Application.outcome == "hired")) or 0
    if position.status == "open" and hires >= position.openings:
        position.status, position.filled_at = "filled", datetime.now(UTC)
    elif position.status == "filled" and hires < position.openings:
        position.status, position.filled_at = "open", None


def pending_applications(session: Session, position: Position) -> list[Application]:
    """The position's candidates with no decision yet, by name."""
    return list(session.scalars(
        select(Application).join(Candidate).where(Application.position_id == position.id,
                                                  Application.outcome == "pending")
        .options(joinedload(Application.candidate))
        .order_by(Candidate.last_name, Candidate.first_name, Application.id)))


def decline_pending(session: Session, position: Position, expected: int, *,
                    by: Member | None = None) -> int:
    """Decline every pending candidate at once, after the member confirmed how many."""
    pending = pending_applications(session, position)
    if expected != len(pending):
        raise RecruiterError(f"You confirmed {expected} candidates but {len(pending)} are "
                             "pending now; look at the list again.")
    for application in pending:
        change_outcome(session, application, "declined", by=by)
    return len(pending)
