"""DKIM (issue 18): frozen emails are signed, and what arrives is the stored audit copy.

A key made by ``recruiter mail dkim-keygen``; DNS is a dict handed to ``dkim.verify`` as its
``dnsfunc``, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlalchemy import func, select
from test_sending import (  # noqa: F401 - fixtures
    _quick,
    approve,
    candidates_csv,
    deliveries,
    freeze,
    smtp_server,
)

from recruiter import create_app
from recruiter.errors import RecruiterError
from recruiter.models import Batch, Delivery, FrozenLetter, Letter, Member
from recruiter.queue import queue
from recruiter.services import dkim_sign, sending
from recruiter.services import letters as letters_service
from recruiter.services.test_letter import build_test_letter

SELECTOR, DOMAIN = "recruiter2026", "harbourair.example"
SIGNED = {"from", "to", "subject", "date", "message-id", "reply-to", "mime-version",
          "content-type"}


def _record_value(output: str) -> str:
    """The TXT record's text from the keygen's zone-file line, its quoted strings joined."""
    [line] = [x for x in output.splitlines() if " IN TXT " in x]
    return "".join(re.findall(r'"([^"]*)"', line))


@pytest.fixture
def keygen(app: Flask, tmp_path: Path) -> tuple[Path, str, str]:
    """(key file, the printed zone-file line, its TXT text), made by the command."""
    out = tmp_path / "keys" / "dkim.pem"
    out.parent.mkdir()
    result = app.test_cli_runner().invoke(args=[
        "mail", "dkim-keygen", "--selector", SELECTOR, "--domain", DOMAIN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.stdout, _record_value(result.stdout)


@pytest.fixture
def dns(keygen: tuple[Path, str, str]):  # noqa: ANN201
    """The fake DNS: only the selector's TXT record exists."""
    _, _, value = keygen
    names = {f"{SELECTOR}._domainkey.{DOMAIN}.".encode(): value.encode()}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:  # noqa: ARG001
        return names.get(name)

    return lookup


@pytest.fixture
def signing(app: Flask, keygen: tuple[Path, str, str]) -> Path:
    """The app configured to sign with the generated key."""
    app.config.update(DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN, DKIM_KEY_FILE=str(keygen[0]))
    return keygen[0]


def _tags(eml: bytes) -> dict[str, str]:
    header = eml.split(b"\r\n\r\n", 1)[0].decode()
    value = re.search(r"^DKIM-Signature:(.*?)\r\n(?=\S)", header, re.S | re.M).group(1)
    return {k.strip(): v.strip() for k, _, v in
            (part.partition("=") for part in re.sub(r"\s+", "", value).split(";") if part)}


def test_the_keygen_writes_a_0600_key_and_prints_its_record(keygen) -> None:  # noqa: ANN001
    out, printed, value = keygen
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert printed.startswith(f"{SELECTOR}._domainkey.{DOMAIN}. IN TXT \"v=DKIM1; k=rsa; p=")
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', printed))  # DNS string limit
    key = serialization.load_pem_private_key(out.read_bytes(), password=None)
    assert key.key_size == 2048
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert value == dkim_sign.txt_value(public)
    assert value.split("p=", 1)[1] == base64.b64encode(public).decode()


def test_the_keygen_never_overwrites_a_key(app, keygen) -> None:  # noqa: ANN001
    out, _, _ = keygen
    before = out.read_bytes()
    result = app.test_cli_runner().invoke(args=[
        "mail", "dkim-keygen", "--selector", SELECTOR, "--domain", DOMAIN, "--out", str(out)])
    assert result.exit_code != 0 and "exists" in result.output
    assert out.read_bytes() == before


def test_a_frozen_letter_is_signed_and_arrives_byte_for_byte(app, db, freeze, smtp_server,  # noqa: ANN001, F811
                                                             signing, dns) -> None:
    frozen = freeze()
    copies = db.scalars(select(FrozenLetter).where(FrozenLetter.batch_id == frozen.batch.id)
                        ).all()
    assert len(copies) == 2
    for copy in copies:
        assert copy.eml.startswith(b"DKIM-Signature: ")
        assert dkim.verify(copy.eml, dnsfunc=dns)
        tags = _tags(copy.eml)
        assert (tags["a"], tags["c"], tags["d"], tags["s"]) == (
            "rsa-sha256", "relaxed/relaxed", DOMAIN, SELECTOR)
        assert set(tags["h"].lower().split(":")) == SIGNED
    app.config["MAIL_URL"] = smtp_server.url
    queue().enqueue([d.id for d in deliveries(db, frozen.position, "email")])
    stored = {c.message_id: c.eml for c in copies}
    assert len(smtp_server.received) == 2
    for received in smtp_server.received:
        assert received.raw == stored[received.message_id]  # the audit copy is what was sent
        assert dkim.verify(received.raw, dnsfunc=dns)


def test_a_changed_byte_fails_verification(db, freeze, signing, dns) -> None:  # noqa: ANN001, F811
    frozen = freeze()
    eml = db.scalars(select(FrozenLetter.eml).where(FrozenLetter.batch_id == frozen.batch.id)
                     ).first()
    assert dkim.verify(eml, dnsfunc=dns)
    body = eml.index(b"\r\n\r\n") + 40
    changed = eml[:body] + bytes([eml[body] ^ 1]) + eml[body + 1:]
    assert not dkim.verify(changed, dnsfunc=dns)
    subject = eml.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert subject != eml and not dkim.verify(subject, dnsfunc=dns)


def test_without_settings_nothing_is_signed(db, freeze) -> None:  # noqa: ANN001, F811
    frozen = freeze()
    emls = db.scalars(select(FrozenLetter.eml).where(FrozenLetter.batch_id == frozen.batch.id)
                      ).all()
    assert emls and not any(b"DKIM-Signature" in eml for eml in emls)


def _garbage(folder: Path) -> str:
    path = folder / "garbage.pem"
    path.write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n"
                    "-----END RSA PRIVATE KEY-----\n", encoding="ascii")
    return str(path)


@pytest.mark.parametrize("make_key", [
    lambda tmp: str(tmp / "missing.pem"),
    lambda tmp: str(tmp),  # a folder: unreadable as a file
    _garbage,
    lambda tmp: (tmp / "public.pem").write_text("ssh-rsa AAAA not a private key",
                                                 encoding="ascii") and str(tmp / "public.pem"),
], ids=["missing", "unreadable", "not-a-key", "public-text"])
def test_a_bad_key_file_freezes_nothing(app, db, make_org, make_member, make_position,  # noqa: ANN001
                                        tmp_path, make_key) -> None:
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(2))
    approve(db, position, member)
    app.config.update(DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN,
                      DKIM_KEY_FILE=make_key(tmp_path))
    with pytest.raises(RecruiterError, match="RECRUITER_DKIM_KEY_FILE"):
        sending.freeze_batch(db, position, member, hold_until_accepted=False)
    db.rollback()
    for model in (Batch, FrozenLetter, Delivery):
        assert db.scalar(select(func.count()).select_from(model)) == 0
    assert {x.status for x in db.scalars(select(Letter))} == {"approved"}


def test_half_the_settings_is_an_error_naming_the_missing_one(app) -> None:  # noqa: ANN001
    with pytest.raises(RecruiterError, match="RECRUITER_DKIM_KEY_FILE is not set"):
        dkim_sign.signer({"DKIM_SELECTOR": SELECTOR, "DKIM_DOMAIN": DOMAIN})
    with pytest.raises(RecruiterError, match="RECRUITER_DKIM_DOMAIN"):
        dkim_sign.signer({"DKIM_SELECTOR": SELECTOR, "DKIM_DOMAIN": "a b;c", "DKIM_KEY_FILE": "k"})


def test_the_dkim_settings_are_read_from_the_environment(monkeypatch, tmp_path, keygen,  # noqa: ANN001
                                                         dns) -> None:
    """RECRUITER_DKIM_SELECTOR, RECRUITER_DKIM_DOMAIN and RECRUITER_DKIM_KEY_FILE sign mail."""
    key, _, _ = keygen
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RECRUITER_DKIM_SELECTOR", SELECTOR)
    monkeypatch.setenv("RECRUITER_DKIM_DOMAIN", DOMAIN)
    monkeypatch.setenv("RECRUITER_DKIM_KEY_FILE", str(key))
    app = create_app({"TESTING": True})
    message = (b"From: Harbour Air <careers@harbourair.example>\r\nTo: a@example.org\r\n"
               b"Subject: Your application\r\nDate: Thu, 03 Dec 2026 06:00:00 +0000\r\n"
               b"Message-ID: <1@harbourair.example>\r\n\r\nThank you.\r\n")
    with app.app_context():
        signed = dkim_sign.signer()(message)
    assert _tags(signed)["s"] == SELECTOR and _tags(signed)["d"] == DOMAIN
    assert dkim.verify(signed, dnsfunc=dns)
    with app.app_context():  # the fixtures' app has a context pushed already
        result = app.test_cli_runner().invoke(args=["mail", "dkim-check"])
    assert result.exit_code == 0 and "DKIM signing is on" in result.output
    monkeypatch.setenv("RECRUITER_DKIM_SELECTOR", "2026")  # read as JSON: a number, still fine
    with create_app({"TESTING": True}).app_context():
        assert _tags(dkim_sign.signer()(message))["s"] == "2026"
    monkeypatch.setenv("RECRUITER_DKIM_KEY_FILE", str(tmp_path / "gone.pem"))
    app = create_app({"TESTING": True})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["mail", "dkim-check"])
    assert result.exit_code != 0 and "RECRUITER_DKIM_KEY_FILE" in result.output


def test_a_test_letter_is_signed_too(app, db, make_org, make_member, make_position,  # noqa: ANN001
                                     signing, dns) -> None:
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=candidates_csv(2))
    letters = letters_service.refresh_letters(db, position)
    draft = next(x for x in letters if x.status == "draft")
    _, _, _, data = build_test_letter(draft, db.get(Member, member.id))
    assert data.startswith(b"DKIM-Signature: ") and b"X-Recruiter-Test: yes" in data
    assert dkim.verify(data, dnsfunc=dns)
