"""A bounced email letter goes by post instead: one postal delivery, its PDF frozen now.

The letter keeps its frozen email (what was sent and bounced) and gains its letterhead PDF,
dated the day it was frozen like every postal letter, stored beside the email on the same
``FrozenLetter`` and recorded in the audit chain with a second ``letter.frozen`` event that
carries both hashes (``audit.verify`` reads a letter's latest). The application's channel
becomes ``post``, so the print bundle holds it, and the new delivery waits with the other
released postal letters for a member to confirm they were mailed. Flushes only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ...errors import RecruiterError
from ...models import Batch, Candidate, Delivery, Member, Resolution
from .. import audit, files
from ..letters import organization_of
from ..pdf import render_pdf
from ..versions import bump_review
from .batches import now_utc

ACTION = "by_post"  # the Resolution on the bounced email delivery


def postal_gap(candidate: Candidate) -> str | None:
    """What an envelope would miss for this candidate ("street address"), or None."""
    missing = [name for name, present in (
        ("street address", candidate.address_line1.strip()),
        ("city or postal code", (candidate.city or candidate.postal_code or "").strip()))
        if not present]
    return " and ".join(missing) or None


def post_delivery(session: Session, letter_id: int) -> Delivery | None:
    """The letter's postal delivery, if it has one."""
    return session.scalar(select(Delivery).where(Delivery.letter_id == letter_id,
                                                 Delivery.channel == "post"))


@dataclass(frozen=True)
class PostPlan:
    """A bounced email on the sending page: its letter's postal delivery, or what it misses."""

    post: Delivery | None
    gap: str | None


def post_plans(session: Session, bounced: Sequence[Delivery]) -> dict[int, PostPlan]:
    """Each bounced email delivery's PostPlan, by its id, in one query."""
    bounced = [d for d in bounced if d.state == "bounced" and d.channel == "email"]
    if not bounced:
        return {}
    posts = {d.letter_id: d for d in session.scalars(select(Delivery).where(
        Delivery.letter_id.in_([d.letter_id for d in bounced]), Delivery.channel == "post"))}
    return {d.id: PostPlan(posts.get(d.letter_id),
                           postal_gap(d.letter.application.candidate)) for d in bounced}


def send_by_post(session: Session, delivery: Delivery, member: Member, *,
                 page_size: str = "A4", now: datetime | None = None) -> tuple[Delivery, bool]:
    """Send the bounced email ``delivery``'s letter by post; (the post delivery, created).

    A second request finds the first's delivery and changes nothing.
    """
    if (existing := post_delivery(session, delivery.letter_id)) is not None:
        return existing, False
    letter = delivery.letter
    candidate = letter.application.candidate
    if delivery.channel != "email" or delivery.state != "bounced":
        raise RecruiterError(f"Only a bounced email can be sent by post instead; the letter "
                             f"to {candidate.full_name} is {delivery.state.replace('_', ' ')}.")
    if (gap := postal_gap(candidate)) is not None:
        raise RecruiterError(f"{candidate.full_name} has no postal address yet ({gap} "
                             "missing). Add it to the candidate, then send the letter by post.")
    frozen = letter.frozen
    batch = session.get(Batch, letter.batch_id) if letter.batch_id else None
    if frozen is None or batch is None:
        raise RecruiterError("This letter was never frozen, so it cannot go by post.")
    now = now or now_utc()
    pdf = render_pdf(files.pdf_letter(letter, organization_of(letter)), page_size=page_size)
    post_id = _insert(session, dict(
        organization_id=delivery.organization_id, letter_id=letter.id, channel="post",
        state="queued" if batch.state == "released" else "held", created_at=now))
    if post_id is None:  # another click won a moment ago: theirs is the delivery
        session.expire_all()
        return post_delivery(session, delivery.letter_id), False  # type: ignore[return-value]
    frozen.pdf, frozen.pdf_sha256 = pdf, hashlib.sha256(pdf).hexdigest()
    letter.application.channel = "post"
    session.add(Resolution(organization_id=delivery.organization_id, delivery=delivery,
                           member_id=member.id, action=ACTION, state_before=delivery.state,
                           at=now))
    session.flush()
    audit.letters_frozen(session, [(letter, frozen)], member)
    post = session.get(Delivery, post_id)
    audit.record(session, delivery.organization_id, "delivery.by_post", actor=member,
                 subject=post, payload={"bounced_delivery": delivery.id,
                                        "pdf_sha256": frozen.pdf_sha256})
    bump_review(session, letter.application.position_id)
    session.flush()
    return post, True  # type: ignore[return-value]


def _insert(session: Session, values: dict) -> int | None:
    """Insert the postal delivery unless the letter has one (a double click); its id or None.

    ON CONFLICT DO NOTHING on (letter_id, channel), as the batch row is inserted: no
    SAVEPOINT, which SQLite's driver would commit.
    """
    dialect = session.get_bind(mapper=Delivery.__mapper__).dialect.name
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return session.scalar(insert_(Delivery).values(**values)
                          .on_conflict_do_nothing(index_elements=["letter_id", "channel"])
                          .returning(Delivery.id))
