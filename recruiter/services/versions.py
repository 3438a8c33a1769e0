"""The review version of a position: one number that every writer of a letter's inputs bumps.

services/review.py keeps a position's letter review while this number (with the organization's
settings, its boilerplate versions and the date) stays the same. A cache keyed on sums or
checksums of the data can collide; a version cannot, as long as every writer bumps it in the
same transaction as its change. Writers call ``bump_review`` with the positions they touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import Application, Position


def bump_review(session: Session, position_ids: int | Iterable[int]) -> None:
    """Move the review version of these positions, in the caller's transaction."""
    ids = sorted({position_ids} if isinstance(position_ids, int) else set(position_ids))
    if not ids:
        return
    session.execute(update(Position).where(Position.id.in_(ids))
                    .values(review_version=Position.review_version + 1)
                    .execution_options(synchronize_session=False))
    for position in session.identity_map.values():
        if isinstance(position, Position) and position.id in ids:
            session.expire(position, ["review_version"])


def bump_review_of_candidate(session: Session, candidate_id: int) -> None:
    """Move the review version of every position the candidate applied to."""
    bump_review(session, session.scalars(
        select(Application.position_id).where(Application.candidate_id == candidate_id)))
