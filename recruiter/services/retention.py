"""Retention and erasure: keep personal data only as long as the organization's rule allows.

A position's data is kept for the organization's retention period (12 months by default)
after the position is filled (``filled_at``, set when its openings are all taken). Then the
purge deletes names, addresses, emails, notes and stored letter bytes. The audit chain holds
hashes only, so it still verifies afterwards, and the evidence export says who was purged,
when and why.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, selectinload

from ..models import (
    Application,
    Candidate,
    Delivery,
    ErasureRequest,
    Letter,
    Member,
    Organization,
    Position,
)
from .audit import derive_key, keyed_hex, record, sha256_hex
from .documents import delete_documents
from .sending.transport import outbox_name
from .versions import bump_review

ACKNOWLEDGED = ("check", "severity", "start", "end")  # no personal text


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months, clamping the day (31 Jan + 1 = 28/29 Feb)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def rule_text(months: int) -> str:
    """The rule a purge applied, as the export shows it."""
    return f"retention: {months} months after the position was filled"


def keep_until(position: Position, org: Organization) -> datetime | None:
    """When the position's personal data may be purged; None while it is not filled."""
    filled = position.filled_at
    return add_months(filled, org.retention_months) if filled is not None else None


@dataclass
class PurgeReport:
    """What a purge did (or, in a dry run, would do)."""

    candidates: int = 0
    letters: int = 0
    files: int = 0
    previews: int = 0
    erasures_done: int = 0
    documents: int = 0
    positions: list[int] = field(default_factory=list)


PREVIEW_MAX_AGE = timedelta(days=1)  # as long as the import view keeps an unconfirmed upload


def _expired(session: Session, org: Organization, now: datetime) -> tuple[set[int], set[int]]:
    """Candidates all of whose positions are past retention, and those positions."""
    positions = session.scalars(select(Position).where(Position.organization_id == org.id))
    past, current = set(), set()
    for position in positions:
        until = keep_until(position, org)
        (past if until is not None and until <= now else current).add(position.id)
    rows = session.execute(select(Application.candidate_id, Application.position_id)
                           .where(Application.organization_id == org.id)).all()
    keep = {c for c, p in rows if p in current}
    due = {c for c, p in rows if p in past} - keep
    return due, past


def _email_pattern(emails: set[str]) -> re.Pattern[str] | None:
    emails = {e for e in emails if e}
    if not emails:
        return None
    return re.compile("|".join(re.escape(e) for e in sorted(emails)), re.IGNORECASE)


def _scrub(value: str | None, pattern: re.Pattern[str] | None) -> str | None:
    if value is None or pattern is None:
        return value
    return pattern.sub("[purged]", value)


def _purge_candidates(session: Session, org: Organization, ids: set[int], rule: str,
                      now: datetime, outbox: Path | None) -> tuple[int, int, int]:
    """Delete the personal data of these candidates; returns (letters, outbox files, CVs)."""
    letters = files = 0
    candidates = session.scalars(select(Candidate).where(Candidate.id.in_(ids),
                                                         Candidate.purged_at.is_(None))).all()
    emails = _email_pattern({c.email or "" for c in candidates})
    for cand in candidates:
        for name in ("first_name", "last_name", "address_line1", "address_line2", "city",
                     "region", "postal_code", "country"):
            setattr(cand, name, "")
        cand.email, cand.purged_at, cand.purge_rule = None, now, rule
    apps = session.scalars(select(Application).where(Application.candidate_id.in_(ids))
                           .options(selectinload(Application.candidate))).all()
    for application in apps:
        application.note = ""
    # CVs and cover letters: the rows, their text and their bytes (services/documents.py).
    documents = delete_documents(session, [a.id for a in apps])
    bump_review(session, {a.position_id for a in apps})  # names, notes and texts change
    for letter in session.scalars(select(Letter).where(Letter.application_id.in_(
            [a.id for a in apps])).options(
                selectinload(Letter.frozen),
                selectinload(Letter.deliveries).selectinload(Delivery.resolutions))):
        frozen = letter.frozen
        if outbox is not None and frozen is not None and frozen.message_id:
            path = outbox / outbox_name(frozen.message_id)
            if path.exists():
                path.unlink()
                files += 1
        letter.subject = letter.text = letter.html = ""
        letter.note_override = None
        # Older acknowledgements quoted notes and named people ("also used for Robin
        # Tremblay"): which checks were acknowledged, and where, is kept; their words are not.
        letter.acknowledged = [{k: w.get(k) for k in ACKNOWLEDGED if k in w}
                               for w in letter.acknowledged or [] if isinstance(w, dict)]
        if frozen is not None:
            frozen.eml = frozen.pdf = None  # their SHA-256 stay, and so does the chain
        for delivery in letter.deliveries:
            delivery.recipient = None
            delivery.server_reply = _scrub(delivery.server_reply, emails)
            delivery.last_error = _scrub(delivery.last_error, emails)
            delivery.bounce_diagnostic = _scrub(delivery.bounce_diagnostic, emails)
            for decision in delivery.resolutions:
                decision.reason = _scrub(decision.reason, emails)
        letters += 1
    return letters, files, documents


def purge(session: Session, *, now: datetime | None = None, dry_run: bool = False,
          outbox: Path | None = None, imports: Path | None = None) -> PurgeReport:
    """Delete personal data past retention in every organization; audit-logged per org."""
    now = now or datetime.now(UTC)
    report = PurgeReport()
    for org in session.scalars(select(Organization).order_by(Organization.id)).all():
        due, past = _expired(session, org, now)
        due |= _erasures_due(session, org, now)
        pending = session.scalar(select(func.count()).select_from(Candidate).where(
            Candidate.id.in_(due), Candidate.purged_at.is_(None))) or 0
        report.candidates += pending
        report.positions += sorted(past)
        if dry_run or not pending:
            continue
        letters, files, documents = _purge_candidates(
            session, org, due, rule_text(org.retention_months), now, outbox)
        session.execute(update(Position).where(Position.id.in_(past))  # it can name people
                        .values(freeze_problem=None).execution_options(synchronize_session=False))
        report.letters += letters
        report.files += files
        report.documents += documents
        report.erasures_done += _close_erasures(session, org, now)
        record(session, org.id, "retention.purge", payload={
            "candidates": pending, "letters": letters, "outbox_files": files,
            "retention_months": org.retention_months,
            **({"documents": documents} if documents else {})})  # CVs and cover letters
    if imports is not None and imports.is_dir() and not dry_run:
        report.previews = _purge_previews(imports, now, set(report.positions))
    return report


def _purge_previews(imports: Path, now: datetime, past: set[int]) -> int:
    """Delete import previews nobody confirmed in time, and any of a position past retention.

    A preview is named ``{org}-{position}-{token}.csv`` (``.zip`` for CVs); one uploaded a
    minute ago is being looked at and stays.
    """
    removed = 0
    stale = (now - PREVIEW_MAX_AGE).timestamp()
    for upload in [*imports.glob("*.csv"), *imports.glob("*.zip")]:  # CSVs, ZIPs of CVs
        parts = upload.name.split("-", 2)
        position = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if position in past or upload.stat().st_mtime < stale:
            upload.unlink(missing_ok=True)
            removed += 1
    return removed


def outbox_folder(mail_url: str) -> Path | None:
    """The folder of a ``file://`` mail URL (percent-decoded, as the transport reads it)."""
    parts = urlsplit(mail_url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def run_purge(session: Session, instance: Path, mail_url: str, *, dry_run: bool = False,
              now: datetime | None = None) -> PurgeReport:
    """The scheduled purge and `recruiter audit purge`: purge, commit, and compact the file."""
    report = purge(session, now=now, dry_run=dry_run, outbox=outbox_folder(mail_url),
                   imports=instance / "imports")
    if dry_run:
        session.rollback()
        return report
    session.commit()
    compact(session)
    return report


def compact(session: Session) -> None:
    """Make deleted text unrecoverable from the database file (SQLite keeps free pages)."""
    if session.get_bind().dialect.name == "sqlite":
        session.commit()
        with session.get_bind().connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM"))
            # In WAL mode the erased text is also in the -wal file until it is checkpointed.
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


# --- erasure requests -------------------------------------------------------------------------


ERASURE_PURPOSE = "recruiter erasure email v1"


def _email_hash(email: str, kind: str = "hmac") -> str:
    """How an erasure request keeps an email: HMAC-SHA256 keyed from the secret key.

    A plain SHA-256 would let anyone who reads the row confirm a guessed address. Rows from
    before migration 0007 ("sha256") cannot be rekeyed without the address, so they keep
    their plain hash and are matched by it.
    """
    normal = email.strip().lower()
    if kind == "sha256":
        return sha256_hex(normal)
    return keyed_hex(derive_key(ERASURE_PURPOSE), normal)


def _candidates_with(session: Session, org: Organization, request: ErasureRequest
                     ) -> list[Candidate]:
    found = session.scalars(select(Candidate).where(Candidate.organization_id == org.id,
                                                    Candidate.email.is_not(None),
                                                    Candidate.purged_at.is_(None))).all()
    kind = request.email_hash_kind or "hmac"
    return [c for c in found if _email_hash(c.email or "", kind) == request.email_sha256]


def request_erasure(session: Session, org: Organization, email: str, member: Member | None, *,
                    now: datetime | None = None, outbox: Path | None = None) -> ErasureRequest:
    """Erase one person now, or record the request as restricted while retention applies.

    ``outbox`` is the ``file://`` mail folder, whose copies of the person's letters go too.
    """
    now = now or datetime.now(UTC)
    digest = _email_hash(email)
    request = ErasureRequest(organization_id=org.id, email_sha256=digest, email_hash_kind="hmac",
                             requested_at=now, requested_by_id=member.id if member else None,
                             status="done")
    people = _candidates_with(session, org, request)
    ids = {c.id for c in people}
    documents = 0
    positions = session.scalars(select(Position).join(Application).where(
        Application.candidate_id.in_(ids))).unique().all() if ids else []
    holds = [until for p in positions if (until := keep_until(p, org)) is None or until > now]
    if holds and any(until is None for until in holds):
        request.status = "restricted"
        request.reason = ("A hiring process this person is part of is still open. The data is "
                          "kept, and used for nothing else, until the retention period after "
                          "it closes ends; then it is erased.")
    elif holds:
        request.status = "restricted"
        request.reason = (f"Kept until {max(holds):%Y-%m-%d} to answer a possible claim about "
                          f"the hiring decision ({rule_text(org.retention_months)}); erased "
                          "then.")
    else:
        request.reason = "Erased on request." if ids else "No personal data was held."
        request.carried_out_at = now
        if ids:
            documents = _purge_candidates(session, org, ids, "erasure request", now, outbox)[2]
    session.add(request)
    record(session, org.id, f"erasure.{request.status}", actor=member, subject=request,
           payload={"email_hmac": digest, "candidates": len(ids),
                    **({"documents": documents} if documents else {})})
    return request


def _erasures_due(session: Session, org: Organization, now: datetime) -> set[int]:
    """Candidates of restricted erasure requests whose retention has ended."""
    due: set[int] = set()
    for request in session.scalars(select(ErasureRequest).where(
            ErasureRequest.organization_id == org.id, ErasureRequest.status == "restricted")):
        people = _candidates_with(session, org, request)
        positions = [a.position for c in people for a in session.scalars(
            select(Application).where(Application.candidate_id == c.id))]
        if all((until := keep_until(p, org)) is not None and until <= now for p in positions):
            due |= {c.id for c in people}
    return due


def _close_erasures(session: Session, org: Organization, now: datetime) -> int:
    done = 0
    for request in session.scalars(select(ErasureRequest).where(
            ErasureRequest.organization_id == org.id, ErasureRequest.status == "restricted")):
        if not _candidates_with(session, org, request):
            request.status, request.carried_out_at = "done", now
            key = "email_sha256" if request.email_hash_kind == "sha256" else "email_hmac"
            record(session, org.id, "erasure.done", subject=request,
                   payload={key: request.email_sha256, "after_retention": True})
            done += 1
    return done

