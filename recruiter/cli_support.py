"""What every `recruiter` command shares: one clear line for a mistake, one-line options.

Kept apart from ``cli_commands`` (which registers the groups) so that the command modules can
use it without importing the module that imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from flask import has_app_context
from sqlalchemy import select

from .errors import CandidateImportError, RecruiterError
from .extensions import db
from .models import Member, Organization
from .schema import ensure_schema
from .services.accounts import find_organization
from .services.text import single_line_problem


def friendly(func: Callable[..., Any], *, database: bool = True) -> Callable[..., Any]:
    """Turn a RecruiterError into one clear message and a non-zero exit, rolling back.

    A command that uses the database first makes sure of it: a fresh instance's is set up, an
    outdated one is named with the command that updates it. ``database=False`` (`merge`)
    never looks at it, whatever state it is in.
    """
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if database and has_app_context() and (done := ensure_schema()):
                click.echo(done, err=True)
            return func(*args, **kwargs)
        except CandidateImportError as exc:
            _rollback()
            click.echo(f"Error: {exc}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem.message}", err=True)
            sys.exit(1)
        except RecruiterError as exc:
            _rollback()
            raise click.ClickException(str(exc)) from exc
    return wrapper


def stateless(func: Callable[..., Any]) -> Callable[..., Any]:
    """``friendly`` for a command that needs no database (`merge`)."""
    return friendly(func, database=False)


def _rollback() -> None:
    if has_app_context():  # `merge` is stateless and runs without one
        db.session.rollback()


def friendly_command(command: click.Command) -> click.Command:
    """Wrap a command defined elsewhere so errors read as one clear message."""
    if command.callback is not None and not getattr(command.callback, "_friendly", False):
        command.callback = friendly(command.callback)
        command.callback._friendly = True  # type: ignore[attr-defined]
    return command


def one_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: the option is one line, without control characters or overrides."""
    problem = single_line_problem(value)
    if problem:
        raise click.BadParameter(f"this {problem}.")
    return value


ORG_HELP = "Organization id or exact name; needed only when there are several."


def pick_organization(name: str | None) -> Organization:
    """The organization named, or the only one; several without --org are refused."""
    if name is not None:
        found = find_organization(db.session, name)
        if found is None:
            raise RecruiterError(f"There is no organization with the id or name {name!r}.")
        return found
    orgs = db.session.scalars(select(Organization).order_by(Organization.id).limit(2)).all()
    if not orgs:
        raise RecruiterError("There is no organization yet; create one with "
                             "`recruiter users create --org NAME ...`.")
    if len(orgs) > 1:
        raise RecruiterError("There are several organizations; name one with --org "
                             "(its id or exact name).")
    return orgs[0]


def admin_named(organization: Organization, email: str | None) -> Member | None:
    """The admin named by --by, or no one."""
    if not email:
        return None
    member = db.session.scalars(select(Member).where(
        Member.organization_id == organization.id, Member.active.is_(True),
        Member.email == email.strip().lower())).first()
    if member is None or member.role != "admin":
        raise RecruiterError(f"{email} is not an active admin of {organization.name}; name one "
                             "with --by, or leave --by out.")
    return member
