"""Letters checked again when it matters: at an outcome change, approval, freezing and sending.

``stop_letter`` is the one place that cancels a letter because of who its candidate is now;
``recheck`` (approval, freezing) and ``blocked_letters`` (the worker's last look before SMTP
DATA) decide which letters must not go, by the table in services/states.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Application, Batch, Candidate, Delivery, Letter, Member
from ..models.hiring import LETTER_OUTCOMES, full_name
from . import audit
from .states import LEFT, REASONS, gets_letter, letter_life
from .versions import bump_review
from .webhooks import letters as hooks


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
    if letter.batch_id is None:  # an unfrozen approval is void; a frozen one is evidence
        letter.approved_at = letter.approved_by_id = None
        letter.acknowledged = []
    session.flush()
    audit.record(session, letter.organization_id, "letter.cancelled", actor=actor,
                 subject=letter, payload={"reason": reason, "step": step, "was": life})
    hooks.letters_cancelled(session, letter.organization_id, [letter], reason=reason,
                            at=letter.cancelled_at)
    return True


def stopped_while_sending(session: Session, organization_id: int,
                          stopped: Sequence[tuple[int, str]], at: datetime) -> None:
    """Letters the worker's last look kept back (letter id, reason code): cancelled, recorded.

    Their deliveries were already set ``cancelled`` with the worker's other outcomes.
    """
    session.execute(update(Letter), [  # by primary key, in one executemany
        {"id": letter_id, "status": "cancelled", "cancelled_at": at,
         "cancel_reason": REASONS.get(reason, reason)} for letter_id, reason in stopped])
    audit.record_many(session, organization_id, "letter.cancelled", [
        (("letter", letter_id), {"reason": reason, "step": "sending", "was": "queued"})
        for letter_id, reason in stopped])
    hooks.letter_ids_cancelled(session, organization_id, stopped, at)
    bump_review(session, session.scalars(
        select(Application.position_id).join(Letter, Letter.application_id == Application.id)
        .where(Letter.id.in_([letter_id for letter_id, _ in stopped])).distinct()))


def restorable(letter: Letter) -> bool:
    """Whether a cancelled letter may become a draft again once its candidate is declined.

    Not when it was frozen (its bytes are evidence), nor when it was a second letter to the
    same person.
    """
    return letter.batch_id is None and letter.cancel_reason != REASONS["duplicate"]


def _person(email: str | None, first_name: str, last_name: str, address_line1: str,
            postal_code: str) -> tuple[str, ...]:
    """Who a letter goes to: the address, or for post the name and the postal address."""
    if email:
        return ("email", email.casefold())
    return ("post", full_name(first_name, last_name).casefold(), address_line1.casefold(),
            postal_code.replace(" ", "").casefold())


_PERSON = (Candidate.email, Candidate.first_name, Candidate.last_name, Candidate.address_line1,
           Candidate.postal_code)


def _reason(letter: Letter, first_by_person: dict[tuple[str, ...], int]) -> str | None:
    application = letter.application
    if not gets_letter(application.outcome):
        return application.outcome
    key = _person(*(getattr(application.candidate, c.key) for c in _PERSON))
    if first_by_person.setdefault(key, letter.id) != letter.id:
        return "duplicate"
    return None


def _first_letters(session: Session, position_id: int) -> dict[tuple[str, ...], int]:
    """Per person, the letter of the position's earliest application that still stands.

    A few columns per letter, not the letters: approval and freezing read the whole position.
    """
    first: dict[tuple[str, ...], int] = {}
    for letter_id, *person in session.execute(
            select(Letter.id, *_PERSON).join(Application, Application.id == Letter.application_id)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .where(Application.position_id == position_id, Letter.status != "cancelled",
                   Application.outcome.in_(LETTER_OUTCOMES))
            .order_by(Application.id)):
        first.setdefault(_person(*person), letter_id)
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

    A letter whose candidate is no longer declined is blocked; so is one whose recipient, in the
    same position, already got a letter (sent or in doubt), is being sent one with a lower id
    (by this worker or another: of two, the earlier always goes), or is among these letters
    under a lower id. Two queries, whatever the number of letters.
    """
    ids = sorted(set(letter_ids))
    if not ids:
        return {}
    claimed = session.execute(  # the address each goes to is its delivery's, as sent
        select(Letter.id, Application.outcome, Application.position_id, Delivery.recipient)
        .join(Application, Application.id == Letter.application_id)
        .join(Delivery, (Delivery.letter_id == Letter.id) & (Delivery.channel == "email"))
        .where(Letter.id.in_(ids)).order_by(Letter.id)).all()
    emails = {email.lower() for *_, email in claimed if email}
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    if emails:
        for position_id, recipient, letter_id, state in session.execute(
                select(Application.position_id, func.lower(Delivery.recipient), Letter.id,
                       Delivery.state)
                .join(Letter, Letter.id == Delivery.letter_id)
                .join(Application, Application.id == Letter.application_id)
                .where(Application.position_id.in_({row.position_id for row in claimed}),
                       func.lower(Delivery.recipient).in_(emails),
                       Delivery.state.in_(("sent", "sending", "in_doubt")))):
            out.setdefault((position_id, recipient), []).append((letter_id, state))
    blocked: dict[int, str] = {}
    for letter_id, outcome, position_id, email in claimed:
        if not gets_letter(outcome):
            blocked[letter_id] = outcome
        elif email and any(other != letter_id and (state != "sending" or other < letter_id)
                           for other, state in out.get((position_id, email.lower()), [])):
            blocked[letter_id] = "duplicate"
    return blocked
