"""Where the shipped, non-Python files live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # A wheel carries the folder inside the package; a checkout keeps it at the top.
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


LETTERS_DIR = _data_dir("letters")
TEMPLATES_DIR = _data_dir("templates")
MIGRATIONS_DIR = _data_dir("migrations")
