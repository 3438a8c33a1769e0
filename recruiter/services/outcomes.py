"""Who gets which letter: the one place that changes an application's outcome and stops letters.

An application's **outcome** decides whether its candidate gets a decline letter; only
``declined`` does. A **letter's life** is read from three columns (``Letter.status``,
``Delivery.state`` and ``Batch.state``, see ``letter_life``); this module is the only one that
moves a letter to ``cancelled`` because of who the candidate is. Every view, CLI command and the
worker change outcomes through ``change_outcome`` and re-check letters through ``recheck``
(approval, freezing) or ``blocked_letters`` (the worker, just before sending).

The table of transitions (the README prints it):

==========  =========  ====================================================================
from        to         effect on the candidate's letter
==========  =========  ====================================================================
pending     declined   a decline letter is drafted for review
pending     hired      no letter; counts against the openings (more hires asks to raise them)
pending     withdrawn  no letter
declined    pending    reinstated: every letter that has not left is cancelled
declined    hired      every letter that has not left is cancelled; a sent one needs confirming
declined    withdrawn  every letter that has not left is cancelled
hired       pending    no letter; the position opens again
hired       declined   needs confirmation, then a decline letter is drafted
hired       withdrawn  no letter; the position opens again
withdrawn   pending    no letter
withdrawn   declined   a decline letter is drafted for review
withdrawn   hired      no letter; counts against the openings
==========  =========  ====================================================================

A letter "has left" when it is ``sending``, ``sent`` or ``in_doubt``: nothing can call it back,
so the effect says so instead. A click never changes another candidate's outcome: replacing
the hire is a choice the member confirms, with the list of every affected letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..errors import RecruiterError
from ..models import Application, Batch, Candidate, Delivery, Letter, Member, Position
from . import audit
from .versions import bump_review

OUTCOMES = ("pending", "hired", "declined", "withdrawn")
LETTER_OUTCOME = "declined"  # the only outcome that gets a decline letter
LETTER_LIFE = ("draft", "approved", "frozen", "held", "scheduled", "queued", "sending", "sent",
               "failed", "in_doubt", "cancelled")
LEFT = ("sending", "sent", "in_doubt")  # may have reached the candidate: cannot be stopped
LIFE_LABELS = {"draft": "draft", "approved": "approved", "frozen": "frozen", "held": "held",
               "scheduled": "scheduled", "queued": "queued", "sending": "sending",
               "sent": "sent", "failed": "failed", "in_doubt": "in doubt",
               "cancelled": "cancelled"}
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "declined"): "a decline letter is drafted for review",
    ("pending", "hired"): "no letter; counts against the openings",
    ("pending", "withdrawn"): "no letter",
    ("declined", "pending"): "reinstated: every letter that has not left is cancelled",
    ("declined", "hired"): "every letter that has not left is cancelled; a sent one needs "
                           "confirming",
    ("declined", "withdrawn"): "every letter that has not left is cancelled",
    ("hired", "pending"): "no letter; the position opens again",
    ("hired", "declined"): "needs confirmation, then a decline letter is drafted",
    ("hired", "withdrawn"): "no letter; the position opens again",
    ("withdrawn", "pending"): "no letter",
    ("withdrawn", "declined"): "a decline letter is drafted for review",
    ("withdrawn", "hired"): "no letter; counts against the openings",
}
# Why a letter was stopped: the code goes into the audit (no personal text), the sentence
# onto the letter.
REASONS = {
    "hired": "The candidate is a hire for this position.",
    "withdrawn": "The candidate withdrew.",
    "pending": "The candidate was reinstated (pending): no decision, no letter.",
    "duplicate": "The same person already has a letter for this position.",
}


class LetterStopped(RecruiterError):
    """A letter was cancelled by a re-check; the caller commits, so the reason is kept."""


def gets_letter(outcome: str) -> bool:
    """Whether an application with this outcome gets a decline letter."""
    return outcome == LETTER_OUTCOME


# --- the letter's life ------------------------------------------------------------------------

def letter_life(letter: Letter | None, delivery: Delivery | None = None,
                batch: Batch | None = None) -> str | None:
    """Where a letter stands, as one word of LETTER_LIFE; None when there is no letter."""
    if letter is None:
        return None
    if letter.status in ("draft", "approved", "cancelled"):
        return letter.status
    if delivery is None:
        return "sent" if letter.status == "sent" else "frozen"
    if delivery.state == "held":
        return "scheduled" if batch is not None and batch.state == "scheduled" else "held"
    if delivery.state in ("queued", "retry_wait"):
        return "queued"
    return delivery.state


def _life_of(session: Session, letter: Letter | None) -> str | None:
    if letter is None:
        return None
    deliveries = list(letter.deliveries)
    delivery = deliveries[0] if deliveries else None
    batch = session.get(Batch, letter.batch_id) if letter.batch_id else None
    return letter_life(letter, delivery, batch)


def allowed_outcomes(application: Application, life: str | None) -> list[str]:
    """The outcomes a member may still choose for this application, given its letter's life.

    Once a decline letter may have reached the candidate, only a hire (confirmed) remains.
    """
    if life in LEFT:
        return ["hired"] if application.outcome != "hired" else []
    return [o for o in ("hired", "declined", "withdrawn", "pending") if o != application.outcome]


# --- stopping letters ---------------------------------------------------------------------------

def stop_letter(session: Session, letter: Letter, reason: str, *, step: str,
                actor: Member | None = None) -> bool:
    """Cancel a letter that has not left, with its reason; False when it already left.

    Deliveries that wait (held, queued, retry_wait) or failed are cancelled with it; frozen
    bytes stay for the audit. ``step`` names where it was stopped (outcome, approval,
    freezing, sending) and goes into the audit event with the reason's code.
    """
    life = _life_of(session, letter)
    if life in LEFT or life == "cancelled":
        return False
    for delivery in letter.deliveries:
        if delivery.state in ("held", "queued", "retry_wait", "failed"):
            delivery.state = "cancelled"
            delivery.next_attempt_at = None
    letter.status = "cancelled"
    letter.cancel_reason = REASONS.get(reason, reason)
    letter.cancelled_at = datetime.now(UTC)
    if letter.frozen_at is None:  # an unfrozen approval is void; a frozen one is evidence
        letter.approved_at = letter.approved_by_id = None
        letter.acknowledged = []
    session.flush()
    audit.record(session, letter.organization_id, "letter.cancelled", actor=actor,
                 subject=letter, payload={"reason": reason, "step": step, "was": life})
    return True


def restorable(letter: Letter) -> bool:
    """Whether a cancelled letter may become a draft again once its candidate is declined.

    Not when it was frozen (its bytes are evidence), nor when it was a second letter to the
    same person.
    """
    return letter.frozen_at is None and letter.cancel_reason != REASONS["duplicate"]


def _duplicate_key(candidate: Candidate) -> tuple[str, ...]:
    if candidate.email:
        return ("email", candidate.email.casefold())
    return ("post", candidate.full_name.casefold(), candidate.address_line1.casefold(),
            candidate.postal_code.replace(" ", "").casefold())


def _reason(letter: Letter, first_by_person: dict[tuple[str, ...], int]) -> str | None:
    application = letter.application
    if not gets_letter(application.outcome):
        return application.outcome
    key = _duplicate_key(application.candidate)
    if first_by_person.setdefault(key, letter.id) != letter.id:
        return "duplicate"
    return None


def _first_letters(session: Session, position_id: int) -> dict[tuple[str, ...], int]:
    """Per person, the letter of the position's earliest application that still stands."""
    first: dict[tuple[str, ...], int] = {}
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position_id,
                                               Letter.status != "cancelled")
        .options(joinedload(Letter.application).joinedload(Application.candidate))
        .order_by(Application.id))
    for letter in letters:
        if gets_letter(letter.application.outcome):
            first.setdefault(_duplicate_key(letter.application.candidate), letter.id)
    return first


def recheck(session: Session, letters: Sequence[Letter], *, step: str,
            actor: Member | None = None) -> list[Letter]:
    """Check the letters against their candidates as they are now; returns those that stand.

    A letter to a hire, a withdrawn or reinstated candidate, or to a person who already has an
    earlier letter for the position is cancelled with its reason and recorded in the audit.
    """
    firsts: dict[int, dict[tuple[str, ...], int]] = {}
    kept = []
    for letter in letters:
        if letter.status == "cancelled":
            continue
        position_id = letter.application.position_id
        if position_id not in firsts:
            firsts[position_id] = _first_letters(session, position_id)
        reason = _reason(letter, firsts[position_id])
        if reason is None or not stop_letter(session, letter, reason, step=step, actor=actor):
            kept.append(letter)
    if len(kept) != len(letters):
        bump_review(session, {x.application.position_id for x in letters})
    return kept


def blocked_letters(session: Session, letter_ids: Iterable[int]) -> dict[int, str]:
    """The worker's last look before sending: letter id -> reason code, for those that must not go.

    A letter whose candidate is no longer declined, or whose recipient already got (or is
    being sent) another letter of the same position, is blocked.
    """
    ids = list(letter_ids)
    if not ids:
        return {}
    blocked: dict[int, str] = {}
    rows = session.execute(
        select(Letter.id, Application.outcome, Application.position_id, Candidate.email)
        .join(Application, Application.id == Letter.application_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .where(Letter.id.in_(ids))).all()
    for letter_id, outcome, position_id, email in rows:
        if not gets_letter(outcome):
            blocked[letter_id] = outcome
        elif email and session.scalar(
                select(func.count()).select_from(Delivery)
                .join(Letter, Letter.id == Delivery.letter_id)
                .join(Application, Application.id == Letter.application_id)
                .where(Application.position_id == position_id, Letter.id != letter_id,
                       func.lower(Delivery.recipient) == email.lower(),
                       Delivery.state.in_(("sent", "sending", "in_doubt")))):
            blocked[letter_id] = "duplicate"
    return blocked


# --- changing an outcome ----------------------------------------------------------------------

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
    extra: dict[str, int] = field(default_factory=dict)


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
    life = _life_of(session, letter)
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
                   raise_openings: bool = False, replace: int | None = None) -> Plan:
    """Set an outcome through the table, with its effects on letters; flushes, never commits.

    Raises OutcomeNeedsConfirmation (with the plan) when every opening is taken and neither
    ``raise_openings`` nor ``replace`` was chosen, or when the plan needs a person's
    confirmation and ``confirmed`` is false.
    """
    plan = plan_outcome(session, application, outcome, raise_openings=raise_openings,
                        replace=replace)
    if plan.full or (plan.confirm and not confirmed):
        raise OutcomeNeedsConfirmation(plan)
    position = application.position
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
