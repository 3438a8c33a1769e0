"""The evidence export: every letter of a position exactly as sent, with proof it is unaltered.

The ZIP holds each letter's frozen copy byte for byte as stored (the ``.eml`` of an email
letter, the PDF of a postal one), ``SHA256SUMS`` for
``sha256sum -c``, an ``index.csv``, ``VERIFY.txt``, ``manifest.json`` and ``checkpoint.json``,
the organization's signed chain head at export time. The manifest carries
the audit chain segment that covers the position, so anyone can recompute the chain's hashes
and see that each letter's SHA-256 is the one recorded when it was frozen.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from ..models import (
    Application,
    AuditEvent,
    Delivery,
    FrozenLetter,
    Letter,
    Member,
    Organization,
    Position,
)
from .audit import record, sha256_hex
from .checkpoints import checkpoint_key as _checkpoint_key
from .checkpoints import make_checkpoint
from .csvcells import csv_safe
from .files import file_stem

VERIFY = """How to check this export
========================

1. The letters are byte-identical to what recruiter stored and sent. Check every file:

       sha256sum -c SHA256SUMS

   (macOS: shasum -a 256 -c SHA256SUMS). Every line must say OK. A letter whose personal data
   was purged has no files here; manifest.json says when it was purged and under which rule.

2. manifest.json lists each letter's SHA-256 next to the audit event that recorded it when the
   letter was frozen, before it was sent. They must be equal.

3. The audit events in manifest.json["chain"]["events"] are hash-chained:

       hash = SHA-256(prev_hash + canonical JSON)

   where the canonical JSON is the object {"org", "seq", "actor", "action", "subject", "at",
   "payload"} with sorted keys, no spaces, UTF-8. Each event's prev_hash is the hash of the
   event before it. This command, run in this folder, recomputes every event (step 3) and
   compares every letter with its event (step 2); every line must say OK:

       python3 -c 'if True:
           import hashlib, json
           m = json.load(open("manifest.json", encoding="utf-8"))
           keys = ("org", "seq", "actor", "action", "subject", "at", "payload")
           prev, frozen = None, {}
           for e in m["chain"]["events"]:
               body = {k: e[k] for k in keys}
               c = json.dumps(body, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
               ok = hashlib.sha256(e["prev_hash"].encode() + c).hexdigest() == e["hash"]
               ok = ok and (prev is None or e["prev_hash"] == prev)
               prev = e["hash"]
               if e["action"] == "letter.frozen":
                   frozen[e["subject"][1]] = e["payload"]
               print("event", e["seq"], e["action"], "OK" if ok else "BROKEN")
           for x in m["letters"]:
               p = frozen.get(x["letter"], {})
               ok = (p.get("eml_sha256"), p.get("pdf_sha256")) == (x["eml_sha256"],
                                                                   x["pdf_sha256"])
               print("letter", x["letter"], "OK" if ok else "BROKEN")'

   The organization can show that the same events, with the same hashes, are still in its
   database: `recruiter audit verify` recomputes the whole chain there.

4. checkpoint.json is the organization's chain head when this export was written (the number
   and hash of its last audit event), signed with a key only the organization's server holds.
   Its seq is at least that of the last event above. Later, at the organization,

       recruiter audit verify --checkpoint checkpoint.json

   fails if the chain no longer contains that head: events deleted or rewritten since.
"""


def _letters(session: Session, position: Position) -> list[Letter]:
    letters = session.scalars(
        select(Letter).join(Application).join(FrozenLetter)
        .where(Application.position_id == position.id)
        .options(defer(Letter.html), defer(Letter.text), selectinload(Letter.frozen),
                 selectinload(Letter.application).selectinload(Application.candidate),
                 selectinload(Letter.deliveries), selectinload(Letter.approved_by))
        .order_by(Letter.id)).all()
    return list(letters)


BYTES_CHUNK = 50  # letters whose stored bytes are in memory at once while writing the ZIP


def _stored_bytes(session: Session, letters: list[Letter]):  # noqa: ANN202
    """(letter, eml, pdf) for each letter, reading the bytes a chunk at a time."""
    for start in range(0, len(letters), BYTES_CHUNK):
        chunk = letters[start:start + BYTES_CHUNK]
        stored = {row.letter_id: (row.eml, row.pdf) for row in session.execute(
            select(FrozenLetter.letter_id, FrozenLetter.eml, FrozenLetter.pdf)
            .where(FrozenLetter.letter_id.in_([x.id for x in chunk])))}
        for letter in chunk:
            yield (letter, *stored.get(letter.id, (None, None)))


def chain_segment(session: Session, position: Position, letters: list[Letter]) -> list[dict]:
    """Every event of the organization from the first to the last one about this position."""
    letter_ids = [x.id for x in letters]
    delivery_ids = [d.id for x in letters for d in x.deliveries]
    application_ids = [x.application_id for x in letters]
    about = or_(and_(AuditEvent.subject_type == "position", AuditEvent.subject_id == position.id),
                and_(AuditEvent.subject_type == "letter", AuditEvent.subject_id.in_(letter_ids)),
                and_(AuditEvent.subject_type == "delivery",
                     AuditEvent.subject_id.in_(delivery_ids)),
                and_(AuditEvent.subject_type == "application",
                     AuditEvent.subject_id.in_(application_ids)))
    first, last = session.execute(
        select(func.min(AuditEvent.seq), func.max(AuditEvent.seq))
        .where(AuditEvent.organization_id == position.organization_id, about)).one()
    if first is None:
        return []
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.organization_id == position.organization_id,
        AuditEvent.seq.between(first, last)).order_by(AuditEvent.seq))
    return [{"org": e.organization_id, "seq": e.seq, "actor": e.actor_id, "action": e.action,
             "subject": [e.subject_type, e.subject_id],
             "at": e.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
             "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash} for e in events]


def _delivery(letter: Letter) -> Delivery | None:
    return letter.deliveries[0] if letter.deliveries else None


def _entry(letter: Letter, stem: str, recorded: dict[int, dict], eml: bytes | None,
           pdf: bytes | None) -> dict[str, Any]:
    cand = letter.application.candidate
    delivery = _delivery(letter)
    frozen = letter.frozen
    entry: dict[str, Any] = {
        "letter": letter.id, "status": letter.status, "message_id": frozen.message_id,
        "channel": delivery.channel if delivery else None,
        "delivery_state": delivery.state if delivery else None,
        "attempts": delivery.attempts if delivery else 0,
        "sent_at": delivery.sent_at.isoformat() if delivery and delivery.sent_at else None,
        "server_reply": delivery.server_reply if delivery else None,
        "boilerplate_version": frozen.boilerplate_version_id,
        "frozen_at": frozen.frozen_at.isoformat(),
        "note_revision": letter.note_revision, "override": letter.note_override is not None,
        "approved_by": letter.approved_by.email if letter.approved_by else None,
        "approved_at": letter.approved_at.isoformat() if letter.approved_at else None,
        "eml_sha256": frozen.eml_sha256, "pdf_sha256": frozen.pdf_sha256,
        "chain_eml_sha256": recorded.get(letter.id, {}).get("eml_sha256"),
        "chain_pdf_sha256": recorded.get(letter.id, {}).get("pdf_sha256"),
        "files": [],
    }
    if cand.purged_at is not None:
        entry["purged"] = {"at": cand.purged_at.isoformat(), "rule": cand.purge_rule}
    else:
        entry["files"] = [name for name, data in ((f"letters/{stem}.eml", eml),
                                                  (f"letters/{stem}.pdf", pdf)) if data]
    return entry


def write_export(session: Session, position: Position, out: IO[bytes],
                 actor: Member | None, *, checkpoint_key: bytes | None = None
                 ) -> dict[str, Any]:
    """Write the evidence ZIP for ``position`` to ``out``; returns the manifest. Audit-logged.

    ``checkpoint_key`` signs the included checkpoint; by default it is derived from the
    current app's secret key.
    """
    letters = _letters(session, position)
    org = session.get(Organization, position.organization_id)
    chain = chain_segment(session, position, letters)
    recorded = {e["subject"][1]: e["payload"] for e in chain if e["action"] == "letter.frozen"}
    width = max(3, len(str(len(letters))))
    sums: list[str] = []
    entries = []
    rows = [["letter", "candidate", "email", "channel", "status", "delivery_state", "sent_at",
             "message_id", "eml_file", "eml_sha256", "pdf_file", "pdf_sha256", "purged"]]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, (letter, eml, pdf) in enumerate(_stored_bytes(session, letters), start=1):
            stem = file_stem(number, width, letter.application)
            entry = _entry(letter, stem, recorded, eml, pdf)
            entries.append(entry)
            for name, data in ((f"letters/{stem}.eml", eml), (f"letters/{stem}.pdf", pdf)):
                if name in entry["files"] and data is not None:
                    archive.writestr(name, data)
                    sums.append(f"{sha256_hex(data)}  {name}")
            cand = letter.application.candidate
            purged = entry.get("purged")
            eml_name, pdf_name = (f"letters/{stem}.{ext}" if f"letters/{stem}.{ext}" in
                                  entry["files"] else "" for ext in ("eml", "pdf"))
            rows.append([letter.id, "" if purged else cand.full_name,
                         "" if purged else cand.email or "", entry["channel"], letter.status,
                         entry["delivery_state"], entry["sent_at"], entry["message_id"],
                         eml_name, entry["eml_sha256"] or "", pdf_name,
                         entry["pdf_sha256"] or "",
                         f"{purged['at']} ({purged['rule']})" if purged else ""])
        buffer = io.StringIO()
        csv.writer(buffer).writerows([[csv_safe(v) for v in row] for row in rows])
        manifest = {"format": "recruiter-evidence/1", "organization": org.name if org else "",
                    "position": {"id": position.id, "title": position.title},
                    "exported_at": datetime.now(UTC).isoformat(),
                    # A token's member has a made-up address; its name says which token.
                    "exported_by": (actor.name if actor.kind == "token" else actor.email)
                    if actor else None,
                    "chain": {"events": chain}, "letters": entries}
        archive.writestr("index.csv", buffer.getvalue())
        archive.writestr("SHA256SUMS", "\n".join(sums) + "\n")
        archive.writestr("VERIFY.txt", VERIFY)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        if org is not None:  # this organization's head only, never another's
            signed = make_checkpoint(session, checkpoint_key or _checkpoint_key(), org)
            archive.writestr("checkpoint.json", json.dumps(signed, indent=2) + "\n")
    record(session, position.organization_id, "export.position", actor=actor, subject=position,
           payload={"letters": len(letters), "files": len(sums)})
    return manifest


SPOOL_BYTES = 32 * 1024 * 1024  # evidence ZIPs larger than this go to a temporary file


def spooled_export(session: Session, position: Position, actor: Member | None
                   ) -> tuple[IO[bytes], int]:
    """The evidence ZIP in a spooled file at its start, and its size; audit-logged.

    The caller commits before a byte leaves (the export is recorded first) and closes it.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write_export(session, position, spool, actor)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    return spool, size  # type: ignore[return-value]
