"""One blueprint per area."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the web UI, in registration order."""
    from ..api import bp as api
    from .audit import bp as audit
    from .auth import bp as auth
    from .boilerplates import bp as boilerplates
    from .candidates import bp as candidates
    from .deliverability import bp as deliverability
    from .documents import bp as documents
    from .letters import bp as letters
    from .live_checks import bp as live_checks
    from .main import bp as main
    from .members import bp as members
    from .notes import bp as notes
    from .organization import bp as organization
    from .positions import bp as positions
    from .reasons import bp as reasons
    from .sending import bp as sending
    from .test_letter import bp as test_letter
    from .webhooks import bp as webhooks

    return [main, auth, positions, candidates, notes, boilerplates, letters, sending, members,
            organization, audit, api, webhooks, reasons, test_letter, live_checks,
            documents, deliverability]
