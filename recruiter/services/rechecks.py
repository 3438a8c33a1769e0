"""Letters checked again when it matters: at an outcome change, approval, freezing and sending.

``stop_letter`` is the one place that cancels a letter because of who its candidate is now;
``recheck`` (approval, freezing) and ``blocked_letters`` (the worker's last look before SMTP
DATA) decide which letters must not go, by the table in services/states.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..errors import RecruiterError
from ..models import Application, Batch, Candidate, Delivery, Letter, Member
from . import audit
from .states import LEFT, REASONS, gets_letter, letter_life
from .versions import bump_review


class LetterStopped(RecruiterError):
    """A letter was cancelled by a re-check; the caller commits, so the reason is kept."""


def life_of(session: Session, letter: Letter | None) -> str | None:
    """Where a stored letter stands now (``states.letter_life`` of its rows)."""
    if letter is None:
        return None
    deliveries = list(letter.deliveries)
    delivery = deliveries[0] if deliveries else None
    batch = session.get(Batch, letter.batch_id) if letter.batch_id else None
    return letter_life(letter, delivery, batch)


def stop_letter(session: Session, letter: Letter, reason: str, *, step: str,
                actor: Member | None = None) -> bool:
    """Cancel a letter that has not left, with its reason; False when it already left.

    Deliveries that wait (held, queued, retry_wait) or failed are cancelled with it; frozen
    bytes stay for the audit. ``step`` names where it was stopped (outcome, approval,
    freezing, sending) and goes into the audit event with the reason's code.
    """
    life = life_of(session, letter)
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
