"""Shared fixtures: the app on a throwaway database, members, and builders."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import text

from recruiter import create_app
from recruiter.extensions import db as _db

ROOT = Path(__file__).resolve().parent.parent
VANCOUVER = ROOT / "recruiter" / "demo" / "vancouver.csv"
PASSWORD = "correct horse battery"
POSTGRES_URL = os.environ.get("RECRUITER_TEST_POSTGRES_URL")  # CI sets it
REDIS_URL = os.environ.get("RECRUITER_TEST_REDIS_URL")
REQUIRE_ALL = os.environ.get("RECRUITER_TEST_REQUIRE_ALL") == "1"  # .ci/run sets it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """In CI nothing may be skipped: a skip there means a missing service or package."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where every test must run: {report.longrepr}"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects anywhere but this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address, *args):  # noqa: ANN001, ANN202
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")
        return real_connect(self, address, *args)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def database_urls() -> list:
    """SQLite always; PostgreSQL too when CI provides it."""
    urls = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        urls.append(pytest.param(POSTGRES_URL, id="postgres", marks=pytest.mark.postgres))
    return urls


@pytest.fixture(params=database_urls())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for one test: a fresh SQLite file, or the CI PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.param


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        database_url: str) -> Iterator[Flask]:
    """The app with its own instance folder and an empty schema.

    Indirect parametrization can override settings: keys that start with ``RECRUITER_`` are
    set as environment variables, the way a deployment configures recruiter; the others go
    into ``create_app``'s config.
    """
    overrides = dict(getattr(request, "param", {}))
    for name in [key for key in overrides if key.startswith("RECRUITER_")]:
        monkeypatch.setenv(name, overrides.pop(name))
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "DATABASE_URL": database_url,
        "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://",
                                                       "postgresql+psycopg://"),
        "MAIL_URL": (tmp_path / "outbox").as_uri(),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "QUEUE_IMMEDIATE": True,
        "RATELIMIT_ENABLED": False,
        **overrides,
    })

    def _fresh_login() -> None:
        # Test requests share the fixture's app context, and with it ``g``: without this,
        # Flask-Login's cached user would follow one client into another's request. It runs
        # first, before the app's own hooks that read the current member.
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_login)

    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def empty_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              database_url: str) -> Iterator[Flask]:
    """The app on a database with no tables at all, for migration tests."""
    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": database_url})
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app: Flask):  # noqa: ANN201
    """The database session."""
    return _db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    """A click runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def make_org(db) -> Callable:  # noqa: ANN001
    """Build an organization (with the shipped boilerplates)."""
    from recruiter.services.accounts import create_organization

    def make(name: str = "Harbour Air Logistics", **settings):  # noqa: ANN003, ANN202
        settings.setdefault("sender_name", "Jordan Reyes")
        settings.setdefault("sender_title", "Operations Manager")
        settings.setdefault("sender_email", "hiring@harbourair.example.com")
        settings.setdefault("address", "1055 West Hastings Street\nVancouver BC  V6E 2E9")
        org = create_organization(db, name, **settings)
        db.commit()
        return org

    return make


@pytest.fixture
def make_member(db, make_org) -> Callable:  # noqa: ANN001
    """Build a member with a role, in a given or new organization."""
    from recruiter.services.accounts import create_member

    def make(role: str = "manager", org=None, email: str | None = None):  # noqa: ANN001, ANN202
        org = org or make_org()
        member = create_member(db, org, email=email or f"{role}.{org.id}@example.com",
                               role=role, password=PASSWORD, name=role.title())
        db.commit()
        return member

    return make


@pytest.fixture
def make_position(db, make_org) -> Callable:  # noqa: ANN001
    """Build a position, by default the Vancouver role with its 30 applicants."""
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    def make(org=None, csv: bytes | None = None, **overrides):  # noqa: ANN001, ANN003, ANN202
        org = org or make_org()
        overrides.setdefault("title", "Operations Coordinator")
        overrides.setdefault("location", "Vancouver, BC")
        overrides.setdefault("differentiator", "hands-on aviation operations experience")
        position = create_position(db, org, **overrides)
        data = VANCOUVER.read_bytes() if csv is None else csv
        import_rows(db, position, accepted_rows(parse_candidates(data)))
        db.commit()
        return position

    return make


@pytest.fixture
def login(client: FlaskClient, make_member) -> Callable:  # noqa: ANN001
    """Log the test client in as a new member with ``role``; returns the member.

    Whoever was signed in is signed out first: /login sends a signed-in member away, so a
    second login would otherwise leave the first member signed in.
    """

    def do(role: str = "manager", org=None):  # noqa: ANN001, ANN202
        member = make_member(role, org=org)
        client.post("/logout")
        response = client.post("/login", data={"email": member.email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        return member

    return do
