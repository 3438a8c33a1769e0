"""`recruiter candidates outcome`: change an outcome from the command line, as the page does."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from .errors import RecruiterError
from .extensions import db
from .models import Application, Candidate
from .services.outcomes import OUTCOMES, OutcomeNeedsConfirmation, Plan, change_outcome

candidates = click.Group("candidates", help="Change what happens to a position's candidates.")


def _application(position_id: int, email: str) -> Application:
    found = db.session.scalars(
        select(Application).join(Candidate).where(
            Application.position_id == position_id,
            func.lower(Candidate.email) == email.strip().lower())).all()
    if len(found) != 1:
        raise RecruiterError(f"Position {position_id} has no candidate with the email {email}.")
    return found[0]


def _print(plan: Plan) -> None:
    for change in plan.changes:
        click.echo(f"{change.name}: {change.before} -> {change.after}. {change.letter}")


@candidates.command("outcome")
@click.argument("position_id", type=int)
@click.argument("email")
@click.argument("outcome", type=click.Choice(OUTCOMES))
@click.option("--yes", is_flag=True, help="Confirm a change that needs confirming.")
@click.option("--raise-openings", is_flag=True,
              help="Hire one more than the openings allow by raising them.")
@click.option("--replace", "replace_email", default=None,
              help="The hire (an email) who goes back to pending instead.")
@click.option("--by", "by_email", default=None, help="The member who decides (an email).")
def outcome(position_id: int, email: str, outcome: str, yes: bool, raise_openings: bool,
            replace_email: str | None, by_email: str | None) -> None:
    """Set a candidate's outcome (pending, hired, declined, withdrawn) and say what it does."""
    from .cli_sending import acting_member, position_by_id

    position = position_by_id(position_id)
    application = _application(position.id, email)
    replace = _application(position.id, replace_email).id if replace_email else None
    try:
        plan = change_outcome(db.session, application, outcome,
                              by=acting_member(position, by_email), confirmed=yes,
                              raise_openings=raise_openings, replace=replace)
    except OutcomeNeedsConfirmation as exc:
        db.session.rollback()
        if exc.plan.full:
            hires = ", ".join(name for _, name in exc.plan.hires)
            raise click.ClickException(
                f"Every opening is taken ({hires}). Add --raise-openings, or --replace "
                "EMAIL of the hire who goes back to pending.") from exc
        _print(exc.plan)
        raise click.ClickException(f"{exc} Nothing changed; run again with --yes.") from exc
    db.session.commit()
    _print(plan)
    if not plan.changes:
        click.echo("Nothing changed.")
