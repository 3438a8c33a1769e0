"""`recruiter serve`: the embedded server, with the demo and a worker in the same process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click
from flask import current_app

from .extensions import db


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load the Vancouver demo on first run.")
def serve(host: str, port: int, demo: bool) -> None:
    """Run recruiter on the embedded defaults: migrate, load the demo, start the worker."""
    from flask_migrate import upgrade
    from werkzeug.serving import run_simple

    from .services.demo import demo_login, load_demo

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if host in ("127.0.0.1", "localhost", "::1") and \
            "RECRUITER_SESSION_COOKIE_SECURE" not in os.environ:
        # Plain HTTP on this machine only: Safari drops Secure cookies there.
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = False
    upgrade()
    login_file = Path(app.instance_path) / "demo-login.txt"
    if demo:
        load_demo(db.session, login_file)
        db.session.commit()
    login = demo_login(login_file)
    click.echo(f"recruiter is running at http://{host}:{port}/")
    if login:
        click.echo(f"Demo login: {login[0]}  password: {login[1]}")
    click.echo(f"Instance folder: {app.instance_path}")
    _start_worker_in_process()
    # SIGTERM (a service manager, `kill`) stops the server as Ctrl+C does, so that the exit
    # handlers run and the PDF and email workers and their fork server stop with it; the
    # default handler would end this process alone and leave them running.
    signal.signal(signal.SIGTERM, _stop)
    try:
        # Not app.run(): Flask ignores that inside its own CLI.
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    except KeyboardInterrupt:
        pass
    finally:
        from .services import workers

        workers.shutdown()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_worker_in_process() -> None:
    """The embedded default sends from this process: one worker thread and the sweep."""
    import signal

    from .queue import consumer

    if current_app.config.get("QUEUE_IMMEDIATE"):
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                     signal.SIGHUP)}
    consumer(1).start()
    for sig, handler in saved.items():  # Ctrl+C stops the web server, as it should
        signal.signal(sig, handler)
    click.echo("Worker: 1 thread in this process (use `recruiter worker` for more).")
