"""Every setting in the README's configuration table is read and changes what recruiter does.

``CHECKS`` maps each row of the table to the test that sets it (as a ``RECRUITER_*`` variable)
and sees the effect. A row without a check, or a check for a setting the README no longer
names, fails ``test_every_documented_setting_has_a_check``.
"""

from __future__ import annotations

import ast
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PASSWORD, ROOT
from flask import Flask
from flask.testing import FlaskClient
from huey import MemoryHuey
from pdftools import page_size_points
from sqlalchemy import select
from test_sending_views import (
    NO_HOLD,
    SMALL,
    _approved,
    _as,
    _send,
    held_freezes,  # noqa: F401  (a fixture for the timeout test)
)
from test_throttling import _address, _post_login

from recruiter import create_app
from recruiter.extensions import db as _db
from recruiter.models import Application, Letter, Position
from recruiter.queue import queue
from recruiter.services import sending

LETTER_POINTS = (612, 792)  # US letter; A4 is (595, 842)

CHECKS = {
    "RECRUITER_DATABASE_URL": "test_settings.py::test_database_url_chooses_the_database",
    "RECRUITER_SECRET_KEY": "test_settings.py::test_secret_key_is_read_or_generated_once",
    "RECRUITER_MAIL_URL": "test_settings.py::test_the_worker_task_hands_on_its_settings",
    "RECRUITER_QUEUE_URL": "test_settings.py::test_queue_url_and_claim_batch_shape_the_queue",
    "RECRUITER_RATELIMIT_STORAGE_URI":
        "test_security.py::test_the_11th_wrong_password_is_throttled_with_redis",
    "RECRUITER_LOGIN_RATE_LIMIT": "test_settings.py::test_login_rate_limit_counts_per_address",
    "RECRUITER_LOGIN_ACCOUNT_RATE_LIMIT": "test_throttling.py::test_the_account_limit_is_a_setting",
    "RECRUITER_PROXY_COUNT":
        "test_throttling.py::test_behind_a_proxy_one_attacker_does_not_lock_out_everyone",
    "RECRUITER_MAX_CONTENT_LENGTH": "test_throttling.py::test_the_body_limit_is_a_setting",
    "RECRUITER_PAGE_SIZE": "test_settings.py::test_page_size_shapes_every_web_pdf",
    "RECRUITER_PDF_VARIANT": "test_settings.py::test_pdf_variant_shapes_every_web_pdf",
    "RECRUITER_FREEZE_INLINE_MAX":
        "test_settings.py::test_freeze_inline_max_sends_bigger_batches_to_the_worker",
    "RECRUITER_SEND_CLAIM_BATCH":
        "test_settings.py::test_queue_url_and_claim_batch_shape_the_queue",
    "RECRUITER_SEND_MAX_ATTEMPTS": "test_settings.py::test_the_worker_task_hands_on_its_settings",
    "RECRUITER_SENDING_TIMEOUT":
        "test_settings.py::test_sending_timeout_decides_when_a_dead_freeze_may_be_sent_again",
    "RECRUITER_CHECKPOINT_DIR":
        "test_checkpoints.py::test_the_checkpoint_folder_is_read_from_recruiter_checkpoint_dir",
    "RECRUITER_LETTERS_PER_PAGE": "test_settings.py::test_letters_per_page_sets_the_list_length",
    "RECRUITER_WEBHOOK_TIMEOUT": "test_settings.py::test_webhook_settings_reach_the_delivery_task",
    "RECRUITER_WEBHOOK_MAX_ATTEMPTS":
        "test_settings.py::test_webhook_settings_reach_the_delivery_task",
    "RECRUITER_SESSION_COOKIE_SECURE":
        "test_settings.py::test_session_cookie_secure_marks_the_cookie",
    "RECRUITER_DKIM_SELECTOR": "test_dkim.py::test_the_dkim_settings_are_read_from_the_environment",
    "RECRUITER_DKIM_DOMAIN": "test_dkim.py::test_the_dkim_settings_are_read_from_the_environment",
    "RECRUITER_DKIM_KEY_FILE":
        "test_dkim.py::test_the_dkim_settings_are_read_from_the_environment",
    "RECRUITER_DOCUMENT_MAX_BYTES":
        "test_documents_views.py::test_the_file_limit_and_the_quota_are_settings",
    "RECRUITER_DOCUMENT_QUOTA_BYTES":
        "test_documents_views.py::test_the_file_limit_and_the_quota_are_settings",
    "RECRUITER_BOUNCES_IMAP_PASSWORD":
        "test_bounces_cli.py::test_imap_is_read_marked_seen_and_moved_on_request",
}


def documented() -> list[str]:
    """The variables named in the first column of the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(RECRUITER_[A-Z_]+)` \|", section, flags=re.MULTILINE)


@cache
def _test_source(reference: str) -> str | None:
    """The source of a test function, decorators included; None when there is no such test."""
    filename, _, name = reference.partition("::")
    source = (ROOT / "tests" / filename).read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            return "\n".join(source.splitlines()[first - 1:node.end_lineno])
    return None


def test_every_documented_setting_has_a_check() -> None:
    """The README's table and ``CHECKS`` name the same settings, each once."""
    rows = documented()
    assert len(rows) == len(set(rows)) >= 17
    assert sorted(rows) == sorted(CHECKS)


@pytest.mark.parametrize("variable", documented())
def test_each_documented_setting_is_exercised_by_a_test(variable: str) -> None:
    """The check of each README row exists and sets that very variable."""
    source = _test_source(CHECKS[variable])
    assert source is not None, f"{CHECKS[variable]} does not exist"
    assert variable in source


def _standalone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Flask:
    """An app configured the way a deployment is: an instance folder and RECRUITER_* only."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True})


def test_database_url_chooses_the_database(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """RECRUITER_DATABASE_URL picks the database; postgresql:// URLs use psycopg 3."""
    chosen = tmp_path / "chosen.db"
    app = _standalone(monkeypatch, tmp_path, RECRUITER_DATABASE_URL=f"sqlite:///{chosen}")
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()
    assert chosen.exists() and not (tmp_path / "instance" / "recruiter.db").exists()
    app = _standalone(monkeypatch, tmp_path, RECRUITER_DATABASE_URL="postgresql://u@db.example/r")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/r"


def test_secret_key_is_read_or_generated_once(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """RECRUITER_SECRET_KEY is the key; without it one is generated into the instance once."""
    stored = tmp_path / "instance" / "secret_key"
    generated = _standalone(monkeypatch, tmp_path).config["SECRET_KEY"]
    assert stored.read_text() == generated
    assert _standalone(monkeypatch, tmp_path).config["SECRET_KEY"] == generated
    chosen = _standalone(monkeypatch, tmp_path, RECRUITER_SECRET_KEY="chosen-key")
    assert chosen.config["SECRET_KEY"] == "chosen-key"


def test_the_worker_task_hands_on_its_settings(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """RECRUITER_MAIL_URL, _SEND_MAX_ATTEMPTS and _SENDING_TIMEOUT reach the send and sweep."""
    outbox = (tmp_path / "elsewhere").as_uri()
    app = _standalone(monkeypatch, tmp_path, RECRUITER_QUEUE_URL="memory://",
                      RECRUITER_MAIL_URL=outbox, RECRUITER_SEND_MAX_ATTEMPTS="3",
                      RECRUITER_SENDING_TIMEOUT="7")
    calls: list[tuple] = []

    def deliver_ids(session, ids, mail_url, **options):  # noqa: ANN001, ANN003, ANN202
        calls.append((ids, mail_url, options))
        return [SimpleNamespace(delivery_id=ids[0], state="sent", retry_at=None)]

    def sweep(session, **options):  # noqa: ANN001, ANN003, ANN202
        calls.append(("sweep", options))
        return []

    monkeypatch.setattr(sending, "deliver_ids", deliver_ids)
    monkeypatch.setattr(sending, "sweep", sweep)
    with app.app_context():
        assert queue().send.call_local(5, 6) == "sent"
        queue().sweep.call_local()
    (ids, mail_url, options), (_, swept) = calls
    assert (ids, mail_url) == ([5, 6], outbox)
    assert options["max_attempts"] == 3
    assert options["sending_timeout"] == swept["sending_timeout"] == timedelta(seconds=7)


def test_webhook_settings_reach_the_delivery_task(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """RECRUITER_WEBHOOK_TIMEOUT and _MAX_ATTEMPTS reach every webhook delivery round."""
    from recruiter.services import webhooks

    app = _standalone(monkeypatch, tmp_path, RECRUITER_QUEUE_URL="memory://",
                      RECRUITER_WEBHOOK_TIMEOUT="2.5", RECRUITER_WEBHOOK_MAX_ATTEMPTS="3")
    calls: list[dict] = []
    monkeypatch.setattr(webhooks, "deliver_due",
                        lambda session, **options: calls.append(options) or [])
    with app.app_context():
        _db.create_all()
        queue().webhooks.call_local()
    assert calls == [{"timeout": 2.5, "max_attempts": 3}]


def test_queue_url_and_claim_batch_shape_the_queue(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """RECRUITER_QUEUE_URL picks the store; RECRUITER_SEND_CLAIM_BATCH ids go in a message."""
    app = _standalone(monkeypatch, tmp_path, RECRUITER_QUEUE_URL="memory://",
                      RECRUITER_SEND_CLAIM_BATCH="4")
    with app.app_context():
        huey = queue().huey
        assert isinstance(huey, MemoryHuey)
        queue().enqueue(range(1, 10))
        assert [task.args for task in huey.pending()] == [(1, 2, 3, 4), (5, 6, 7, 8), (9,)]
    monkeypatch.delenv("RECRUITER_SEND_CLAIM_BATCH")
    assert _standalone(monkeypatch, tmp_path).extensions["recruiter.queue"].batch == 10


@pytest.mark.parametrize("app", [{"RATELIMIT_ENABLED": True,
                                  "RECRUITER_LOGIN_RATE_LIMIT": "2 per 15 minutes"}],
                         indirect=True)
def test_login_rate_limit_counts_per_address(app: Flask) -> None:
    """RECRUITER_LOGIN_RATE_LIMIT: after 2 failed sign-ins an address is refused, another not."""
    client, address = app.test_client(), _address()
    for attempt in range(2):
        assert _post_login(client, f"guess{attempt}@example.com", "wrong",
                           address=address).status_code == 401
    assert _post_login(client, "guess@example.com", "wrong", address=address).status_code == 429
    assert _post_login(client, "guess@example.com", "wrong",
                       address=_address()).status_code == 401


def _letters(db, position: Position) -> list[Letter]:  # noqa: ANN001
    db.rollback()
    return list(db.scalars(select(Letter).join(Application)
                           .where(Application.position_id == position.id)
                           .order_by(Letter.id)))


@pytest.mark.parametrize("app", [{"RECRUITER_PAGE_SIZE": "letter"}], indirect=True)
def test_page_size_shapes_every_web_pdf(app: Flask, client: FlaskClient, db, login,  # noqa: ANN001
                                        make_position, tmp_path: Path) -> None:
    """RECRUITER_PAGE_SIZE=letter: the letter PDF, the ZIP, the print bundle and the freeze."""
    _, position = _approved(client, login, make_position)
    letter = _letters(db, position)[0]
    view = _as(client, "GET", f"/letters/{letter.id}/letter.pdf")
    assert page_size_points(view.data, tmp_path) == LETTER_POINTS
    archive = zipfile.ZipFile(io.BytesIO(
        _as(client, "POST", f"/positions/{position.id}/letters.zip").data))
    pdfs = [name for name in archive.namelist() if name.endswith(".pdf")]
    assert pdfs and all(page_size_points(archive.read(name), tmp_path) == LETTER_POINTS
                        for name in pdfs)
    bundle = _as(client, "GET", f"/positions/{position.id}/post-letters.pdf")
    assert bundle.mimetype == "application/pdf"
    assert page_size_points(bundle.data, tmp_path) == LETTER_POINTS
    assert "All 3 emails were sent on" in _send(client, position, NO_HOLD).text  # inline
    frozen = _letters(db, position)
    assert frozen and all(x.status in ("frozen", "sent") for x in frozen)
    pdfs = [x.frozen.pdf for x in frozen if x.frozen.pdf]  # the postal letters' PDFs
    assert pdfs and all(page_size_points(pdf, tmp_path) == LETTER_POINTS for pdf in pdfs)


def _pdfa_conformance(pdf: bytes) -> str | None:
    """The PDF/A conformance level its XMP metadata claims ("A", "B"), None for a plain PDF."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc, doc.open_metadata() as meta:
        return meta.get("pdfaid:conformance")


@pytest.mark.parametrize("app", [{"RECRUITER_PDF_VARIANT": "pdf/a-2b"}], indirect=True)
def test_pdf_variant_shapes_every_web_pdf(app: Flask, client: FlaskClient, db, login,  # noqa: ANN001
                                          make_position, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """RECRUITER_PDF_VARIANT=pdf/a-2b: the letter PDF, the ZIP, the print bundle, the freeze."""
    monkeypatch.delenv("RECRUITER_PDF_VARIANT")  # from here on only the app's setting says so
    assert app.config["PDF_VARIANT"] == "pdf/a-2b"
    _, position = _approved(client, login, make_position)
    letter = _letters(db, position)[0]
    assert _pdfa_conformance(_as(client, "GET", f"/letters/{letter.id}/letter.pdf").data) == "B"
    archive = zipfile.ZipFile(io.BytesIO(
        _as(client, "POST", f"/positions/{position.id}/letters.zip").data))
    pdfs = [archive.read(name) for name in archive.namelist() if name.endswith(".pdf")]
    assert pdfs and all(_pdfa_conformance(pdf) == "B" for pdf in pdfs)
    bundle = _as(client, "GET", f"/positions/{position.id}/post-letters.pdf")
    assert _pdfa_conformance(bundle.data) == "B"
    assert "All 3 emails were sent on" in _send(client, position, NO_HOLD).text  # inline
    pdfs = [x.frozen.pdf for x in _letters(db, position) if x.frozen.pdf]
    assert pdfs and all(_pdfa_conformance(pdf) == "B" for pdf in pdfs)


@pytest.mark.parametrize("app", [{"RECRUITER_PAGE_SIZE": "letter",
                                  "RECRUITER_FREEZE_INLINE_MAX": "3"}], indirect=True)
def test_freeze_inline_max_sends_bigger_batches_to_the_worker(  # noqa: ANN001
        app: Flask, client: FlaskClient, db, login, make_position, tmp_path: Path) -> None:
    """RECRUITER_FREEZE_INLINE_MAX=3: 4 letters freeze in the worker, at the page size too."""
    _, position = _approved(client, login, make_position)
    assert "Freezing 4 letters." in _send(client, position, NO_HOLD).text
    frozen = _letters(db, position)
    assert len(frozen) == 4 and all(x.status in ("frozen", "sent") for x in frozen)
    pdfs = [x.frozen.pdf for x in frozen if x.frozen.pdf]  # the postal letters' PDFs
    assert pdfs and all(page_size_points(pdf, tmp_path) == LETTER_POINTS for pdf in pdfs)


@pytest.mark.parametrize("app", [{"RECRUITER_SENDING_TIMEOUT": "60"}], indirect=True)
def test_sending_timeout_decides_when_a_dead_freeze_may_be_sent_again(  # noqa: ANN001
        app: Flask, client: FlaskClient, db, login, make_position, held_freezes) -> None:  # noqa: F811
    """RECRUITER_SENDING_TIMEOUT=60: a freeze 59 s old still blocks; 61 s old (< 600) does not."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    form = f'action="/positions/{position.id}/send"'
    for age, offered in ((59, False), (61, True)):
        db.rollback()
        stored = db.get(Position, position.id)
        stored.freezing_since = datetime.now(UTC) - timedelta(seconds=age)
        db.commit()
        assert (form in _as(client, "GET", f"/positions/{position.id}/letters").text) is offered
    assert "Freezing 4 letters." in _send(client, position, NO_HOLD).text
    assert len(held_freezes.waiting) == 2


@pytest.mark.parametrize("app", [{"RECRUITER_LETTERS_PER_PAGE": "3"}], indirect=True)
def test_letters_per_page_sets_the_list_length(app: Flask, client: FlaskClient, login,  # noqa: ANN001
                                               make_position) -> None:
    """RECRUITER_LETTERS_PER_PAGE=3: the 4 letters of the position take two pages."""
    member = login("manager")
    position = make_position(org=member.organization, csv=SMALL)
    first = _as(client, "GET", f"/positions/{position.id}/letters").text
    second = _as(client, "GET", f"/positions/{position.id}/letters?page=2").text
    rows = re.compile(r'<a href="/letters/\d+">')
    assert len(rows.findall(first)) == 3 and len(rows.findall(second)) == 1
    assert "Page 2 of 2" in second


@pytest.mark.parametrize(("app", "secure"), [
    ({"RECRUITER_SESSION_COOKIE_SECURE": "true"}, True),
    ({"RECRUITER_SESSION_COOKIE_SECURE": "false"}, False),
], indirect=["app"])
def test_session_cookie_secure_marks_the_cookie(app: Flask, make_member, secure: bool) -> None:  # noqa: ANN001
    """RECRUITER_SESSION_COOKIE_SECURE decides whether the session cookie says Secure."""
    member = make_member("manager")
    response = app.test_client().post("/login", data={"email": member.email,
                                                      "password": PASSWORD})
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert ("; Secure" in cookie) is secure


@pytest.mark.parametrize("app", [{"RECRUITER_PAGE_SIZE": "letter"}], indirect=True)
def test_page_size_shapes_pdfs_frozen_from_the_command_line(app: Flask, db, runner,  # noqa: ANN001
                                                            make_member, make_position,
                                                            tmp_path: Path) -> None:
    """RECRUITER_PAGE_SIZE=letter: `recruiter letters send --no-dry-run` freezes US Letter."""
    member = make_member("manager")
    position = make_position(org=member.organization)
    result = runner.invoke(args=["letters", "send", str(position.id), "--no-dry-run", "--yes"])
    assert result.exit_code == 0, result.output
    pdfs = [x.frozen.pdf for x in _letters(db, position) if x.frozen and x.frozen.pdf]
    assert pdfs and all(page_size_points(pdf, tmp_path) == LETTER_POINTS for pdf in pdfs)
