"""recruiter: kind, personal and legally careful decline letters."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .paths import TEMPLATES_DIR

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, CLI and error handlers."""
    instance = os.environ.get("RECRUITER_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance).resolve()) if instance else None,
        instance_relative_config=True,
        template_folder=str(TEMPLATES_DIR),
    )
    register_config(app, config)
    register_request_limits(app)  # first, so no other hook reads an oversized body
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    register_error_handlers(app)
    register_security_headers(app)
    return app


def register_config(app: Flask, config: Mapping[str, Any] | None) -> None:
    """Layer the defaults, instance/config.py, RECRUITER_* variables and ``config``."""
    from .config import DefaultConfig

    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("RECRUITER")
    if config:
        app.config.update(config)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    url = app.config.get("DATABASE_URL") or f"sqlite:///{instance / 'recruiter.db'}"
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", url)
    app.config["MAIL_URL"] = app.config.get("MAIL_URL") or (instance / "outbox").as_uri()
    app.config["QUEUE_URL"] = app.config.get("QUEUE_URL") or f"sqlite:///{instance / 'queue.db'}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    if app.config.get("SESSION_COOKIE_SECURE") is None:  # not chosen: Secure outside debug
        app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]


def register_request_limits(app: Flask) -> None:
    """Trust PROXY_COUNT proxies for the client address, and refuse oversized bodies unread."""
    from flask import abort, request
    from werkzeug.middleware.proxy_fix import ProxyFix

    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:  # only then is X-Forwarded-For believed: anyone can send the header
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.before_request
    def _body_limit() -> None:
        # Before any handler or CSRF check reads the form: the Content-Length is refused
        # unread, and a body without one is cut off by Werkzeug at the same limit.
        if request.endpoint not in app.config["UPLOAD_ENDPOINTS"]:
            request.max_content_length = app.config["FORM_MAX_CONTENT_LENGTH"]
        limit = request.max_content_length
        if limit is not None and (request.content_length or 0) > limit:
            abort(413)


def _instance_secret(path: Path) -> str:
    """Read the instance's secret key, creating it once with owner-only permissions."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def register_extensions(app: Flask) -> None:
    """Bind every extension to ``app``."""
    from . import models  # noqa: F401  (registers the tables)
    from .extensions import csrf, db, limiter, login, migrate
    from .paths import MIGRATIONS_DIR

    db.init_app(app)
    _tune_sqlite(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    limiter.init_app(app)
    login.init_app(app)
    login.login_view = "auth.login"
    login.login_message_category = "info"

    @login.user_loader
    def load_member(session_id: str):  # noqa: ANN202
        # "id:version" (Member.get_id): a session from before the version was raised has
        # ended, and so has one from before versions existed (a bare id).
        member_id, _, version = session_id.partition(":")
        if not (member_id.isdigit() and version.isdigit()):
            return None
        member = db.session.get(models.Member, int(member_id))
        if (member is None or member.kind != "person"
                or member.session_version != int(version)):
            return None
        return member

    from .queue import init_queue

    init_queue(app)

    from .services.pdf import harfbuzz_subset_available

    if not harfbuzz_subset_available():
        log.warning(
            "libharfbuzz-subset is missing: PDFs will render about 5 times slower. "
            "Install the Debian package libharfbuzz-subset0."
        )


def _tune_sqlite(app: Flask) -> None:
    """Put every SQLite file database in WAL mode, synchronous=FULL and foreign keys on.

    Foreign keys are enforced as PostgreSQL enforces them. WAL lets readers (the progress
    page) work while a worker writes, and makes each commit one append and one fsync instead
    of several: sending is 1.3 times faster (bench/README.md). FULL, not NORMAL, because a
    committed claim must survive a power loss: a letter whose claim was lost could be sent a
    second time.
    """
    from sqlalchemy import event

    from .extensions import db

    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")  # as PostgreSQL does: no row points nowhere
    cursor.close()


def register_blueprints(app: Flask) -> None:
    """Register one blueprint per area."""
    from .views import blueprints

    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    from .plural import plural

    app.add_template_global(plural)  # {{ plural(n, "letter", "letters") }}: "1 letter"


def register_cli(app: Flask) -> None:
    """Attach the `recruiter` commands to the app's CLI."""
    from .cli_commands import register

    register(app)


def register_error_handlers(app: Flask) -> None:
    """Render errors as friendly pages."""
    from .views.errors import register

    register(app)


def register_security_headers(app: Flask) -> None:
    """Send a strict Content-Security-Policy and friends with every response."""
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; object-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )

    @app.after_request
    def _headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
