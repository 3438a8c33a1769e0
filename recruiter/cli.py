"""The `recruiter` command: a Flask CLI with the app loaded.

Only the console script's entry point lives here, so that ``create_app`` can attach the
commands (``cli_commands.register``) without importing this module back.
"""

from __future__ import annotations

from flask.cli import FlaskGroup

# Re-exported: the commands were defined here before they moved to their own modules.
from .cli_commands import (
    friendly,
    friendly_command,
    letters,
    letters_check,
    merge_command,
    one_line,
    positions,
    positions_add,
    register,
    users,
    users_create,
)
from .cli_serve import serve

__all__ = ["friendly", "friendly_command", "letters", "letters_check", "main", "merge_command",
           "one_line", "positions", "positions_add", "register", "serve", "users",
           "users_create"]


def main() -> None:
    """Entry point of the `recruiter` console script."""
    from . import create_app

    FlaskGroup(create_app=create_app, help="recruiter: kind, careful decline letters.").main()
