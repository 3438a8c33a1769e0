"""schemathesis against the live OpenAPI document: no server error, no answer off its schema.

The app runs on a fresh SQLite file with the Vancouver demo, served on loopback by a threaded
werkzeug server; schemathesis (its CLI, as a user would run it) reads /api/v1/openapi.json and
sends what the document allows and what it does not, with a write token. A failure prints
schemathesis's own report, with the request that reproduces it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from recruiter import create_app
from recruiter.extensions import db as _db
from recruiter.models import Organization
from recruiter.services.demo import load_demo
from recruiter.services.tokens import create_token

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        """Thousands of fuzzed requests: schemathesis reports what matters."""


@pytest.fixture
def live_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(base URL, write token) of the app with the demo loaded."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    url = f"sqlite:///{tmp_path / 'live.db'}"
    app: Flask = create_app({
        "TESTING": True, "SECRET_KEY": "fuzz-test-secret", "DATABASE_URL": url,
        "SQLALCHEMY_DATABASE_URI": url, "MAIL_URL": (tmp_path / "outbox").as_uri(),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}", "QUEUE_IMMEDIATE": True,
        "RATELIMIT_ENABLED": False})
    with app.app_context():
        _db.create_all()
        load_demo(_db.session, tmp_path / "login.txt")
        org = _db.session.query(Organization).one()
        _, secret = create_token(_db.session, org, "schemathesis", "write")
        _db.session.commit()
        _db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="fuzz-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", secret
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        with app.app_context():
            _db.engine.dispose()


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(
        live_api: tuple[str, str], tmp_path: Path) -> None:
    base, secret = live_api
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st, "schemathesis is a test dependency (pyproject's test extra); .ci/run installs it"
    result = subprocess.run(
        [st, "run", f"{base}/api/v1/openapi.json", "--checks", CHECKS,
         "--header", f"Authorization: Bearer {secret}", "--max-examples", "25",
         "--phases", "examples,coverage,fuzzing", "--workers", "1", "--seed", "15",
         "--generation-database", "none", "--request-timeout", "30", "--no-color",
         "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "passed" in output.lower()
