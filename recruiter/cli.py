"""The `recruiter` command: a Flask CLI with the app loaded.

Only the console script's entry point lives here, so that ``create_app`` can attach the
commands (``cli_commands.register``) without importing this module back.
"""

from __future__ import annotations

import copy
from importlib import metadata

import click
from flask.cli import FlaskGroup

# Re-exported: the commands were defined here before they moved to their own modules.
from .cli_commands import (
    letters,
    letters_check,
    merge_command,
    positions,
    positions_add,
    register,
    users,
    users_create,
)
from .cli_serve import serve
from .cli_support import friendly, friendly_command, one_line

__all__ = ["command_line", "friendly", "friendly_command", "letters", "letters_check", "main",
           "merge_command",
           "one_line", "positions", "positions_add", "register", "serve", "users",
           "users_create"]


HELP = """recruiter: kind, personal and careful decline letters, sent once and provable.

\b
Start with `recruiter serve` (the app with a demo), or on the command line:
  recruiter positions add CANDIDATES.csv --title TITLE   import a position
  recruiter letters check POSITION                       the letter checks
  recruiter letters send POSITION                        what would go (a dry run)
  recruiter audit verify                                 prove nothing was changed

The settings come from RECRUITER_* environment variables (README, Configuration).
"""


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"recruiter {metadata.version('recruiter')}")
        ctx.exit()


class _Recruiter(FlaskGroup):
    """Flask's group without the commands that plugins bring (Flask-Limiter's `limiter`)."""

    FOREIGN = frozenset({"limiter"})

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: D102
        return [name for name in super().list_commands(ctx) if name not in self.FOREIGN]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:  # noqa: D102
        return None if name in self.FOREIGN else super().get_command(ctx, name)


def command_line() -> FlaskGroup:
    """The `recruiter` command: recruiter's commands only, none of Flask's development ones.

    Flask's `--app`, `--env-file` and `--debug` still work (a deployment may use them) but are
    not shown; `--version` is recruiter's.
    """
    from . import create_app

    group = _Recruiter(create_app=create_app, add_default_commands=False,
                       add_version_option=False, help=HELP)
    group.params = [copy.copy(param) for param in group.params]
    for param in group.params:
        param.hidden = True
    group.params.append(click.Option(["--version"], is_flag=True, expose_value=False,
                                     is_eager=True, callback=_version,
                                     help="Show recruiter's version and exit."))
    return group


def main() -> None:
    """Entry point of the `recruiter` console script."""
    command_line().main()
