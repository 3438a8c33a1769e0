"""Required rejection reasons: no decline letter is approved while its candidate has no reason.

An organization that keeps EEO/OFCCP records turns ``Organization.require_reasons`` on, as
Workable requires a reason when those settings are on. Every approval (one letter, the whole
batch; browser, command line and API) goes through ``services/approval.py``, which asks
``refuse_missing`` first. Off, nothing here runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Application, Candidate, Letter, Member, Organization, Position
from ..plural import plural
from . import audit
from .position_index import BY_NAME
from .reasons import REASON_OUTCOMES

SETTING_LABEL = ("Require a rejection reason for every declined candidate before letters are "
                 "approved (for EEO/OFCCP record-keeping)")
ERASED = "a candidate whose name was erased"
NAMED = 3  # candidates named in the message; the rest are counted ("and 3 more")


class ReasonsMissing(RecruiterError):
    """Approval refused: declined candidates whose letter would be approved have no reason.

    ``position_id`` is where the reasons are chosen, many at once; ``names`` are every such
    candidate's, in name order. The message names the first few and counts the rest.
    """

    def __init__(self, position_id: int, names: list[str]) -> None:
        self.position_id, self.names = position_id, names
        super().__init__(missing_message(names))


def named(names: list[str]) -> str:
    """"Ana Lima", "Ana Lima and Tom Baker", "Ana Lima, Tom Baker, Priya Raman and 3 more"."""
    shown, rest = names[:NAMED], len(names) - NAMED
    if rest > 0:
        return f"{', '.join(shown)} and {rest} more"
    return f"{', '.join(shown[:-1])} and {shown[-1]}" if len(shown) > 1 else "".join(shown)


def missing_message(names: list[str]) -> str:
    """"2 declined candidates have no rejection reason yet: Ana Lima and Tom Baker. …"."""
    count, who = len(names), named(names)
    return (f"{plural(count, 'declined candidate', 'declined candidates')} "
            f"{plural(count, 'has', 'have', with_count=False)} no rejection reason yet: {who}. "
            "Your organization records a reason for every declined candidate before letters "
            f"are approved; choose {'it' if count == 1 else 'them'} on the position's "
            "rejection reasons page, where you can set one reason for many at once.")


def required(session: Session, org_id: int) -> bool:
    """Whether the organization requires a reason before approval."""
    org = session.get(Organization, org_id)
    return bool(org and org.require_reasons)


def missing_names(session: Session, position: Position,
                  letter_ids: Iterable[int] | None = None) -> list[str]:
    """The declined candidates without a reason whose letter would be approved, by name.

    ``letter_ids`` are the letters about to be approved; None means every draft of the
    position (what "approve all" approves now). Empty when the organization does not
    require reasons.
    """
    if not required(session, position.organization_id):
        return []
    query = (select(Candidate.first_name, Candidate.last_name)
             .select_from(Letter)
             .join(Application, Application.id == Letter.application_id)
             .join(Candidate, Candidate.id == Application.candidate_id)
             .where(Application.position_id == position.id,
                    Letter.organization_id == position.organization_id,
                    Application.outcome.in_(REASON_OUTCOMES),
                    Application.rejection_reason_id.is_(None))
             .order_by(*BY_NAME))
    if letter_ids is None:
        query = query.where(Letter.status == "draft")
    else:
        query = query.where(Letter.id.in_(list(letter_ids)))
    return [" ".join(part for part in (first, last) if part) or ERASED
            for first, last in session.execute(query)]


def refuse_missing(session: Session, position: Position,
                   letter_ids: Iterable[int] | None = None) -> None:
    """Raise ReasonsMissing when ``missing_names`` names anyone; else nothing."""
    names = missing_names(session, position, letter_ids)
    if names:
        raise ReasonsMissing(position.id, names)


def set_required(session: Session, org: Organization, on: bool, *,
                 by: Member | None) -> bool:
    """Turn the requirement on or off, audited; True when it changed. Flushes only."""
    if bool(org.require_reasons) == on:
        return False
    org.require_reasons = on
    session.flush()
    audit.record(session, org.id, "organization.require_reasons", actor=by, subject=org,
                 payload={"require_reasons": on})
    return True
