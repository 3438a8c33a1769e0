"""The review version of a position: one number that every writer of a letter's inputs bumps.

services/review.py keeps a position's letter review while this number (with the organization's
settings, its boilerplate versions and the date) stays the same. A cache keyed on sums or
checksums of the data can collide; a version cannot, as long as every writer bumps it in the
same transaction as its change. Writers call ``bump_review`` with the positions they touched.

``VersionedCache`` is the per-process store of what is computed under such a key: the review
(services/review.py) and the name order and counts of the notes (services/position_index.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from ..models import Application, Position

T = TypeVar("T")
CACHED_POSITIONS = 64  # per process and cache
BUMPED = "recruiter.versions.bumped"  # session.info: positions bumped in this transaction


class VersionedCache(Generic[T]):
    """Values kept per position id under a key, the most recently used last.

    ``get`` answers only for the key the value was made under, so a moved version is a miss.
    """

    def __init__(self, size: int = CACHED_POSITIONS) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[Hashable, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, position_id: int, key: Hashable) -> T | None:
        """The position's value if it was made under ``key``."""
        with self._lock:
            found = self._items.get(position_id)
            if found is None or found[0] != key:
                return None
            self._items.move_to_end(position_id)
            return found[1]

    def put(self, position_id: int, key: Hashable, value: T) -> None:
        """Keep ``value`` under ``key``, forgetting the least recently used beyond ``size``."""
        with self._lock:
            self._items[position_id] = (key, value)
            self._items.move_to_end(position_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def bumped_here(session: Session, position_id: int) -> bool:
    """Whether this transaction moved the position's version.

    A rollback would take that number back, and the next writer would use it for another
    change: nothing computed under it may be kept.
    """
    return position_id in session.info.get(BUMPED, ())


@event.listens_for(Session, "after_transaction_end")
def _forget_bumps(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(BUMPED, None)


def bump_review(session: Session, position_ids: int | Iterable[int]) -> None:
    """Move the review version of these positions, in the caller's transaction."""
    ids = sorted({position_ids} if isinstance(position_ids, int) else set(position_ids))
    if not ids:
        return
    session.execute(update(Position).where(Position.id.in_(ids))
                    .values(review_version=Position.review_version + 1)
                    .execution_options(synchronize_session=False))
    session.info.setdefault(BUMPED, set()).update(ids)
    for position in session.identity_map.values():
        if isinstance(position, Position) and position.id in ids:
            session.expire(position, ["review_version"])


def bump_review_of_candidate(session: Session, candidate_id: int) -> None:
    """Move the review version of every position the candidate applied to."""
    bump_review(session, session.scalars(
        select(Application.position_id).where(Application.candidate_id == candidate_id)))
