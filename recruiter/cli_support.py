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

from .errors import CandidateImportError, RecruiterError
from .extensions import db
from .schema import ensure_schema
from .services.text import single_line_problem


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a RecruiterError into one clear message and a non-zero exit, rolling back.

    A command with an app (every one but `merge`) first makes sure of the database: a fresh
    instance's is set up, an outdated one is named with the command that updates it.
    """
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if has_app_context() and (done := ensure_schema()):
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
