"""A letter's files: its letterhead PDF and its email, one by one or for a whole position.

Frozen letters give their stored bytes; any other letter is rendered on request. An email
letter freezes to its ``.eml`` only, so its PDF is always laid out on request, dated the day
it was frozen.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date
from urllib.parse import quote

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from ..errors import RecruiterError
from ..models import Application, Candidate, FrozenLetter, Letter, Organization, Position
from .csvcells import csv_safe
from .languages import letter_locale, org_language, sender_title_in
from .letters import LOCKED, organization_of, sort_key
from .mail import Envelope, build_message, new_message_id, valid_address
from .names import name_slug
from .organization import reply_address
from .orgtime import org_today, org_zone
from .pdf import PdfLetter, render_pdf, render_pdfs_parallel, render_print_bundle
from .rendering import letter_date


def _letter_day(letter: Letter, org: Organization) -> date:
    """The date a letter carries: the day it was frozen, else today, in the org's zone."""
    frozen = _frozen(letter)
    if frozen is None:
        return org_today(org)
    return frozen.frozen_at.astimezone(org_zone(org)).date()


def pdf_letter(letter: Letter, org: Organization, *, day: date | None = None) -> PdfLetter:
    """What the PDF layout needs of one letter, dated ``day`` (default: the letter's date).

    The date and the sender's title are in the letter's language.
    """
    cand = letter.application.candidate
    language = letter.language or org_language(org)
    # Shipped boilerplates sign off in the body; the letterhead signs only when they do not.
    signs = bool(org.sender_name) and org.sender_name not in letter.text
    return PdfLetter(
        key=f"letter-{letter.id}", organization_name=org.name,
        organization_address=org.address_lines,
        date=letter_date(letter_locale(language, org), day or _letter_day(letter, org)),
        recipient=cand.postal_lines, subject=letter.subject, body_html=letter.html,
        sender_name=org.sender_name if signs else "",
        sender_title=sender_title_in(org, language) if signs else "", language=language)


def _refuse_failed(letter: Letter) -> None:
    if letter.render_error and letter.status not in LOCKED:  # a frozen letter rendered
        raise RecruiterError(letter.render_error)


def _frozen(letter: Letter) -> FrozenLetter | None:
    """The letter's frozen copy; a letter is frozen exactly when it belongs to a batch."""
    return letter.frozen if letter.batch_id is not None else None


def letter_pdf(letter: Letter, *, page_size: str = "A4") -> bytes:
    """The letterhead PDF: the stored bytes of a frozen postal letter, else rendered now."""
    frozen = _frozen(letter)
    if frozen is not None and frozen.pdf:
        return frozen.pdf
    _refuse_failed(letter)
    return render_pdf(pdf_letter(letter, organization_of(letter)), page_size=page_size)


def _eml(letter: Letter, org: Organization, *, draft: bool = False) -> bytes:
    """The letter built as an email now; a ``draft`` carries no Message-ID.

    A draft in an export must not pass for the letter itself: without a Message-ID it cannot
    be mailed as the real letter, outside approval and the audit. Dated now, or when the
    letter was frozen; its HTML is in the letter's locale (``letter_locale``).
    """
    _refuse_failed(letter)
    cand = letter.application.candidate
    if not cand.email:
        raise RecruiterError(f"{cand.full_name or 'This candidate'} has no email address; "
                             "this letter goes by post.")
    domain = org.sender_email.rpartition("@")[2]
    frozen = _frozen(letter)
    message_id = None if draft else (
        (frozen.message_id if frozen else None) or new_message_id(domain))
    envelope = Envelope(sender_name=org.sender_name or org.name, sender_email=org.sender_email,
                        recipient_name=cand.full_name, recipient_email=cand.email,
                        message_id=message_id,
                        reply_to=reply_address(org, letter.application.position))
    return build_message(envelope, subject=letter.subject, text=letter.text, html=letter.html,
                         date=frozen.frozen_at if frozen else None,
                         language=letter_locale(letter.language or org_language(org), org)
                         ).as_bytes()


def is_draft(letter: Letter) -> bool:
    """Whether the letter's files are a draft's: not frozen yet, so built on request."""
    return _frozen(letter) is None


def letter_eml(letter: Letter) -> bytes:
    """The letter as an email message: the stored bytes once frozen, else a draft built now.

    A draft carries no Message-ID, as in the ZIP of drafts, so it cannot pass for the letter.
    """
    frozen = _frozen(letter)
    if frozen is not None and frozen.eml:
        return frozen.eml
    return _eml(letter, organization_of(letter), draft=frozen is None)


def _export_letters(session: Session, position: Position) -> list[Letter]:
    """The position's letters that are not cancelled, by candidate name, without blobs."""
    letters = session.scalars(
        select(Letter).join(Application).where(Application.position_id == position.id,
                                               Letter.status != "cancelled")
        .options(selectinload(Letter.application).selectinload(Application.candidate),
                 selectinload(Letter.frozen))).all()  # the frozen copies without their bytes
    return sorted(letters, key=lambda x: sort_key(x.application))


def print_bundle(session: Session, position: Position, *, page_size: str = "A4") -> bytes:
    """One print-ready PDF of every letter that goes by post."""
    org = organization_of(position)
    post = [x for x in _export_letters(session, position)
            if x.application.letter_channel == "post"]
    failed = [x for x in post if x.render_error and x.status not in LOCKED]
    if failed:  # a bundle for the printer must hold every letter, or none
        names = ", ".join(x.application.candidate.full_name for x in failed[:10])
        raise RecruiterError(f"{len(failed)} letter{' fails' if len(failed) == 1 else 's fail'}"
                             f" to render ({names}{', …' if len(failed) > 10 else ''}); fix the"
                             " boilerplate first.")
    if not post:
        raise RecruiterError("No letter of this position goes by post, so there is nothing "
                             "to print.")
    return render_print_bundle([pdf_letter(x, org) for x in post], page_size=page_size)


def _by_post() -> ColumnElement[bool]:
    """Application.letter_channel in SQL: post as chosen, or "auto" without an address."""
    return or_(Application.channel == "post",
               and_(Application.channel == "auto",
                    or_(Candidate.email.is_(None), Candidate.email == "")))


def has_post_letters(session: Session, position: Position) -> bool:
    """Whether at least one letter of the position (not cancelled) goes by post."""
    return bool(session.scalar(select(
        select(Letter.id).join(Application, Application.id == Letter.application_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .where(Application.position_id == position.id, Letter.status != "cancelled",
               _by_post()).exists())))


def letters_zip_name(session: Session, position: Position) -> str:
    """The ZIP's name: the position and the day, and ``DRAFT`` while any letter is unfrozen.

    ``letters-operations-coordinator-DRAFT-2026-12-03.zip``: a draft is what the letter may
    become, not what was sent, and the name says so wherever the file goes.
    """
    letters = (select(Letter.id).join(Application, Application.id == Letter.application_id)
               .where(Application.position_id == position.id, Letter.status != "cancelled"))
    # Nothing frozen yet (not even a letter to export) is a draft too.
    draft = any(session.execute(select(letters.where(Letter.batch_id.is_(None)).exists(),
                                       ~letters.where(Letter.batch_id.isnot(None)).exists()))
                .one())
    title = name_slug(position.title)[:60].strip("-") or f"position-{position.id}"
    day = org_today(organization_of(position)).isoformat()
    return f"letters-{title}{'-DRAFT' if draft else ''}-{day}.zip"


class _Pipe:
    """A write-only, unseekable file: zipfile writes into it, and we hand the bytes on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def file_stem(number: int, width: int, application: Application) -> str:
    """A letter's file name in an export: its number, then the candidate's name in ASCII."""
    cand = application.candidate
    return f"{number:0{width}d}-{name_slug(cand.last_name, cand.first_name) or 'candidate'}"


def download_name(letter: Letter, suffix: str, *, draft: bool = False) -> tuple[str, str]:
    """One letter's file name, in ASCII and as written: ``okafor-daniel.pdf`` twice.

    ``letter-<id>`` when the candidate's name gives no ASCII letter (a purged or a
    non-Latin name); the second name keeps the real letters where they differ. A ``draft``
    says so, as the ZIP of drafts does: ``okafor-daniel-DRAFT.eml``.
    """
    cand = letter.application.candidate
    fallback = f"letter-{letter.id}"
    plain = name_slug(cand.last_name, cand.first_name) or fallback
    real = name_slug(cand.last_name, cand.first_name, ascii_only=False) or plain
    mark = "-DRAFT" if draft else ""
    return f"{plain}{mark}.{suffix}", f"{real}{mark}.{suffix}"


def content_disposition(letter: Letter, suffix: str, *, inline: bool = False,
                        draft: bool = False) -> str:
    """The Content-Disposition of one letter's file, with RFC 5987 ``filename*`` if needed."""
    plain, real = download_name(letter, suffix, draft=draft)
    value = f'{"inline" if inline else "attachment"}; filename="{plain}"'
    if real != plain:
        value += f"; filename*=UTF-8''{quote(real, safe='')}"
    return value


def _chunks(items: Sequence[Letter], size: int) -> Iterator[Sequence[Letter]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def iter_letters_zip(session: Session, position: Position, chunk: int = 50, *,
                     page_size: str = "A4") -> Iterator[bytes]:
    """Stream a ZIP of every letter (PDF, and .eml when there is an address) with index.csv."""
    org = organization_of(position)
    letters = _export_letters(session, position)
    width = max(3, len(str(len(letters))))
    if any(x.application.candidate.email for x in letters):
        valid_address(org.sender_email, "sender address of the organization")
    pipe = _Pipe()
    index = io.StringIO()
    rows = csv.writer(index)
    rows.writerow(["letter_id", "candidate", "email", "channel", "status", "pdf", "eml",
                   "problem"])
    archive = zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore
    with archive:
        number = 0
        for part in _chunks(letters, chunk):
            # Stored bytes of frozen letters, for this chunk only, so memory stays flat.
            locked = [x.id for x in part if x.status in LOCKED]
            stored = {row.letter_id: row for row in session.execute(
                select(FrozenLetter.letter_id, FrozenLetter.pdf, FrozenLetter.eml)
                .where(FrozenLetter.letter_id.in_(locked)))} if locked else {}
            # A letter its boilerplate fails for has no document: index.csv says why.
            failed = {x.id for x in part if x.render_error and x.id not in stored}
            fresh = [x for x in part if not (x.id in stored and stored[x.id].pdf)
                     and x.id not in failed]
            rendered = dict(zip((x.id for x in fresh),
                                render_pdfs_parallel([pdf_letter(x, org) for x in fresh],
                                                     page_size=page_size),
                                strict=True))
            for letter in part:
                number += 1
                cand = letter.application.candidate
                stem = file_stem(number, width, letter.application)
                if letter.id in failed:
                    rows.writerow([csv_safe(v) for v in (
                        letter.id, cand.full_name, cand.email or "",
                        letter.application.letter_channel, letter.status, "", "",
                        letter.render_error)])
                    continue
                pdf = rendered.get(letter.id) or stored[letter.id].pdf
                archive.writestr(f"{stem}.pdf", pdf, compress_type=zipfile.ZIP_STORED)
                eml_name = ""
                if cand.email:
                    saved = stored[letter.id].eml if letter.id in stored else None
                    eml_name = f"{stem}.eml"
                    archive.writestr(eml_name, saved or _eml(letter, org, draft=True))
                rows.writerow([csv_safe(v) for v in (
                    letter.id, cand.full_name, cand.email or "", letter.application.letter_channel,
                    letter.status, f"{stem}.pdf", eml_name, "")])
                yield pipe.drain()
            del rendered, stored
        archive.writestr("index.csv", index.getvalue().encode("utf-8"))
    yield pipe.drain()
