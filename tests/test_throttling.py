"""Abuse limits: failed sign-ins per account and per address, trusted proxies, body sizes."""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable

import pytest
import redis
from conftest import PASSWORD, REDIS_URL
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import TestResponse, encode_multipart

from recruiter.models import Member

THROTTLED = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
BEHIND_PROXY = {**THROTTLED, "RECRUITER_PROXY_COUNT": "1"}
PROXY = "10.0.0.1"  # the TLS proxy every request comes through


def _address() -> str:
    """A client address of our own, so runs sharing one store never share a counter."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _post_login(client: FlaskClient, email: str, password: str, *, address: str = "127.0.0.1",
                forwarded: str | None = None) -> TestResponse:
    """One sign-in attempt from ``address``, optionally through a proxy naming ``forwarded``."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post("/login", data={"email": email, "password": password},
                           environ_base={"REMOTE_ADDR": address}, headers=headers)
    response.close()
    return response


def _fail(client: FlaskClient, times: int, **where: str) -> None:
    """Fail ``times`` sign-ins, each to a different made-up account, all answered 401."""
    for attempt in range(times):
        email = f"guess{attempt}.{secrets.token_hex(3)}@example.com"
        response = _post_login(client, email, "wrong password", **where)
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.status_code}"


@pytest.fixture
def two(make_member: Callable) -> tuple[Member, Member]:
    """Two members of one organization."""
    first = make_member("manager")
    return first, make_member("admin", org=first.organization)


@pytest.mark.parametrize("app", [THROTTLED], indirect=True)
def test_a_correct_password_after_ten_failures_from_one_address_signs_in(
        app: Flask, two: tuple[Member, Member]) -> None:
    """Ten failures for one account do not stop another member at the same address."""
    target, colleague = two
    client, address = app.test_client(), _address()
    for _ in range(10):
        assert _post_login(client, target.email, "wrong password",
                           address=address).status_code == 401
    assert _post_login(client, colleague.email, PASSWORD, address=address).status_code == 302


@pytest.mark.parametrize("app", [THROTTLED], indirect=True)
def test_an_address_spraying_many_accounts_is_throttled_and_others_are_not(
        app: Flask, two: tuple[Member, Member]) -> None:
    """30 failures from one address throttle it; the right password from elsewhere signs in."""
    attacker, client = _address(), app.test_client()
    _fail(client, 30, address=attacker)
    blocked = _post_login(client, two[0].email, PASSWORD, address=attacker)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins from this address; try again in 15 minutes." in blocked.text
    assert _post_login(client, two[0].email, PASSWORD, address=_address()).status_code == 302


@pytest.mark.parametrize("app", [THROTTLED], indirect=True)
def test_a_locked_account_looks_the_same_whether_it_exists_or_not(
        app: Flask, two: tuple[Member, Member]) -> None:
    """Ten failures lock a real and a made-up email alike, with the same message."""
    client = app.test_client()
    answers = []
    for email in (two[0].email, f"nobody.{secrets.token_hex(3)}@example.com"):
        for _ in range(10):
            _post_login(client, email, "wrong password", address=_address())
        locked = _post_login(client, email, PASSWORD, address=_address())
        assert locked.status_code == 429
        answers.append(locked.text.replace(email, "EMAIL"))
    assert answers[0] == answers[1]
    assert "Too many failed sign-ins for this account; try again in 15 minutes." in answers[0]


@pytest.mark.parametrize("app", [{**THROTTLED, "RECRUITER_LOGIN_ACCOUNT_RATE_LIMIT":
                                  "3 per 2 minutes"}], indirect=True)
def test_the_account_limit_is_a_setting(app: Flask, two: tuple[Member, Member]) -> None:
    """RECRUITER_LOGIN_ACCOUNT_RATE_LIMIT sets how many failures lock an account, how long."""
    client = app.test_client()
    for _ in range(3):
        assert _post_login(client, two[0].email, "wrong", address=_address()).status_code == 401
    locked = _post_login(client, two[0].email, PASSWORD, address=_address())
    assert locked.status_code == 429
    assert "try again in 2 minutes." in locked.text


@pytest.mark.parametrize("app", [BEHIND_PROXY], indirect=True)
def test_behind_a_proxy_one_attacker_does_not_lock_out_everyone(
        app: Flask, two: tuple[Member, Member]) -> None:
    """With RECRUITER_PROXY_COUNT=1 the forwarded address is the client's: only it is throttled."""
    assert isinstance(app.wsgi_app, ProxyFix)
    client, attacker = app.test_client(), _address()
    _fail(client, 30, address=PROXY, forwarded=attacker)
    assert _post_login(client, two[0].email, PASSWORD, address=PROXY,
                       forwarded=attacker).status_code == 429
    assert _post_login(client, two[0].email, PASSWORD, address=PROXY,
                       forwarded=_address()).status_code == 302


@pytest.mark.parametrize("app", [THROTTLED], indirect=True)
def test_without_a_proxy_count_x_forwarded_for_is_ignored(
        app: Flask, two: tuple[Member, Member]) -> None:
    """By default a client cannot dodge the throttle by sending X-Forwarded-For."""
    assert not isinstance(app.wsgi_app, ProxyFix)
    client, attacker = app.test_client(), _address()
    for attempt in range(30):
        email = f"guess{attempt}@example.com"
        assert _post_login(client, email, "wrong", address=attacker,
                           forwarded=_address()).status_code == 401
    assert _post_login(client, two[0].email, PASSWORD, address=attacker,
                       forwarded=_address()).status_code == 429


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="set RECRUITER_TEST_REDIS_URL to run against Redis")
@pytest.mark.parametrize("app", [{"RATELIMIT_ENABLED": True,
                                  "RECRUITER_RATELIMIT_STORAGE_URI": REDIS_URL}], indirect=True)
def test_an_account_lock_is_shared_through_redis(app: Flask, two: tuple[Member, Member]) -> None:
    """On Redis the account counter is shared, and a colleague at that address signs in."""
    store = redis.Redis.from_url(str(REDIS_URL))
    prefix = app.config["RATELIMIT_KEY_PREFIX"] = f"run-{secrets.token_hex(8)}"
    try:
        client, address = app.test_client(), _address()
        for _ in range(10):
            _post_login(client, two[0].email, "wrong", address=address)
        assert _post_login(client, two[0].email, PASSWORD, address=_address()).status_code == 429
        assert _post_login(client, two[1].email, PASSWORD, address=address).status_code == 302
        assert list(store.scan_iter(match=f"*{prefix}*login-account*"))
    finally:
        for key in store.scan_iter(match=f"*{prefix}*"):
            store.delete(key)
        store.close()


# --- request sizes -------------------------------------------------------------------------

class _CountingStream(io.RawIOBase):
    """A multipart body of ``size`` bytes, one big file part, that counts what was read."""

    HEAD = (b'--b\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")

    def __init__(self, size: int) -> None:
        self.size, self.position, self.read_bytes = size, 0, 0

    def readable(self) -> bool:  # noqa: D102
        return True

    def seekable(self) -> bool:  # noqa: D102
        return True  # the test client measures the body by seeking to its end

    def seek(self, offset: int, whence: int = 0) -> int:  # noqa: D102
        self.position = {0: 0, 1: self.position, 2: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:  # noqa: D102
        return self.position

    def readinto(self, buffer) -> int:  # noqa: ANN001, D102
        n = max(0, min(len(buffer), self.size - self.position))
        head = self.HEAD[self.position:self.position + n]
        data = head + b"a" * (n - len(head))
        buffer[:n] = data
        self.position += n
        self.read_bytes += n
        return n


def test_a_30_mb_post_to_login_is_refused_unread(app: Flask, client: FlaskClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A 30 MB upload to the sign-in page is a 413 before the view runs, its body unread."""
    calls: list[str] = []
    monkeypatch.setattr("recruiter.views.auth.authenticate",
                        lambda *args: calls.append("ran"))  # type: ignore[func-returns-value]
    body = _CountingStream(30 * 1024 * 1024)
    started = time.monotonic()
    response = client.post("/login", input_stream=body, content_length=body.size,
                           content_type="multipart/form-data; boundary=b")
    assert response.status_code == 413
    assert time.monotonic() - started < 2
    assert body.read_bytes < 1024 * 1024
    assert calls == []


def test_a_form_without_a_file_is_capped_at_1_mb_and_the_csv_upload_is_not(
        app: Flask, client: FlaskClient, login: Callable, make_position: Callable) -> None:
    """A 2 MB sign-in form is a 413; a 2 MB CSV upload is read (the 25 MB cap is its limit)."""
    refused = client.post("/login", data={"email": "x@example.com",
                                          "password": "p" * (2 * 1024 * 1024)})
    assert refused.status_code == 413
    member = login("manager")
    position = make_position(org=member.organization)
    csv = b"name,email\n" + b"Ana,ana@example.com\n" * 100_000
    # Encoded here, in memory: the test client would spool a body this big to a file it
    # never closes.
    boundary, body = encode_multipart(MultiDict({"csv": FileStorage(io.BytesIO(csv),
                                                                    "big.csv")}))
    upload = client.post(f"/positions/{position.id}/import", data=body,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert upload.status_code != 413
    assert app.config["MAX_CONTENT_LENGTH"] == 25 * 1024 * 1024


@pytest.mark.parametrize("app", [{"RECRUITER_MAX_CONTENT_LENGTH": "1000"}], indirect=True)
def test_the_body_limit_is_a_setting(app: Flask, client: FlaskClient) -> None:
    """RECRUITER_MAX_CONTENT_LENGTH caps uploads too: a 2,000-byte CSV upload is a 413."""
    app.config["FORM_MAX_CONTENT_LENGTH"] = 10_000  # so the app-wide cap is the one met
    response = client.post("/positions/1/import", data={"csv": (io.BytesIO(b"x" * 2000),
                                                                "a.csv")})
    assert response.status_code == 413
