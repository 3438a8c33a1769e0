"""One blueprint per area."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the web UI, in registration order."""
    from .main import bp as main

    return [main]
