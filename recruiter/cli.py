"""The `recruiter` command: a Flask CLI with the app loaded."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup

from .errors import CandidateImportError, RecruiterError
from .extensions import db


def main() -> None:
    """Entry point of the `recruiter` console script."""
    from . import create_app

    FlaskGroup(create_app=create_app, help="recruiter: kind, careful decline letters.").main()


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a RecruiterError into one clear message and a non-zero exit, rolling back."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CandidateImportError as exc:
            db.session.rollback()
            click.echo(f"Error: {exc}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem.message}", err=True)
            sys.exit(1)
        except RecruiterError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
    return wrapper


def register(app: Flask) -> None:
    """Attach every command group to ``app.cli``."""
    app.cli.add_command(serve)
    app.cli.add_command(merge_command)
    app.cli.add_command(positions)
    app.cli.add_command(users)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load the Vancouver demo on first run.")
def serve(host: str, port: int, demo: bool) -> None:
    """Run recruiter on the embedded defaults: migrate, load the demo, start the worker."""
    from flask_migrate import upgrade

    from .services.demo import demo_login, load_demo

    app = current_app._get_current_object()  # type: ignore[attr-defined]
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
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


@click.command("merge")
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--position", "position", required=True, help="The position's title.")
@click.option("--differentiator", default="", help="What set the hire apart, in one phrase.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "eml", "txt"]), default="pdf",
              show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--template", default=None, help="A shipped boilerplate (default: by stage).")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows, list the rest.")
@click.option("--org", "org_name", default="our company", show_default=True)
@click.option("--sender", "sender_name", default="The hiring team", show_default=True)
@click.option("--sender-title", default="")
@click.option("--sender-email", default="hiring@example.com", show_default=True)
@click.option("--page-size", type=click.Choice(["A4", "letter"]), default="A4",
              show_default=True)
@friendly
def merge_command(candidates: Path, position: str, differentiator: str, fmt: str, out: Path,
                  template: str | None, skip_invalid: bool, org_name: str, sender_name: str,
                  sender_title: str, sender_email: str, page_size: str) -> None:
    """Write one letter per candidate who was not hired. Needs no database."""
    from .services.merge import Sender, merge

    sender = Sender(organization=org_name, name=sender_name, title=sender_title,
                    email=sender_email)
    summary = merge(candidates.read_bytes(), position=position, differentiator=differentiator,
                    fmt=fmt, out=out, template=template, skip_invalid=skip_invalid,
                    sender=sender, page_size=page_size)
    for line in summary.invalid_rows:
        click.echo(f"Skipped invalid: {line}")
    for line in summary.skipped:
        click.echo(f"Skipped: {line}")
    for line in summary.warnings:
        click.echo(f"Warning: {line}")
    click.echo(f"{len(summary.written)} letters written to {out}, "
               f"{len(summary.skipped) + len(summary.invalid_rows)} skipped, "
               f"{len(summary.warnings)} warnings.")


positions = AppGroup("positions", help="Create and manage positions.")


@positions.command("add")
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", required=True)
@click.option("--location", default="")
@click.option("--differentiator", default="")
@click.option("--org", "org_name", default=None, help="Organization (default: the only one).")
@click.option("--skip-invalid", is_flag=True)
@friendly
def positions_add(candidates: Path, title: str, location: str, differentiator: str,
                  org_name: str | None, skip_invalid: bool) -> None:
    """Create a position from a CSV; prints the new position's id on the last line."""
    from .services.importing import accepted_rows, parse_candidates
    from .services.positions import create_position, existing_emails, import_rows

    org = _organization(org_name)
    position = create_position(db.session, org, title=title, location=location,
                               differentiator=differentiator)
    parsed = parse_candidates(candidates.read_bytes(), existing_emails=existing_emails(
        db.session, position))
    rows = accepted_rows(parsed, skip_invalid=skip_invalid)
    apps = import_rows(db.session, position, rows)
    db.session.commit()
    for problem in parsed.problems:
        click.echo(f"Skipped: {problem.message}")
    hired = sum(1 for a in apps if a.outcome == "hired")
    click.echo(f"Created position {title!r} with {len(apps)} candidates ({hired} hired).")
    click.echo(str(position.id))


def _organization(name: str | None):  # noqa: ANN202
    from sqlalchemy import select

    from .models import Organization
    from .services.accounts import create_organization, find_organization

    if name:
        return find_organization(db.session, name) or create_organization(db.session, name)
    orgs = db.session.scalars(select(Organization).limit(2)).all()
    if len(orgs) == 1:
        return orgs[0]
    if not orgs:
        return create_organization(db.session, "My organization")
    raise RecruiterError("There are several organizations; name one with --org.")


users = AppGroup("users", help="Manage members.")


@users.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "auditor"]), required=True)
@click.option("--name", default="")
@friendly
def users_create(org_name: str, email: str, role: str, name: str) -> None:
    """Create a member; the password is read from standard input."""
    from .services.accounts import create_member, create_organization, find_organization

    password = sys.stdin.readline().rstrip("\r\n")
    org = find_organization(db.session, org_name) or create_organization(db.session, org_name)
    member = create_member(db.session, org, email=email, role=role, password=password,
                           name=name)
    db.session.commit()
    click.echo(f"Created {member.role} {member.email} in {org.name}.")
