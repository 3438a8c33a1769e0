"""`recruiter webhooks`: the organization's webhook endpoints and their deliveries, no browser."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .cli_support import ORG_HELP, admin_named, friendly_command, one_line, pick_organization
from .extensions import db
from .models import WEBHOOK_DELIVERY_STATES
from .services import webhooks as service

webhooks = AppGroup("webhooks", help="Register the endpoints recruiter tells of sent letters; "
                                     "see and resend their deliveries.")


@webhooks.command("add")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--url", required=True, callback=one_line, help="https://… of the receiver.")
@click.option("--events", required=True, callback=one_line,
              help=f"Comma-separated, or all: {', '.join(service.EVENTS)}.")
@click.option("--description", default="", callback=one_line, help="What receives it.")
@click.option("--by", "by_email", default=None, help="The admin who adds it, for the audit log.")
def webhooks_add(org_name: str | None, url: str, events: str, description: str,
                 by_email: str | None) -> None:
    """Register an endpoint; its signing secret is printed on the last line."""
    organization = pick_organization(org_name)
    endpoint = service.add_endpoint(db.session, organization, url, events, description,
                                    by=admin_named(organization, by_email))
    db.session.commit()
    click.echo(f"Added endpoint {endpoint.id} for {organization.name}: {endpoint.url} "
               f"({', '.join(endpoint.events)}). Its signing secret:", err=True)
    click.echo(endpoint.secret)


@webhooks.command("list")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
def webhooks_list(org_name: str | None) -> None:
    """One line an endpoint: id, enabled or disabled, URL, events."""
    organization = pick_organization(org_name)
    for endpoint in service.endpoints_of(db.session, organization):
        state = "enabled" if endpoint.active else "disabled"
        click.echo(f"{endpoint.id}\t{state}\t{endpoint.url}\t{','.join(endpoint.events)}")


@webhooks.command("remove")
@click.argument("endpoint_id")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--by", "by_email", default=None, help="The admin who removes it.")
def webhooks_remove(endpoint_id: str, org_name: str | None, by_email: str | None) -> None:
    """Remove an endpoint and its delivery log."""
    organization = pick_organization(org_name)
    endpoint = service.endpoint_of(db.session, organization, endpoint_id)
    url = endpoint.url
    service.remove_endpoint(db.session, endpoint, by=admin_named(organization, by_email))
    db.session.commit()
    click.echo(f"Removed endpoint {endpoint_id} ({url}).")


@webhooks.command("deliveries")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--endpoint", "endpoint_id", default=None, help="Only this endpoint's.")
@click.option("--state", type=click.Choice(WEBHOOK_DELIVERY_STATES), default=None,
              help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def webhooks_deliveries(org_name: str | None, endpoint_id: str | None, state: str | None,
                        limit: int) -> None:
    """The delivery log, newest first: id, state, attempts, event, last status and error."""
    organization = pick_organization(org_name)
    only = service.endpoint_of(db.session, organization, endpoint_id).id \
        if endpoint_id is not None else None
    for d in service.deliveries_of(db.session, organization, endpoint_id=only, state=state,
                                   limit=limit):
        when = f"{d.last_attempt_at:%Y-%m-%d %H:%M} UTC" if d.last_attempt_at else "not yet"
        click.echo(f"{d.id}\t{d.state}\t{d.attempts}\t{d.event.type}\t{d.event.public_id}\t"
                   f"endpoint {d.endpoint_id}\t{d.last_status or '-'}\t{when}\t"
                   f"{d.last_error or ''}".rstrip())


@webhooks.command("resend")
@click.argument("delivery_id")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--by", "by_email", default=None, help="The admin who resends it.")
def webhooks_resend(delivery_id: str, org_name: str | None, by_email: str | None) -> None:
    """Send a delivered or dead delivery again, with the same event id."""
    organization = pick_organization(org_name)
    delivery = service.delivery_of(db.session, organization, delivery_id)
    service.resend(db.session, delivery, by=admin_named(organization, by_email))
    db.session.commit()
    click.echo(f"Delivery {delivery_id} is pending again; `recruiter webhooks deliver` or a "
               "worker sends it.")


@webhooks.command("deliver")
def webhooks_deliver() -> None:
    """Deliver every due webhook now, as the worker does each minute."""
    results = service.deliver_due(
        db.session, timeout=float(current_app.config.get("WEBHOOK_TIMEOUT", 10)),
        max_attempts=int(current_app.config.get("WEBHOOK_MAX_ATTEMPTS", 8)))
    states: dict[str, int] = {}
    for result in results:
        states[result.state] = states.get(result.state, 0) + 1
    click.echo(", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "Nothing was due.")


for _command in webhooks.commands.values():
    friendly_command(_command)
