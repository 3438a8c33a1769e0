"""The audit trail, the evidence export, retention and erasure (issue 5).

Every test runs on SQLite and, when RECRUITER_TEST_POSTGRES_URL is set, on PostgreSQL. The
letters are the real ones: the Vancouver batch is approved, frozen and sent through the file
outbox, so the bytes ``audit verify`` and the export check are exactly those that went out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import VANCOUVER
from flask import Flask
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from recruiter.extensions import db as _db
from recruiter.models import (
    Application,
    AuditEvent,
    Candidate,
    Delivery,
    ErasureRequest,
    FrozenLetter,
    Letter,
    Member,
    Organization,
    Position,
)
from recruiter.queue import queue
from recruiter.services import approval, audit, retention, sending
from recruiter.services import letters as letters_service
from recruiter.services.outcomes import change_outcome
from recruiter.services.positions import save_note

ORG = "Harbour Air Logistics"
EVIL = "=cmd|' /C calc'!A0"  # a spreadsheet formula as a first name
TRIGGER = "audit_event_append_only"
HEADER = ("first_name,last_name,email,address_line1,address_line2,city,region,postal_code,"
          "country,stage,outcome,note\n")


# --- helpers -----------------------------------------------------------------------------------


def vancouver_rows() -> list[dict[str, str]]:
    """The Vancouver CSV as dictionaries."""
    with VANCOUVER.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def personal_texts(rows: list[dict[str, str]]) -> set[str]:
    """Every name, email, address and note in ``rows`` (names shorter than 5 only in full)."""
    found: set[str] = set()
    for row in rows:
        first, last = row["first_name"], row["last_name"]
        found |= {f"{first} {last}", row["email"], row["note"], row["address_line1"],
                  row["address_line2"], row["postal_code"]}
        found |= {name for name in (first, last) if len(name) >= 5}
    return {value for value in found if value}


def find_personal(data: bytes | str, needles: set[str]) -> set[str]:
    """The needles present in ``data`` (emails case-insensitively)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    lowered = raw.lower()
    hits = set()
    for needle in needles:
        encoded = needle.encode("utf-8")
        if encoded in raw or ("@" in needle and encoded.lower() in lowered):
            hits.add(needle)
    return hits


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).encode()
    return str(value).encode("utf-8")


def personal_in_tables(db, needles: set[str]) -> dict[str, set[str]]:  # noqa: ANN001
    """Every table and column (of any type) still holding one of the needles."""
    db.expire_all()
    found: dict[str, set[str]] = {}
    engine = db.get_bind()
    for table in inspect(engine).get_table_names():
        quoted = engine.dialect.identifier_preparer.quote(table)
        result = db.execute(text(f"SELECT * FROM {quoted}"))  # noqa: S608 (a reflected name)
        columns = list(result.keys())
        for row in result:
            for column, value in zip(columns, row, strict=True):
                if hits := find_personal(_as_bytes(value), needles):
                    found.setdefault(f"{table}.{column}", set()).update(hits)
    return found


def personal_in_files(folder: Path, needles: set[str]) -> dict[str, set[str]]:
    """Every file under ``folder`` whose bytes hold one of the needles."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (hits := find_personal(path.read_bytes(), needles)):
            found[str(path.relative_to(folder))] = hits
    return found


def events(db, org: Organization) -> list[AuditEvent]:  # noqa: ANN001
    """The organization's chain in order, fresh from the database."""
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id)
                           .order_by(AuditEvent.seq)))


def is_postgres(db) -> bool:  # noqa: ANN001
    return db.get_bind().dialect.name == "postgresql"


def outbox_of(app: Flask) -> Path:
    return Path(app.config["MAIL_URL"].removeprefix("file://"))


def verify_cli(runner, *args: str):  # noqa: ANN001, ANN201
    return runner.invoke(args=["audit", "verify", *args])


def assert_broken(result, *expected: str) -> None:  # noqa: ANN001
    """Exit code non-zero, and the output names each expected pattern (regular expressions)."""
    assert result.exit_code != 0, result.output
    assert "BROKEN" in result.output, result.output
    for pattern in expected:
        assert re.search(pattern, result.output), (pattern, result.output)


@dataclass
class Sent:
    """An organization, its manager, and a position whose batch went out."""

    org: Organization
    member: Member
    position: Position


@pytest.fixture
def send(app, db, make_org, make_member, make_position) -> Callable[..., Sent]:  # noqa: ANN001
    """Approve, freeze and send a position's letters (by default the Vancouver batch)."""

    def make(csv_bytes: bytes | None = None, org: Organization | None = None) -> Sent:
        org = org or make_org(ORG)
        member = make_member("manager", org=org)
        position = make_position(org=org, csv=csv_bytes)
        letters = letters_service.refresh_letters(db, position)
        count = sum(1 for x in letters if x.status == "draft")
        approval.approve_all(db, position, member, expected_count=count,
                                    acknowledge_warnings=True)
        org.sender_email = "hiring@harbourair.example.com"
        batch, created = sending.freeze_batch(db, position, member, hold_until_accepted=False)
        db.commit()
        assert created and batch.state == "released"
        ids = [d.id for d in sending.deliveries_of(db, batch)
               if d.channel == "email" and d.state == "queued"]
        queue().enqueue(ids)  # QUEUE_IMMEDIATE: each one is written to the outbox right here
        db.expire_all()
        states = sending.state_counts(db, position)
        assert states.get("sent") == len(ids), states
        return Sent(org, member, position)

    return make


def letters_of(db, position: Position) -> list[Letter]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(Letter).join(Application)
                           .where(Application.position_id == position.id).order_by(Letter.id)))


def copies_of(db, position: Position) -> list[FrozenLetter]:  # noqa: ANN001
    """The position's frozen letters, by letter id."""
    db.expire_all()
    return list(db.scalars(select(FrozenLetter).join(Letter).join(Application)
                           .where(Application.position_id == position.id)
                           .order_by(FrozenLetter.letter_id)))


# --- the intact chain --------------------------------------------------------------------------


def test_verify_passes_on_the_sent_vancouver_batch(app, db, send, runner) -> None:  # noqa: ANN001
    """28 emails left, every step is in the chain, and `audit verify` exits 0."""
    sent = send()
    copies = copies_of(db, sent.position)
    assert len(copies) == 29
    assert sum(1 for x in copies if x.eml is not None) == 28
    assert sum(1 for x in copies if x.pdf is not None) == 1  # the postal letter's alone
    assert len(list(outbox_of(app).glob("*.eml"))) == 28
    actions = [e.action for e in events(db, sent.org)]
    assert actions.count("letter.frozen") == 29
    assert actions.count("delivery.attempt") == 28
    assert {"candidates.imported", "letters.approved_all", "batch.frozen"} <= set(actions)
    # every letter's bytes were recorded before any of them was sent
    assert max(i for i, a in enumerate(actions) if a == "letter.frozen") < actions.index(
        "delivery.attempt")
    result = verify_cli(runner)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    result = verify_cli(runner, "--org", ORG)
    assert result.exit_code == 0, result.output
    result = verify_cli(runner, "--org", ORG.lower())  # exact names only (issue 13)
    assert result.exit_code != 0 and "exactly one organization" in result.output, result.output
    result = verify_cli(runner, "--org", "Nobody Ltd")
    assert result.exit_code != 0 and "no organization" in result.output, result.output


# --- tampering ---------------------------------------------------------------------------------


def write_audit(db, *statements) -> None:  # noqa: ANN001
    """Change audit rows the way an attacker would: on PostgreSQL past the trigger.

    A plain UPDATE or DELETE must be refused there; an owner of the table can still switch
    the trigger off, which is why `audit verify` has to catch the change anyway.
    """
    if is_postgres(db):
        for statement in statements:
            with pytest.raises(DBAPIError, match="append-only"):
                db.execute(statement)
            db.rollback()
        db.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {TRIGGER}"))
    for statement in statements:
        db.execute(statement)
    if is_postgres(db):
        db.execute(text(f"ALTER TABLE audit_event ENABLE TRIGGER {TRIGGER}"))
    db.commit()
    if is_postgres(db):  # the guard is back for everyone else
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(delete(AuditEvent).where(AuditEvent.seq == 1))
        db.rollback()


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def frozen_event(db, org: Organization, letter: Letter) -> AuditEvent:  # noqa: ANN001
    return next(e for e in events(db, org)
                if e.action == "letter.frozen" and e.subject_id == letter.id)


@pytest.mark.slow
def test_changing_one_byte_of_a_stored_email_is_found(db, send, runner, make_org) -> None:  # noqa: ANN001
    """Even with the letter's own SHA-256 column rewritten, the chain still knows."""
    sent = send()
    other = make_org("Fraser Valley Freight")
    victim = [x for x in copies_of(db, sent.position) if x.eml is not None][6]
    forged = flip_byte(victim.eml, len(victim.eml) // 2)
    db.execute(update(FrozenLetter).where(FrozenLetter.id == victim.id)
               .values(eml=forged, eml_sha256=audit.sha256_hex(forged)))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {victim.letter_id}\b", r"email bytes")
    assert_broken(verify_cli(runner, "--org", ORG), rf"letter {victim.letter_id}\b")
    result = verify_cli(runner, "--org", other.name)  # another organization is not affected
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_changing_one_byte_of_a_stored_pdf_is_found(db, send, runner) -> None:  # noqa: ANN001
    sent = send()
    post = next(x for x in copies_of(db, sent.position) if x.eml is None)  # the postal letter
    db.execute(update(FrozenLetter).where(FrozenLetter.id == post.id)
               .values(pdf=flip_byte(post.pdf, len(post.pdf) - 40)))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {post.letter_id}\b", r"PDF bytes")
    db.execute(update(FrozenLetter).where(FrozenLetter.id == post.id).values(pdf=post.pdf + b"\n"))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {post.letter_id}\b", r"PDF bytes")
    # An email letter has no frozen PDF; one that appears from nowhere is found too.
    email = next(x for x in copies_of(db, sent.position) if x.eml is not None)
    db.execute(update(FrozenLetter).where(FrozenLetter.id == post.id).values(pdf=post.pdf))
    db.execute(update(FrozenLetter).where(FrozenLetter.id == email.id).values(pdf=post.pdf))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {email.letter_id}\b", r"PDF bytes")


@pytest.mark.slow
def test_changing_one_audit_payload_is_found(db, send, runner) -> None:  # noqa: ANN001
    """An attacker swaps a letter and the hash the chain recorded for it: the event breaks."""
    sent = send()
    victim = [x for x in copies_of(db, sent.position) if x.eml is not None][3]
    event = frozen_event(db, sent.org, victim.letter)
    event_id, seq = event.id, event.seq
    forged = flip_byte(victim.eml, 200)
    payload = dict(event.payload, eml_sha256=audit.sha256_hex(forged))
    db.execute(update(FrozenLetter).where(FrozenLetter.id == victim.id)
               .values(eml=forged, eml_sha256=audit.sha256_hex(forged)))
    db.commit()
    write_audit(db, update(AuditEvent).where(AuditEvent.id == event_id).values(payload=payload))
    assert frozen_event(db, sent.org, victim.letter).payload["eml_sha256"] == payload["eml_sha256"]
    assert_broken(verify_cli(runner), rf"audit event #{seq}\b", r"letter\.frozen",
                  r"changed")


@pytest.mark.slow
def test_deleting_an_audit_row_is_found(db, send, runner) -> None:  # noqa: ANN001
    sent = send()
    chain = events(db, sent.org)
    victim = next(e for e in chain[len(chain) // 2:] if e.action == "delivery.attempt")
    victim_id, seq = victim.id, victim.seq
    write_audit(db, delete(AuditEvent).where(AuditEvent.id == victim_id))
    assert len(events(db, sent.org)) == len(chain) - 1
    assert_broken(verify_cli(runner), rf"expected event #{seq}\b", r"deleted",
                  rf"audit event #{seq + 1}\b")


@pytest.mark.slow
def test_reordering_two_audit_rows_is_found(db, send, runner) -> None:  # noqa: ANN001
    """Swap the sequence numbers of two events (via a free number: seq is unique)."""
    sent = send()
    chain = events(db, sent.org)
    (one, one_seq), (two, two_seq) = ((e.id, e.seq) for e in (chain[10], chain[14]))
    write_audit(db,
                update(AuditEvent).where(AuditEvent.id == one).values(seq=-1),
                update(AuditEvent).where(AuditEvent.id == two).values(seq=one_seq),
                update(AuditEvent).where(AuditEvent.id == one).values(seq=two_seq))
    after = {e.id: e.seq for e in events(db, sent.org)}
    assert (after[one], after[two]) == (two_seq, one_seq)
    assert_broken(verify_cli(runner), rf"audit event #{one_seq}\b", r"reordered")


def test_removing_a_letter_or_its_bytes_is_found(db, send, runner) -> None:  # noqa: ANN001
    """Evidence destroyed rather than altered: bytes gone without a purge, or the whole row."""
    rows = vancouver_rows()
    sent = send(small_csv(rows[:4], hired=rows[0]["email"]))
    first, second, _ = letters_of(db, sent.position)
    eml = first.frozen.eml
    seqs = {e.subject_id: e.seq for e in events(db, sent.org) if e.action == "letter.frozen"}
    db.execute(update(FrozenLetter).where(FrozenLetter.letter_id == first.id).values(eml=None))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {first.id}\b", r"email bytes",
                  rf"event #{seqs[first.id]}\b", r"never purged")
    db.execute(update(FrozenLetter).where(FrozenLetter.letter_id == first.id).values(eml=eml))
    db.execute(delete(Delivery).where(Delivery.letter_id == second.id))
    db.execute(delete(Letter).where(Letter.id == second.id))
    db.commit()
    assert_broken(verify_cli(runner), rf"letter {second.id}\b", rf"event #{seqs[second.id]}\b",
                  r"no longer in the database")


def test_update_and_delete_of_audit_rows(db, make_org) -> None:  # noqa: ANN001
    """PostgreSQL refuses every UPDATE, DELETE and TRUNCATE; SQLite cannot, verify catches it."""
    org = make_org()
    audit.record(db, org.id, "test.event", payload={"n": 1})
    audit.record(db, org.id, "test.event", payload={"n": 2})
    db.commit()
    before = [(e.id, e.seq, e.action, e.payload, e.hash) for e in events(db, org)]
    statements = (update(AuditEvent).values(action="test.changed"),
                  text("UPDATE audit_event SET payload = '{}'"),
                  delete(AuditEvent), text("DELETE FROM audit_event"),
                  text("TRUNCATE audit_event"))
    if not is_postgres(db):
        db.execute(statements[0])
        db.commit()
        [problem] = audit.verify(db)
        assert problem.where.startswith("audit event #1 ") and "changed" in problem.what
        return
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(statement)
        db.rollback()
    assert [(e.id, e.seq, e.action, e.payload, e.hash) for e in events(db, org)] == before
    assert audit.verify(db) == []


# --- the evidence export -----------------------------------------------------------------------


def verify_snippet(verify_txt: str) -> str:
    """The shell command VERIFY.txt gives for recomputing the chain, exactly as written."""
    lines = verify_txt.splitlines()
    start = next(i for i, line in enumerate(lines) if "python3 -c" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith("'"))
    return "\n".join(lines[start:end + 1])


@pytest.mark.slow
def test_export_of_the_sent_vancouver_batch(app, db, send, runner, tmp_path) -> None:  # noqa: ANN001
    """28 emails and 29 PDFs, byte-identical; sha256sum, the manifest and the chain agree."""
    data = VANCOUVER.read_bytes().replace(b"\nDaniel,Okafor,", f"\n{EVIL},Okafor,".encode())
    assert EVIL.encode() in data
    sent = send(data)
    out = tmp_path / "exports" / "vancouver.zip"
    out.parent.mkdir()
    result = runner.invoke(args=["audit", "export", str(sent.position.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        archive.extractall(folder)
    emls = sorted(folder.rglob("*.eml"))
    pdfs = sorted(folder.rglob("*.pdf"))
    assert len(emls) == 28 and len(pdfs) == 1  # an email's copy is its .eml; post, its PDF

    # 1. sha256sum, the standard tool, agrees with every file
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 29

    # 2. the files are exactly the stored (and sent) bytes, and the manifest says so
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    stored = {x.letter_id: x for x in copies_of(db, sent.position)}
    assert len(manifest["letters"]) == 29 == len(stored)
    for entry in manifest["letters"]:
        letter = stored[entry["letter"]]
        assert entry["eml_sha256"] == entry["chain_eml_sha256"] == letter.eml_sha256
        assert entry["pdf_sha256"] == entry["chain_pdf_sha256"] == letter.pdf_sha256
        assert "purged" not in entry
        files = {Path(name).suffix: folder / name for name in entry["files"]}
        if letter.eml is None:
            assert entry["channel"] == "post" and entry["eml_sha256"] is None
            assert ".eml" not in files
            assert files[".pdf"].read_bytes() == letter.pdf
            assert hashlib.sha256(files[".pdf"].read_bytes()).hexdigest() == entry["pdf_sha256"]
        else:
            assert ".pdf" not in files and entry["pdf_sha256"] is None
            assert files[".eml"].read_bytes() == letter.eml
            assert hashlib.sha256(files[".eml"].read_bytes()).hexdigest() == entry["eml_sha256"]
            outbox = outbox_of(app) / (re.sub(r"[^A-Za-z0-9._-]", "_",
                                              letter.message_id.strip("<>")) + ".eml")
            assert outbox.read_bytes() == letter.eml  # what was sent is what is exported
            assert entry["delivery_state"] == "sent"

    # 3. the chain segment recomputes exactly as VERIFY.txt describes, link by link
    chain = manifest["chain"]["events"]
    verify_txt = (folder / "VERIFY.txt").read_text(encoding="utf-8")
    assert "sha256sum -c SHA256SUMS" in verify_txt
    previous = None
    for event in chain:
        body = {k: event[k] for k in ("org", "seq", "actor", "action", "subject", "at",
                                      "payload")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
        assert hashlib.sha256(event["prev_hash"].encode() + canonical).hexdigest() == \
            event["hash"], event
        if previous is not None:
            assert event["seq"] == previous["seq"] + 1
            assert event["prev_hash"] == previous["hash"]
        previous = event
    frozen = {e["subject"][1]: e["payload"] for e in chain if e["action"] == "letter.frozen"}
    assert set(frozen) == set(stored)
    for entry in manifest["letters"]:
        assert frozen[entry["letter"]]["eml_sha256"] == entry["eml_sha256"]
        assert frozen[entry["letter"]]["pdf_sha256"] == entry["pdf_sha256"]
    # ... and it is the organization's chain as the database holds it
    in_db = {e.seq: e.hash for e in events(db, sent.org)}
    assert all(in_db[e["seq"]] == e["hash"] for e in chain)
    # ... and VERIFY.txt's own command, pasted into a shell as printed, says OK for each
    run = subprocess.run(["bash", "-c", verify_snippet(verify_txt)], cwd=folder,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    verdicts = run.stdout.splitlines()
    assert len(verdicts) == len(chain) + 29, run.stdout
    assert all(line.endswith(" OK") for line in verdicts), run.stdout
    # (and it does check: a changed payload in the manifest is reported)
    forged = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    target = next(e for e in forged["chain"]["events"] if e["action"] == "letter.frozen")
    target["payload"]["pdf_sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(forged), encoding="utf-8")
    run = subprocess.run(["bash", "-c", verify_snippet(verify_txt)], cwd=folder,
                         capture_output=True, text=True)
    broken = [line for line in run.stdout.splitlines() if line.endswith("BROKEN")]
    assert broken == [f"event {target['seq']} letter.frozen BROKEN",
                      f"letter {target['subject'][1]} BROKEN"], run.stdout

    # 4. the CSV index: one row per letter, formulas neutralised
    with (folder / "index.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 29
    evil = next(r for r in rows if "calc" in r["candidate"])
    assert evil["candidate"] == f"'{EVIL} Okafor"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert {r["eml_sha256"] for r in rows if r["eml_file"]} == {
        x.eml_sha256 for x in stored.values() if x.eml is not None}

    # 5. the export is itself in the chain, after everything it covers
    last = events(db, sent.org)[-1]
    assert last.action == "export.position"
    assert (last.subject_type, last.subject_id) == ("position", sent.position.id)
    assert last.payload == {"letters": 29, "files": 29}
    assert last.seq > max(e["seq"] for e in chain)
    assert verify_cli(runner).exit_code == 0
    assert_events_hold_no_personal_text(db, personal_texts(vancouver_rows()) | {EVIL})


# --- retention ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_purge_past_retention_leaves_no_personal_data(app, db, send, runner, tmp_path) -> None:  # noqa: ANN001
    """After the purge no name, email, address or note is in any table, file or export."""
    rows = vancouver_rows()
    needles = personal_texts(rows)
    sent = send()
    instance = Path(app.instance_path)
    imports = instance / "imports"
    imports.mkdir(exist_ok=True)
    (imports / f"{sent.org.id}-{sent.position.id}-previewnobodyconfirmed.csv").write_bytes(
        VANCOUVER.read_bytes())  # an upload someone previewed and never confirmed
    outbox = outbox_of(app)

    # the searches work: before the purge they find the data everywhere
    assert "candidate.email" in personal_in_tables(db, needles)
    assert "application.note" in personal_in_tables(db, needles)
    assert personal_in_files(outbox, needles) and personal_in_files(instance, needles)
    assert_events_hold_no_personal_text(db, needles)

    until = retention.keep_until(sent.position, sent.org)
    assert until == retention.add_months(sent.position.filled_at, 12)
    report = retention.purge(db, now=until - timedelta(minutes=1), outbox=outbox,
                             imports=imports)
    assert report.candidates == 0  # still within retention: nothing happens
    db.commit()
    dry = retention.purge(db, now=until + timedelta(days=1), dry_run=True, outbox=outbox,
                          imports=imports)
    db.rollback()
    assert dry.candidates == 30 and personal_in_tables(db, needles)

    later = until + timedelta(days=1)
    report = retention.purge(db, now=later, outbox=outbox, imports=imports)
    db.commit()
    retention.compact(db)
    assert (report.candidates, report.letters, report.files) == (30, 29, 28)

    assert personal_in_tables(db, needles) == {}
    if is_postgres(db):
        pass  # the server's data files are not ours to read; the tables were checked above
    else:
        database = Path(db.get_bind().url.database)
        for path in (database, *(database.with_name(database.name + s)
                                 for s in ("-wal", "-journal", "-shm"))):
            if path.exists():
                assert find_personal(path.read_bytes(), needles) == set(), path
    assert personal_in_files(instance, needles) == {}
    assert personal_in_files(outbox, needles) == {}
    assert personal_in_files(tmp_path, needles) == {}  # anything else the test run wrote
    assert_events_hold_no_personal_text(db, needles)

    # the chain still verifies: it never held the data, only hashes
    result = verify_cli(runner)
    assert result.exit_code == 0, result.output
    purge_event = next(e for e in reversed(events(db, sent.org))
                       if e.action == "retention.purge")
    assert purge_event.payload == {"candidates": 30, "letters": 29, "outbox_files": 28,
                                   "retention_months": 12}

    # the export says who was purged, when and under which rule, and holds no letter
    out = tmp_path / "purged.zip"
    result = runner.invoke(args=["audit", "export", str(sent.position.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
        assert find_personal(b"".join(archive.read(n) for n in names), needles) == set()
    assert not [n for n in names if n.startswith("letters/")]
    assert len(manifest["letters"]) == 29
    for entry in manifest["letters"]:
        assert entry["files"] == []
        assert datetime.fromisoformat(entry["purged"]["at"]) == later
        assert entry["purged"]["rule"] == "retention: 12 months after the position was filled"
        assert entry["eml_sha256"] == entry["chain_eml_sha256"]  # the hashes stay
        assert entry["pdf_sha256"] == entry["chain_pdf_sha256"]
    assert len(index) == 29
    for row in index:
        assert row["candidate"] == row["email"] == row["eml_file"] == row["pdf_file"] == ""
        assert "retention: 12 months" in row["purged"]
    assert personal_in_files(tmp_path, needles) == {}
    assert verify_cli(runner).exit_code == 0


def test_cli_purge_dry_run_then_purge(app, db, make_org, make_position, runner) -> None:  # noqa: ANN001
    """`audit purge --dry-run` only counts; `audit purge` deletes what is past retention.

    Daniel applied again for a position that is still open: he is kept.
    """
    daniel = vancouver_rows()[1]
    org = make_org(ORG, retention_months=6)
    past = make_position(org=org)
    current = make_position(org=org, csv=small_csv([daniel, {
        **daniel, "first_name": "Robin", "last_name": "Tremblay", "email": "robin.t@example.org",
        "note": "Your dock audit stood out."}]))
    past.filled_at = datetime.now(UTC) - timedelta(days=200)  # 6 months ago and more
    instance = Path(app.instance_path)
    (instance / "imports").mkdir(exist_ok=True)
    fresh = instance / "imports" / f"{org.id}-{current.id}-uploadedjustnow.csv"
    fresh.write_bytes(VANCOUVER.read_bytes())  # someone is looking at this preview right now
    db.commit()
    result = runner.invoke(args=["audit", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "29 candidates would be purged" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Candidate)
                     .where(Candidate.purged_at.is_not(None))) == 0
    result = runner.invoke(args=["audit", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged 29 candidates" in result.output
    db.expire_all()
    purged = {c.id for c in db.scalars(select(Candidate).where(Candidate.purged_at.is_not(None)))}
    kept = db.scalars(select(Candidate).join(Application)
                      .where(Application.position_id == current.id)
                      .order_by(Candidate.email)).all()
    assert len(purged) == 29
    assert [c.email for c in kept] == [daniel["email"], "robin.t@example.org"]
    assert all(c.purge_rule == "retention: 6 months after the position was filled"
               for c in db.scalars(select(Candidate).where(Candidate.id.in_(purged))))
    assert fresh.exists()
    assert verify_cli(runner).exit_code == 0


@pytest.mark.slow
def test_cli_purge_clears_the_outbox_and_acknowledged_warnings(  # noqa: ANN001
        app, db, send, runner, tmp_path) -> None:
    """An outbox whose path needs %-escaping in its URL, and warnings that quote names."""
    rows = vancouver_rows()
    app.config["MAIL_URL"] = (tmp_path / "mail out ü").as_uri()
    same = "Your calm handling of the winter schedule disruption impressed the whole panel."
    people = [rows[0], {**rows[1], "note": same}, {**rows[2], "note": same}]
    sent = send(small_csv(people, hired=rows[0]["email"]))
    outbox = tmp_path / "mail out ü"
    assert len(list(outbox.glob("*.eml"))) == 2
    warned = [w for x in letters_of(db, sent.position) for w in x.acknowledged]
    assert warned and all(set(w) == {"check", "severity", "start", "end"} for w in warned)
    db.get(Position, sent.position.id).filled_at = datetime.now(UTC) - timedelta(days=400)
    db.commit()
    result = runner.invoke(args=["audit", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged 3 candidates, 2 letters, 2 outbox files" in result.output
    assert list(outbox.iterdir()) == []
    needles = personal_texts(people)
    assert personal_in_tables(db, needles) == {}
    assert personal_in_files(tmp_path, needles) == {}
    for letter in letters_of(db, sent.position):
        assert {w["check"] for w in letter.acknowledged} == {"duplicate-note"}
    assert verify_cli(runner).exit_code == 0


# --- erasure -----------------------------------------------------------------------------------


def small_csv(rows: list[dict[str, str]], hired: str | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER.strip().split(","), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(dict(row, outcome="hired" if row["email"] == hired else "declined"))
    return out.getvalue().encode()


def candidate(db, email: str) -> Candidate:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(Candidate).where(func.lower(Candidate.email) == email.lower()))


def test_erasure_is_restricted_while_retention_applies_then_done(  # noqa: ANN001
        db, make_org, make_member, make_position, runner) -> None:
    """Open position: kept with a legal reason; erased by the purge when retention ends."""
    rows = vancouver_rows()
    org = make_org(ORG)
    admin = make_member("admin", org=org)
    person, colleague, hire = rows[1], rows[2], rows[3]
    position = make_position(org=org, csv=small_csv([person, colleague, hire]))
    assert position.status == "open" and position.filled_at is None
    application = db.scalar(select(Application).join(Candidate)
                            .where(Candidate.email == person["email"]))
    private = "Mentioned a health condition during the panel interview."
    save_note(db, application, private, base_revision=application.note_revision, by=admin)
    db.commit()

    request = retention.request_erasure(db, org, person["email"].upper(), admin)
    db.commit()
    assert request.status == "restricted"
    assert "still open" in request.reason and request.carried_out_at is None
    kept = candidate(db, person["email"])
    assert (kept.first_name, kept.last_name, kept.purged_at) == (person["first_name"],
                                                                 person["last_name"], None)
    assert db.get(Application, application.id).note == private
    restricted = events(db, org)[-1]
    assert restricted.action == "erasure.restricted" and restricted.actor_id == admin.id
    assert restricted.payload["email_hmac"] == request.email_sha256 != audit.sha256_hex(
        person["email"].lower())  # keyed (issue 13): a guessed address cannot be confirmed
    assert (restricted.subject_type, restricted.subject_id) == ("erasurerequest", request.id)

    # the position is filled: retention now runs from then
    hired = db.scalar(select(Application).join(Candidate).where(Candidate.email == hire["email"]))
    change_outcome(db, hired, "hired", by=admin)
    db.commit()
    until = retention.keep_until(db.get(Position, position.id), org)
    assert until is not None
    again = retention.request_erasure(db, org, person["email"], admin)
    db.commit()
    assert again.status == "restricted" and f"Kept until {until:%Y-%m-%d}" in again.reason
    report = retention.purge(db, now=until - timedelta(days=1))
    db.commit()
    assert report.candidates == 0 and candidate(db, person["email"]) is not None
    assert db.get(ErasureRequest, request.id).status == "restricted"

    later = until + timedelta(days=1)
    report = retention.purge(db, now=later)
    db.commit()
    assert report.erasures_done == 2 and report.candidates == 3
    assert candidate(db, person["email"]) is None
    erased = db.get(Candidate, kept.id)
    assert (erased.first_name, erased.last_name, erased.email) == ("", "", None)
    assert erased.purged_at == later and db.get(Application, application.id).note == ""
    for done in (db.get(ErasureRequest, request.id), db.get(ErasureRequest, again.id)):
        assert done.status == "done" and done.carried_out_at == later
    chain = events(db, org)
    done_events = [e for e in chain if e.action == "erasure.done"]
    assert {e.subject_id for e in done_events} == {request.id, again.id}
    assert all(e.payload["after_retention"] is True for e in done_events)
    assert chain[-1].action == "retention.purge"
    assert_events_hold_no_personal_text(db, personal_texts(rows) | {private})
    assert personal_in_tables(db, personal_texts([person, colleague, hire]) | {private}) == {}
    assert verify_cli(runner).exit_code == 0


def test_erasure_past_retention_is_carried_out_at_once(  # noqa: ANN001
        db, make_org, make_member, make_position, runner) -> None:
    rows = vancouver_rows()
    org = make_org(ORG)
    admin = make_member("admin", org=org)
    person, other = rows[4], rows[5]
    old = make_position(org=org, csv=small_csv([rows[0], person], hired=rows[0]["email"]))
    old.filled_at = datetime.now(UTC) - timedelta(days=400)
    current = make_position(org=org, csv=small_csv([other]))
    db.commit()

    request = retention.request_erasure(db, org, person["email"], admin)
    db.commit()
    assert request.status == "done" and request.carried_out_at is not None
    assert candidate(db, person["email"]) is None
    erased = db.scalar(select(Candidate).join(Application).where(
        Application.position_id == old.id, Candidate.purged_at.is_not(None)))
    assert erased.purge_rule == "erasure request"
    assert (erased.first_name, erased.last_name) == ("", "")
    event = events(db, org)[-1]
    assert event.action == "erasure.done" and event.subject_id == request.id
    assert personal_in_tables(db, personal_texts([person])) == {}
    # nobody else was touched: not the hire of that position, not another position
    assert candidate(db, rows[0]["email"]) is not None
    assert candidate(db, other["email"]) is not None
    assert db.scalar(select(Position).where(Position.id == current.id)) is not None

    # an address nobody holds is answered too, and logged
    nobody = retention.request_erasure(db, org, "nobody@example.org", admin)
    db.commit()
    assert nobody.status == "done" and "No personal data" in nobody.reason
    assert events(db, org)[-1].payload["candidates"] == 0

    # the command line does the same; an open position restricts
    result = runner.invoke(args=["audit", "erase", other["email"], "--org", ORG])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("restricted:")
    assert candidate(db, other["email"]) is not None
    assert verify_cli(runner).exit_code == 0


@pytest.mark.slow
def test_erasure_removes_the_outbox_copy_of_the_letter(  # noqa: ANN001
        app, db, send, runner, tmp_path) -> None:
    """The `.eml` outbox holds a copy of every sent letter; erasure deletes that copy too."""
    rows = vancouver_rows()
    app.config["MAIL_URL"] = (tmp_path / "outbox").as_uri()
    person, other = rows[1], rows[2]
    sent = send(small_csv([rows[0], person, other], hired=rows[0]["email"]))
    outbox = tmp_path / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 2
    db.get(Position, sent.position.id).filled_at = datetime.now(UTC) - timedelta(days=400)
    db.commit()
    result = runner.invoke(args=["audit", "erase", person["email"], "--org", ORG])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("done:")
    assert personal_in_files(tmp_path, personal_texts([person])) == {}
    left = list(outbox.glob("*.eml"))
    assert len(left) == 1 and other["email"].encode() in left[0].read_bytes()
    assert verify_cli(runner).exit_code == 0


def test_purge_is_a_periodic_task_of_the_queue(app, db, send, tmp_path) -> None:  # noqa: ANN001
    """The scheduled purge runs daily from the worker, and does what `audit purge` does."""
    from recruiter.queue import queue

    rows = vancouver_rows()
    app.config["MAIL_URL"] = (tmp_path / "outbox").as_uri()
    sent = send(small_csv([rows[0], rows[1]], hired=rows[0]["email"]))
    huey, purge = queue().huey, queue().purge
    assert "purge" in [t.name for t in huey.read_periodic(datetime(2026, 12, 1, 3, 30))]
    assert "purge" not in [t.name for t in huey.read_periodic(datetime(2026, 12, 1, 4, 30))]
    assert purge.call_local() == 0  # nothing past retention yet
    db.get(Position, sent.position.id).filled_at = datetime.now(UTC) - timedelta(days=400)
    db.commit()
    assert purge.call_local() == 2  # the hire and the declined candidate
    assert personal_in_tables(db, personal_texts(rows[:2])) == {}
    assert list((tmp_path / "outbox").glob("*.eml")) == []


# --- events never hold personal text ------------------------------------------------------------


def assert_events_hold_no_personal_text(db, needles: set[str]) -> None:  # noqa: ANN001
    db.expire_all()
    for event in db.scalars(select(AuditEvent)):
        blob = json.dumps([event.action, event.subject_type, event.payload], ensure_ascii=False)
        assert find_personal(blob, needles) == set(), (event.seq, event.action, event.payload)


# --- concurrency -------------------------------------------------------------------------------


@pytest.fixture
def hold_at_append(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Barrier]:
    """Make each writer wait for the other once it has chosen its place in the chain.

    If ``record`` did not serialize writers, both would have read the same last event by
    then and would append the same sequence number; with the lock, the second writer is
    still waiting for it, the barrier times out, and the first one goes ahead.
    """
    barrier = threading.Barrier(2, timeout=1.5)
    real = audit.chain_hash

    def chain_hash(prev_hash: str, event: AuditEvent) -> str:
        if threading.current_thread() is not threading.main_thread():
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return real(prev_hash, event)

    monkeypatch.setattr(audit, "chain_hash", chain_hash)
    yield barrier


def test_concurrent_events_get_consecutive_numbers(app, db, make_org, hold_at_append) -> None:  # noqa: ANN001
    """Two writers of one organization, two threads, two sessions: a gapless, valid chain."""
    org = make_org(ORG)
    before = events(db, org)
    org_id = org.id  # the threads must not touch this session's objects
    db.commit()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        with app.app_context():
            session = _db.session
            try:
                audit.record(session, org_id, "test.concurrent", payload={"writer": n})
                session.commit()
            except BaseException as exc:  # noqa: BLE001  (reported by the test)
                session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    chain = events(db, org)
    assert [e.seq for e in chain] == list(range(1, len(before) + 3))
    assert sorted(e.payload["writer"] for e in chain[-2:]) == [1, 2]
    assert chain[-1].prev_hash == chain[-2].hash
    assert audit.verify(db, db.get(Organization, org.id)) == []
