"""Read-only queries behind the audit pages: batches, timelines, and one letter's evidence."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from flask import url_for
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from ..models import (
    Application,
    AuditEvent,
    Batch,
    Delivery,
    ErasureRequest,
    FrozenLetter,
    Letter,
    Member,
    Organization,
    Position,
)
from ..services.audit import sha256_hex
from ..services.retention import keep_until

HEADERS = ("From", "To", "Subject", "Date", "Message-ID")
HEX64 = re.compile(r"[0-9a-f]{64}")


def when(moment: datetime | None) -> str:
    """A stored UTC time as auditors read it, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and HEX64.fullmatch(value):
        return value[:12] + "…"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def payload_text(payload: dict[str, Any], short: bool = True) -> str:
    """An event's payload as sorted JSON; ``short`` cuts SHA-256 values to 12 digits."""
    return json.dumps(_shorten(payload) if short else payload, sort_keys=True,
                      separators=(", ", ": "), ensure_ascii=False)


@dataclass(frozen=True)
class Page:
    """One page of a longer list."""

    items: list[Any]
    page: int
    pages: int
    total: int


def paginate(session: Session, query: Select, page: int, per_page: int) -> Page:
    """Run ``query`` for one page; a page past the end shows the last one."""
    total = session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, pages, total)


def member_names(session: Session, org_id: int) -> dict[int, str]:
    """Every member of the organization by id, as a name (or email when unnamed)."""
    rows = session.execute(select(Member.id, Member.name, Member.email)
                           .where(Member.organization_id == org_id))
    return {id_: name or email for id_, name, email in rows}


# --- overview ---------------------------------------------------------------------------------


@dataclass
class BatchRow:
    """A position whose letters were frozen into a batch, with how far they got."""

    position: Position
    batch: Batch
    states: dict[str, int]
    keep_until: datetime | None

    @property
    def total(self) -> int:
        """Deliveries in the batch."""
        return sum(self.states.values())


def batches(session: Session, org: Organization) -> list[BatchRow]:
    """Every position with a batch, newest first, with its delivery states."""
    rows = session.execute(select(Batch, Position).join(Position, Batch.position_id ==
                                                        Position.id)
                           .where(Batch.organization_id == org.id)
                           .order_by(Batch.approved_at.desc())).all()
    states: dict[int, dict[str, int]] = {}
    for batch_id, state, count in session.execute(
            select(Letter.batch_id, Delivery.state, func.count())
            .join(Delivery, Delivery.letter_id == Letter.id)
            .where(Letter.organization_id == org.id, Letter.batch_id.is_not(None))
            .group_by(Letter.batch_id, Delivery.state)):
        states.setdefault(batch_id, {})[state] = count
    return [BatchRow(position, batch, states.get(batch.id, {}), keep_until(position, org))
            for batch, position in rows]


def org_events(org_id: int) -> Select:
    """The organization's chain, newest first."""
    return (select(AuditEvent).where(AuditEvent.organization_id == org_id)
            .order_by(AuditEvent.seq.desc()))


# --- subjects ---------------------------------------------------------------------------------


def _name(application: Application) -> str:
    cand = application.candidate
    return "a purged candidate" if cand.purged_at else cand.full_name or "a candidate"


# Lists show a letter's hashes and names, never its stored bytes or rendered text.
_NO_BYTES = (defer(Letter.html), defer(Letter.text))


def subject_links(session: Session, org_id: int, events: list[AuditEvent]
                  ) -> dict[tuple[str, int], tuple[str, str | None]]:
    """A readable label and a link for each event's subject, all scoped to the organization."""
    ids: dict[str, set[int]] = {}
    for event in events:
        if event.subject_id is not None:
            ids.setdefault(event.subject_type, set()).add(event.subject_id)
    out: dict[tuple[str, int], tuple[str, str | None]] = {}
    scoped = Letter.organization_id == org_id
    load = (*_NO_BYTES, selectinload(Letter.application).selectinload(Application.candidate))
    for letter in session.scalars(select(Letter).where(
            scoped, Letter.id.in_(ids.get("letter", ()))).options(*load)):
        out["letter", letter.id] = (f"Letter to {_name(letter.application)}",
                                    url_for("audit.letter", letter_id=letter.id))
    for delivery_id, letter in session.execute(
            select(Delivery.id, Letter).join(Letter).where(
                scoped, Delivery.id.in_(ids.get("delivery", ()))).options(*load)):
        out["delivery", delivery_id] = (f"Delivery to {_name(letter.application)}",
                                        url_for("audit.letter", letter_id=letter.id))
    letter_of = dict(session.execute(select(Letter.application_id, Letter.id).where(
        scoped, Letter.application_id.in_(ids.get("application", ())))).all())
    for application in session.scalars(select(Application).where(
            Application.organization_id == org_id,
            Application.id.in_(ids.get("application", ())))
            .options(selectinload(Application.candidate))):
        letter_id = letter_of.get(application.id)
        out["application", application.id] = (
            f"Application of {_name(application)}",
            url_for("audit.letter", letter_id=letter_id) if letter_id else None)
    for position_id, title in session.execute(select(Position.id, Position.title).where(
            Position.organization_id == org_id, Position.id.in_(ids.get("position", ())))):
        out["position", position_id] = (title, url_for("audit.position",
                                                       position_id=position_id))
    names = member_names(session, org_id)
    for member_id in ids.get("member", ()):
        out["member", member_id] = (f"Member {names.get(member_id, member_id)}", None)
    for request_id in ids.get("erasurerequest", ()):
        out["erasurerequest", request_id] = (f"Erasure request {request_id}",
                                             url_for("audit.settings"))
    if org_id in ids.get("organization", ()):
        out["organization", org_id] = ("Organization settings", url_for("audit.settings"))
    return out


# --- one position -----------------------------------------------------------------------------


def position_letters(session: Session, position: Position, page: int, per_page: int) -> Page:
    """One page of the position's frozen letters, with candidate, deliveries and approver.

    The page's ids come from the frozen copies' index on their batch; only those letters are
    then loaded, without their rendered text, and their frozen copies without the bytes (the
    list shows hashes).
    """
    ids = paginate(session, select(FrozenLetter.letter_id).join(Batch).where(
        Batch.position_id == position.id).order_by(FrozenLetter.letter_id), page, per_page)
    rows = {x.id: x for x in session.scalars(
        select(Letter).where(Letter.id.in_(ids.items))
        .options(*_NO_BYTES,
                 selectinload(Letter.application).selectinload(Application.candidate),
                 selectinload(Letter.frozen), selectinload(Letter.deliveries),
                 selectinload(Letter.approved_by)))}
    return Page([rows[i] for i in ids.items if i in rows], ids.page, ids.pages, ids.total)


def position_events(position: Position) -> Select:
    """Every event about the position, its applications, letters and deliveries, in order."""
    applications = select(Application.id).where(Application.position_id == position.id)
    letters = select(Letter.id).where(Letter.application_id.in_(applications))
    deliveries = select(Delivery.id).where(Delivery.letter_id.in_(letters))
    about = or_(and_(AuditEvent.subject_type == "position", AuditEvent.subject_id == position.id),
                and_(AuditEvent.subject_type == "application",
                     AuditEvent.subject_id.in_(applications)),
                and_(AuditEvent.subject_type == "letter", AuditEvent.subject_id.in_(letters)),
                and_(AuditEvent.subject_type == "delivery",
                     AuditEvent.subject_id.in_(deliveries)))
    return (select(AuditEvent).where(AuditEvent.organization_id == position.organization_id,
                                     about).order_by(AuditEvent.seq))


# --- one letter -------------------------------------------------------------------------------


def parse_eml(data: bytes) -> EmailMessage:
    """The stored message, parsed the way a mail client reads it."""
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def html_part(data: bytes) -> str | None:
    """The text/html part of a stored message, decoded; None when it has none."""
    part = parse_eml(data).get_body(preferencelist=("html",))
    return part.get_content() if part is not None else None


@dataclass
class Evidence:
    """What one letter was, who approved it, and what happened each time it was sent."""

    letter: Letter
    events: list[AuditEvent]
    headers: list[tuple[str, str]] = field(default_factory=list)
    frozen: AuditEvent | None = None
    attempts: list[AuditEvent] = field(default_factory=list)
    override_by: str | None = None
    batch_by: str | None = None
    eml_ok: bool | None = None
    pdf_ok: bool | None = None
    acknowledged: list[Acknowledged] = field(default_factory=list)


@dataclass(frozen=True)
class Acknowledged:
    """One finding a member acknowledged when approving, with its words in the stored text."""

    check: str
    severity: str
    start: int | None
    end: int | None
    before: str = ""  # up to CONTEXT characters of the letter's text before the span
    span: str = ""
    after: str = ""


CONTEXT = 60


def acknowledged(letter: Letter, events: list[AuditEvent]) -> list[Acknowledged]:
    """What the last approval acknowledged, as its audit event recorded it (else the row).

    Each finding is an id, a severity and a span into the letter's stored text; the words
    come from that text, so nothing personal is in the event, and nothing once it is purged.
    """
    approvals = [e for e in events if e.action == "letter.approved"
                 and isinstance(e.payload.get("acknowledged"), list)]
    items = approvals[-1].payload["acknowledged"] if approvals else letter.acknowledged or []
    text = letter.text or ""
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        start, end = item.get("start"), item.get("end")
        ack = Acknowledged(str(item.get("check", "")), str(item.get("severity", "warning")),
                           start if isinstance(start, int) else None,
                           end if isinstance(end, int) else None)
        if ack.start is not None and ack.end is not None and 0 <= ack.start <= ack.end \
                <= len(text):
            ack = Acknowledged(ack.check, ack.severity, ack.start, ack.end,
                               text[max(ack.start - CONTEXT, 0):ack.start],
                               text[ack.start:ack.end], text[ack.end:ack.end + CONTEXT])
        found.append(ack)
    return found


def _matches(data: bytes | None, stored: str | None, chain: str | None) -> bool | None:
    """Whether the bytes still hash to what was stored and recorded; None when purged."""
    if data is None:
        return None
    return sha256_hex(data) == stored == chain


def letter_evidence(session: Session, letter: Letter) -> Evidence:
    """Gather one letter's proof from its row, its deliveries and the audit chain."""
    delivery_ids = [d.id for d in letter.deliveries]
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.organization_id == letter.organization_id,
        or_(and_(AuditEvent.subject_type == "letter", AuditEvent.subject_id == letter.id),
            and_(AuditEvent.subject_type == "delivery",
                 AuditEvent.subject_id.in_(delivery_ids)))).order_by(AuditEvent.seq)))
    names = member_names(session, letter.organization_id)
    evidence = Evidence(letter, events)
    evidence.attempts = [e for e in events if e.action == "delivery.attempt"]
    # The latest: a bounced email's letter sent by post is frozen again with its PDF's hash.
    evidence.frozen = next((e for e in reversed(events) if e.action == "letter.frozen"), None)
    overrides = [e for e in events if e.action == "letter.override"
                 and not e.payload.get("cleared")]
    by = overrides[-1].actor_id if overrides else letter.note_override_by_id
    evidence.override_by = names.get(by) if by is not None else None
    batch = session.get(Batch, letter.batch_id) if letter.batch_id else None
    if batch is not None and batch.approved_by_id is not None:
        evidence.batch_by = names.get(batch.approved_by_id)
    chain = evidence.frozen.payload if evidence.frozen else {}
    copy = letter.frozen
    if copy is not None:
        evidence.eml_ok = _matches(copy.eml, copy.eml_sha256, chain.get("eml_sha256"))
        evidence.pdf_ok = _matches(copy.pdf, copy.pdf_sha256, chain.get("pdf_sha256"))
    evidence.acknowledged = acknowledged(letter, events)
    if copy is not None and copy.eml:
        message = parse_eml(copy.eml)
        evidence.headers = [(name, str(message[name])) for name in HEADERS if message[name]]
    return evidence


def erasure_requests(session: Session, org_id: int) -> list[ErasureRequest]:
    """The organization's erasure requests, newest first."""
    return list(session.scalars(select(ErasureRequest).where(
        ErasureRequest.organization_id == org_id).order_by(ErasureRequest.requested_at.desc(),
                                                           ErasureRequest.id.desc())))
