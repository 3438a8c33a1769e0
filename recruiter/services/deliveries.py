"""Reading deliveries: a position's, a page at a time, and one with its people's decisions.

Read only; the sending services change them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import Application, Delivery, Letter, Position, Resolution


def deliveries_page(session: Session, position: Position, *, after: int, limit: int,
                    state: str | None = None) -> list[Delivery]:
    """Up to ``limit`` deliveries of the position with an id above ``after``, by id."""
    query = (select(Delivery).join(Letter, Letter.id == Delivery.letter_id)
             .join(Application, Application.id == Letter.application_id)
             .where(Application.position_id == position.id,
                    Application.organization_id == position.organization_id,
                    Delivery.id > after)
             .options(selectinload(Delivery.letter).selectinload(Letter.frozen),
                      selectinload(Delivery.letter).selectinload(Letter.application),
                      selectinload(Delivery.resolutions).selectinload(Resolution.member))
             .order_by(Delivery.id).limit(limit))
    if state is not None:
        query = query.where(Delivery.state == state)
    return list(session.scalars(query))


def message_id(delivery: Delivery) -> str | None:
    """The Message-ID the letter was frozen with (an emailed letter's), else None."""
    frozen = delivery.letter.frozen
    return frozen.message_id if frozen is not None and delivery.channel == "email" else None
