"""A ZIP of CVs and cover letters, matched to a position's candidates by its file names.

A file goes to the candidate whose email is in its name (``daniel.okafor@example.com.pdf``),
or else whose every name part is (``okafor-daniel-cv.pdf``, ``Daniel Okafor - Cover
letter.docx``). "cover", "letter" or "motivation" in the name makes it a cover letter; anything
else is a CV. The preview says for each file where it goes and, when it goes nowhere, why;
saving keeps every matched file or none (services/documents.py).

Safety: at most ``MAX_MEMBERS`` files and ``MAX_TOTAL`` bytes uncompressed (as declared, and
as read), no encrypted members, and names with ``..`` or an absolute path are refused.
Nothing is ever written to disk under a name from the archive; folders, ``__MACOSX`` and
hidden files are passed over.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import Application, Candidate, Document, Member, Position
from ..models.documents import KIND_LABELS, KIND_NOUNS
from .documents import Limits, Upload, check_uploads, save_documents
from .documents_text import DocumentError, clean_name, megabytes

MAX_MEMBERS = 500
MAX_TOTAL = 200 * 1024 * 1024
COVER_WORDS = {"cover", "coverletter", "letter", "motivation", "anschreiben", "lettre"}


@dataclass
class Entry:
    """One file of the archive and where it goes."""

    path: str  # as in the archive
    name: str  # the file's own name, cleaned
    size: int
    kind: str = "cv"
    application: Application | None = None
    status: str = "unmatched"  # matched, unmatched, ambiguous, refused
    reason: str = ""
    replaces: bool = False

    @property
    def kind_label(self) -> str:
        """"CV" or "Cover letter"."""
        return KIND_LABELS[self.kind]


@dataclass
class ZipPreview:
    """Every file of the archive, matched or not, and a refusal of the whole archive."""

    entries: list[Entry] = field(default_factory=list)
    error: str = ""

    @property
    def matched(self) -> list[Entry]:
        """The files that would be saved."""
        return [e for e in self.entries if e.status == "matched"]

    @property
    def left_out(self) -> list[Entry]:
        """The files that would not be saved, each with its reason."""
        return [e for e in self.entries if e.status != "matched"]


def _words(text: str) -> list[str]:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", plain.casefold())


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise DocumentError(f"The ZIP holds {len(infos)} entries; at most {MAX_MEMBERS} are "
                            "read. Split it into smaller ZIPs.")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL:
        raise DocumentError(f"The ZIP unpacks to {megabytes(total)}; at most "
                            f"{megabytes(MAX_TOTAL)} are read. Split it into smaller ZIPs.")
    kept = []
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        kept.append(info)
    return kept


def _match(entry: Entry, applications: list[Application]) -> None:
    """Find the entry's candidate: by an email in the name, else by every part of a name."""
    lowered = entry.name.casefold()
    by_email = [a for a in applications if (email := (a.candidate.email or "").casefold())
                and re.search(r"(?<![\w.+-])" + re.escape(email) + r"(?![\w-])", lowered)]
    stem = entry.name.rsplit(".", 1)[0]
    words = set(_words(stem))
    entry.kind = "cover_letter" if words & COVER_WORDS else "cv"
    if by_email:
        found, how = by_email, "the email in the file name"
    else:
        fits = [(len(parts), a) for a in applications
                if (parts := set(_words(a.candidate.full_name))) and parts <= words]
        best = max((n for n, _ in fits), default=0)
        found = [a for n, a in fits if n == best]
        how = "the name in the file name"
    if len(found) == 1:
        entry.application, entry.status = found[0], "matched"
        entry.reason = f"Matched by {how}."
    elif found:
        names = ", ".join(sorted(a.candidate.full_name for a in found))
        entry.status = "ambiguous"
        entry.reason = (f"Fits {len(found)} candidates ({names}). Put the candidate's email "
                        "in the file name to choose.")
    else:
        entry.reason = ("No candidate of this position has the name or email in this file "
                        "name.")


def _candidates(session: Session, position: Position) -> list[Application]:
    return list(session.scalars(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.purged_at.is_(None))
        .options(selectinload(Application.candidate))))


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as handle:  # the declared size may lie: read at most one more
        return handle.read(limit + 1)


def preview_zip(session: Session, position: Position, data: bytes, limits: Limits
                ) -> tuple[ZipPreview, list[Upload]]:
    """Match every file to a candidate and check it; nothing is saved.

    Returns the preview and the uploads that saving would keep.
    """
    preview = ZipPreview()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        preview.error = "This is not a ZIP file. Choose a .zip of PDF, .docx or text files."
        return preview, []
    uploads: list[Upload] = []
    with archive:
        try:
            infos = _members(archive)
        except DocumentError as exc:
            preview.error = str(exc)
            return preview, []
        applications = _candidates(session, position)
        have = {(a, k) for a, k in session.execute(select(Document.application_id, Document.kind)
                                                   .join(Application).where(
            Application.position_id == position.id))}
        read = 0
        for info in infos:
            entry = Entry(path=info.filename, name=clean_name(info.filename), size=info.file_size)
            preview.entries.append(entry)
            parts = info.filename.replace("\\", "/").split("/")
            if ".." in parts or info.filename.startswith(("/", "\\")) or ":" in parts[0]:
                entry.status, entry.reason = "refused", "An unsafe path: it is not read."
                continue
            if info.flag_bits & 0x1:
                entry.status, entry.reason = "refused", "Encrypted: it cannot be read."
                continue
            _match(entry, applications)
            if entry.status != "matched" or entry.application is None:
                continue
            try:
                content = _read(archive, info, limits.max_bytes)
                read += len(content)
                if read > MAX_TOTAL:
                    raise DocumentError(f"The ZIP unpacks to more than {megabytes(MAX_TOTAL)}.")
                [found] = check_uploads(session, [Upload(
                    entry.application, entry.kind, entry.name, content)],
                    Limits(limits.max_bytes, 2**62))  # the quota: for all files together
            except (DocumentError, zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
                if isinstance(exc, DocumentError) and str(exc).startswith("The ZIP"):
                    preview.error = str(exc)
                    return preview, []
                entry.status = "refused"
                entry.reason = str(exc).removeprefix(f"{entry.name}: ") if isinstance(
                    exc, DocumentError) else "This file of the ZIP is damaged."
                continue
            entry.replaces = (entry.application.id, entry.kind) in have
            uploads.append(Upload(entry.application, entry.kind, entry.name, content, found))
    _refuse_twins(preview, uploads)
    return preview, uploads


def _refuse_twins(preview: ZipPreview, uploads: list[Upload]) -> None:
    """Two files for one candidate's CV (or cover letter): neither is saved."""
    seen: dict[tuple[int, str], list[Entry]] = {}
    for entry in preview.matched:
        assert entry.application is not None
        seen.setdefault((entry.application.id, entry.kind), []).append(entry)
    for (app_id, kind), twins in seen.items():
        if len(twins) < 2:
            continue
        names = " and ".join(e.name for e in twins)
        for entry in twins:
            entry.status = "ambiguous"
            entry.reason = (f"{names} are both the {KIND_NOUNS[kind]} of "
                            f"{twins[0].application.candidate.full_name}. Keep one in the ZIP.")
        uploads[:] = [u for u in uploads if (u.application.id, u.kind) != (app_id, kind)]


def save_zip(session: Session, position: Position, data: bytes, *, by: Member | None,
             limits: Limits) -> list[Document]:
    """Save every matched file of the archive, or none (the quota covers them together)."""
    preview, uploads = preview_zip(session, position, data, limits)
    if preview.error:
        raise DocumentError(preview.error)
    if not uploads:
        raise DocumentError("No file of this ZIP matches a candidate: nothing to save.")
    return save_documents(session, uploads, by=by, limits=limits, via="zip")
