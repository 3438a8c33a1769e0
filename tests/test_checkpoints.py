"""Signed audit checkpoints: truncation and rewriting after one are caught (issue 13, point 3).

Also the keyed hash of erasure requests, which a guessed address cannot confirm.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select, text, update

from recruiter import create_app
from recruiter.models import AuditEvent, ErasureRequest, Organization
from recruiter.queue import checkpoint_dir, queue
from recruiter.services import audit, checkpoints, evidence, retention

TRIGGER = "audit_event_append_only"


def add_events(db, org: Organization, count: int) -> None:  # noqa: ANN001
    """Append ``count`` events to the organization's chain and commit."""
    for n in range(count):
        audit.record(db, org.id, "test.event", payload={"n": n})
    db.commit()


def tamper(db, *statements) -> None:  # noqa: ANN001
    """Change audit rows as an owner of the table could: on PostgreSQL past the trigger."""
    postgres = db.get_bind().dialect.name == "postgresql"
    if postgres:
        db.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {TRIGGER}"))
    for statement in statements:
        db.execute(statement)
    if postgres:
        db.execute(text(f"ALTER TABLE audit_event ENABLE TRIGGER {TRIGGER}"))
    db.commit()
    db.expire_all()


def take_checkpoint(runner, out: Path, *extra: str) -> None:  # noqa: ANN001
    """Run `recruiter audit checkpoint` and expect it to succeed."""
    result = runner.invoke(args=["audit", "checkpoint", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def verify(runner, *extra: str):  # noqa: ANN001, ANN201
    """Run `recruiter audit verify`."""
    return runner.invoke(args=["audit", "verify", *extra])


def test_a_checkpoint_of_an_intact_chain_verifies_after_more_events(
        db, runner, make_org, tmp_path) -> None:  # noqa: ANN001
    """Each organization's head is written and signed; events appended later are fine."""
    first, second = make_org("Harbour Air Logistics"), make_org("Pacific Coastal Freight")
    add_events(db, first, 3)
    out = tmp_path / "checkpoint.json"
    take_checkpoint(runner, out)
    data = json.loads(out.read_text())
    heads = {h["organization"]: h for h in data["heads"]}
    last = db.scalars(select(AuditEvent).where(AuditEvent.organization_id == first.id)
                      .order_by(AuditEvent.seq.desc())).first()
    assert (heads[first.id]["seq"], heads[first.id]["hash"]) == (last.seq, last.hash)
    assert heads[second.id]["seq"] == 0 and heads[first.id]["at"].endswith("+00:00")
    assert len(data["signature"]) == 64
    add_events(db, first, 2)
    result = verify(runner, "--checkpoint", str(out))
    assert result.exit_code == 0, result.output
    assert "contain the heads" in result.output


def test_deleting_the_last_events_after_a_checkpoint_is_caught(
        db, runner, make_org, tmp_path) -> None:  # noqa: ANN001
    """Truncating the chain passes plain verify but fails against the checkpoint."""
    org = make_org()
    add_events(db, org, 5)
    out = tmp_path / "checkpoint.json"
    take_checkpoint(runner, out)
    head = json.loads(out.read_text())["heads"][0]["seq"]
    tamper(db, delete(AuditEvent).where(AuditEvent.organization_id == org.id,
                                        AuditEvent.seq > head - 2))
    assert verify(runner).exit_code == 0  # the shorter chain is consistent in itself
    result = verify(runner, "--checkpoint", str(out))
    assert result.exit_code != 0
    assert f"{org.name}: checkpoint of audit event #{head}" in result.output
    assert "missing: events were deleted" in result.output


def test_rewriting_the_chain_with_recomputed_sha256_is_caught(
        db, runner, make_org, tmp_path) -> None:  # noqa: ANN001
    """Editing an event and recomputing every plain SHA-256 fails against the checkpoint."""
    org = make_org()
    add_events(db, org, 4)
    out = tmp_path / "checkpoint.json"
    take_checkpoint(runner, out)
    chain = list(db.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id)
                            .order_by(AuditEvent.seq)))
    chain[1].payload = {"n": "rewritten"}
    prev, statements = audit.GENESIS, []
    for event in chain:
        new = audit.chain_hash(prev, event)
        statements.append(update(AuditEvent).where(AuditEvent.id == event.id).values(
            payload=event.payload, prev_hash=prev, hash=new))
        prev = new
    db.expire_all()
    tamper(db, *statements)
    assert verify(runner).exit_code == 0  # a consistent, recomputed chain
    result = verify(runner, "--checkpoint", str(out))
    assert result.exit_code != 0
    assert f"audit event #{chain[-1].seq} has another hash" in result.output
    assert "rewritten since" in result.output and org.name in result.output


def test_a_tampered_checkpoint_signature_is_refused(
        app, db, runner, make_org, tmp_path) -> None:  # noqa: ANN001
    """A changed head, or one signed with another secret key, fails naming what it claims."""
    org = make_org()
    add_events(db, org, 3)
    out = tmp_path / "checkpoint.json"
    take_checkpoint(runner, out)
    data = json.loads(out.read_text())
    data["heads"][0]["seq"] = 2  # as if the checkpoint had been taken before the last event
    out.write_text(json.dumps(data))
    result = verify(runner, "--checkpoint", str(out))
    assert result.exit_code != 0
    assert f"organization id {org.id} at event #2" in result.output
    assert "does not match" in result.output
    forged = checkpoints.make_checkpoint(db, checkpoints.checkpoint_key("another secret"), org)
    out.write_text(json.dumps(forged))
    assert verify(runner, "--checkpoint", str(out)).exit_code != 0
    out.write_text("not json")
    result = verify(runner, "--checkpoint", str(out))
    assert result.exit_code != 0 and "not a readable checkpoint" in result.output


def test_checkpoint_of_one_organization_by_id_or_exact_name(
        db, runner, make_org, tmp_path) -> None:  # noqa: ANN001
    """--org takes an id or the exact name; verify --org checks only that head."""
    first, second = make_org("Harbour Air Logistics"), make_org("Pacific Coastal Freight")
    add_events(db, first, 2)
    add_events(db, second, 2)
    by_id, by_name = tmp_path / "a.json", tmp_path / "b.json"
    take_checkpoint(runner, by_id, "--org", str(second.id))
    take_checkpoint(runner, by_name, "--org", "Pacific Coastal Freight")
    for out in (by_id, by_name):
        assert [h["organization"] for h in json.loads(out.read_text())["heads"]] == [second.id]
    result = runner.invoke(args=["audit", "checkpoint", "--out", str(by_id), "--org",
                                 "pacific coastal freight"])
    assert result.exit_code != 0 and f"id {second.id}: 'Pacific Coastal Freight'" in result.output
    tamper(db, delete(AuditEvent).where(AuditEvent.organization_id == first.id,
                                        AuditEvent.seq == 2))
    assert verify(runner, "--org", str(second.id), "--checkpoint", str(by_id)).exit_code == 0


def test_every_evidence_export_carries_its_organizations_checkpoint(
        app, db, make_org, make_position) -> None:  # noqa: ANN001
    """The ZIP holds checkpoint.json: this organization's signed head only."""
    org, other = make_org("Harbour Air Logistics"), make_org("Pacific Coastal Freight")
    add_events(db, other, 2)
    position = make_position(org=org)
    spool = io.BytesIO()
    manifest = evidence.write_export(db, position, spool, None)
    db.commit()
    with zipfile.ZipFile(spool) as archive:
        signed = json.loads(archive.read("checkpoint.json"))
        assert "checkpoint.json" in archive.read("VERIFY.txt").decode()
    assert [h["organization"] for h in signed["heads"]] == [org.id]
    chain = manifest["chain"]["events"]
    assert signed["heads"][0]["seq"] >= (chain[-1]["seq"] if chain else 0)
    key = checkpoints.checkpoint_key(app.config["SECRET_KEY"])
    assert checkpoints.verify_checkpoint(db, signed, key) == []


def test_a_daily_checkpoint_is_a_periodic_task_of_the_queue(
        app, db, make_org, tmp_path) -> None:  # noqa: ANN001
    """The worker writes a signed checkpoint into CHECKPOINT_DIR every day at 03:45 UTC."""
    org = make_org()
    add_events(db, org, 2)
    huey, task = queue().huey, queue().checkpoint
    assert "checkpoint" in [t.name for t in huey.read_periodic(datetime(2026, 12, 1, 3, 45))]
    assert "checkpoint" not in [t.name for t in huey.read_periodic(datetime(2026, 12, 1, 4, 45))]
    assert checkpoint_dir(app) == Path(app.instance_path) / "checkpoints"
    app.config["CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    written = Path(task.call_local())
    assert written.parent == tmp_path / "checkpoints" and written.name.endswith("Z.json")
    signed = checkpoints.read_checkpoint(written)
    key = checkpoints.checkpoint_key(app.config["SECRET_KEY"])
    assert checkpoints.verify_checkpoint(db, signed, key) == []


def test_the_checkpoint_folder_is_read_from_recruiter_checkpoint_dir(
        tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """RECRUITER_CHECKPOINT_DIR sets where the daily checkpoints go."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("RECRUITER_CHECKPOINT_DIR", str(tmp_path / "elsewhere"))
    configured: Flask = create_app({"TESTING": True, "SECRET_KEY": "s",
                                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                                    "QUEUE_URL": "memory://"})
    assert checkpoint_dir(configured) == tmp_path / "elsewhere"


def test_an_erasure_hash_cannot_be_confirmed_by_sha256_of_a_guessed_email(
        db, make_org) -> None:  # noqa: ANN001
    """Erasure requests keep an HMAC keyed from the secret key, not a plain SHA-256."""
    org = make_org()
    email = "ana.guessed@example.com"
    request = retention.request_erasure(db, org, email.upper(), None)
    db.commit()
    plain = hashlib.sha256(email.encode()).hexdigest()
    assert request.email_hash_kind == "hmac" and request.email_sha256 != plain
    assert plain not in json.dumps([e.payload for e in db.scalars(select(AuditEvent))])
    assert request.email_sha256 == retention._email_hash(email)  # stable for the same key


def test_legacy_plain_sha256_erasure_requests_still_match(db, make_org, make_position) -> None:  # noqa: ANN001
    """Rows from before migration 0007 keep their plain hash and are still matched by it."""
    from recruiter.models import Candidate

    org = make_org()
    make_position(org=org)
    person = db.scalars(select(Candidate).where(Candidate.organization_id == org.id)).first()
    legacy = ErasureRequest(organization_id=org.id, email_sha256=hashlib.sha256(
        person.email.lower().encode()).hexdigest(), email_hash_kind="sha256", status="restricted")
    db.add(legacy)
    db.flush()
    assert retention._candidates_with(db, org, legacy) == [person]
    keyed = ErasureRequest(organization_id=org.id, email_sha256=legacy.email_sha256,
                           email_hash_kind="hmac", status="restricted")
    assert retention._candidates_with(db, org, keyed) == []


@pytest.mark.parametrize("secret", ["one", b"two"])
def test_derived_keys_differ_by_purpose(secret) -> None:  # noqa: ANN001
    """The checkpoint key and the erasure key are distinct keys derived from one secret."""
    assert audit.derive_key("a", secret) != audit.derive_key("b", secret)
    assert checkpoints.checkpoint_key(secret) == audit.derive_key(checkpoints.PURPOSE, secret)
