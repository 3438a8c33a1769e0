"""Audit checkpoints: each chain's head, signed with a key that is not in the database.

A checkpoint lists, per organization, the sequence number and hash of the chain's last event
and the time it was taken, signed with HMAC-SHA256 under a key derived from the app's secret
key. Kept outside the database (a file, an evidence export), it lets ``verify_checkpoint``
show later that the chain still contains that head: deleting the last events, or rewriting
events and recomputing every plain SHA-256 after it, is caught. Events written after the last
checkpoint are not covered, and whoever holds the secret key can sign a checkpoint of anything.
"""

from __future__ import annotations

import hmac
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import AuditEvent, Organization
from .audit import Problem, chain_head, derive_key, keyed_hex

FORMAT = "recruiter-checkpoint/1"
PURPOSE = "recruiter audit checkpoint v1"


def _signed_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checkpoint_key(secret: str | bytes | None = None) -> bytes:
    """The signing key: HMAC(secret key, "recruiter audit checkpoint v1")."""
    return derive_key(PURPOSE, secret)


def make_checkpoint(session: Session, key: bytes,
                    organization: Organization | None = None) -> dict[str, Any]:
    """The signed heads of every organization's chain, or of one."""
    orgs = ([organization] if organization is not None else
            session.scalars(select(Organization).order_by(Organization.id)).all())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    heads = []
    for org in orgs:
        seq, head = chain_head(session, org.id)
        heads.append({"organization": org.id, "seq": seq, "hash": head, "at": now})
    body: dict[str, Any] = {"format": FORMAT, "created_at": now, "heads": heads}
    return {**body, "signature": keyed_hex(key, _signed_bytes(body).decode())}


def write_checkpoint(path: Path, checkpoint: dict[str, Any]) -> Path:
    """Write a checkpoint as JSON, whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(checkpoint, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_daily(session: Session, folder: Path, key: bytes) -> Path:
    """The worker's daily checkpoint of every organization, a new file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = make_checkpoint(session, key)
    stamp = checkpoint["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    return write_checkpoint(folder / f"checkpoint-{stamp}.json", checkpoint)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file, or one clear sentence why it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecruiterError(f"{path} is not a readable checkpoint: {exc}.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
            data.get("heads"), list):
        raise RecruiterError(f"{path} is not a recruiter checkpoint ({FORMAT}).")
    return data


def _head_where(head: dict[str, Any]) -> str:
    return f"checkpoint of audit event #{head.get('seq')}"


def verify_checkpoint(session: Session, checkpoint: dict[str, Any], key: bytes,
                      organization: Organization | None = None) -> list[Problem]:
    """What no longer matches a checkpoint: its signature, or a head the chain lost.

    With ``organization``, only that organization's head is checked.
    """
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    heads = [h for h in body.get("heads", []) if isinstance(h, dict)]
    expected = keyed_hex(key, _signed_bytes(body).decode())
    if not hmac.compare_digest(expected, str(checkpoint.get("signature", ""))):
        named = ", ".join(f"organization id {h.get('organization')} at event #{h.get('seq')}"
                          for h in heads) or "no organization"
        return [Problem("checkpoint", "signature", f"it does not match ({named}): the file "
                        "was altered, or signed with another secret key")]
    problems = []
    for head in heads:
        if organization is not None and head.get("organization") != organization.id:
            continue
        problem = _check_head(session, head)
        if problem is not None:
            problems.append(problem)
    return problems


def _check_head(session: Session, head: dict[str, Any]) -> Problem | None:
    org = session.get(Organization, head.get("organization"))
    if org is None:
        return Problem(f"organization id {head.get('organization')}", _head_where(head),
                       "the organization is no longer in the database")
    if not head.get("seq"):
        return None  # the chain was empty then; nothing to find
    stored = session.scalar(select(AuditEvent.hash).where(
        AuditEvent.organization_id == org.id, AuditEvent.seq == head["seq"]))
    if stored is None:
        return Problem(org.name, _head_where(head), f"audit event #{head['seq']}, the chain's "
                       f"head at {head.get('at')}, is missing: events were deleted since")
    if stored != head.get("hash"):
        return Problem(org.name, _head_where(head), f"audit event #{head['seq']} has another "
                       f"hash than at {head.get('at')}: the chain was rewritten since")
    return None
