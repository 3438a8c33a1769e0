"""`recruiter org show` and `recruiter org set`: the organization's settings without a browser."""

from __future__ import annotations

from typing import cast

import click
from flask.cli import AppGroup

from .cli_support import ORG_HELP, admin_named, friendly_command, one_line, pick_organization
from .extensions import db
from .services.organization import FIELDS, TITLES_IN, titles_in, update_organization
from .services.required_reasons import set_required

org = AppGroup("org", help="Show and change the organization's letterhead, sender and rules.")


def _pairs(ctx: click.Context, param: click.Parameter,
           pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Click callback: each LANG and TEXT of a repeated pair is one line."""
    return [(one_line(ctx, param, code) or "", one_line(ctx, param, text) or "")
            for code, text in pairs]


@org.command("show", short_help="Print every setting, one per line.")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
def show(org_name: str | None) -> None:
    """Print every setting, one "name: value" line each, in the settings pages' order."""
    organization = pick_organization(org_name)
    for field in FIELDS:
        value = (" / ".join(organization.address_lines) if field == "address"
                 else getattr(organization, field))
        click.echo(f"{field}: {str(value).lower() if isinstance(value, bool) else value}")
        if field == "sender_title":
            for code, title in titles_in(organization).items():
                click.echo(f"{TITLES_IN}.{code}: {title}")
    # Set on the rejection reasons page (or `org set --require-reasons`), not in FIELDS.
    click.echo(f"require_reasons: {str(organization.require_reasons).lower()}")


@org.command("set", short_help="Change the settings given (all or nothing).")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--name", default=None, callback=one_line,
              help="The organization's name, shown in the letterhead.")
@click.option("--address", default=None,
              help='The postal address: its lines separated by newlines or by " / ".')
@click.option("--sender-name", default=None, callback=one_line,
              help="The person who signs the letters.")
@click.option("--sender-title", default=None, callback=one_line, help="Their title.")
@click.option("--sender-title-in", "sender_title_in", type=(str, str), multiple=True,
              callback=_pairs, metavar="LANG TEXT",
              help="Their title in another language, e.g. --sender-title-in fr "
                   "\"Directrice des opérations\"; repeatable; an empty TEXT removes it.")
@click.option("--sender-email", default=None, callback=one_line,
              help="The From address of every email letter; letters cannot be sent without it.")
@click.option("--reply-to", default=None, callback=one_line,
              help="Where replies to a letter go (the Reply-To of every email letter); "
                   "an empty value: the sender email.")
@click.option("--bounce-domain", default=None, callback=one_line,
              help="The domain of the envelope senders bounces+<token>@domain, whose mail "
                   "`recruiter bounces` reads; an empty value: no VERP.")
@click.option("--timezone", default=None, callback=one_line,
              help="An IANA time zone such as America/Vancouver.")
@click.option("--locale", default=None, callback=one_line,
              help="How dates are written in letters, e.g. en_CA.")
@click.option("--send-rate", "send_rate_per_minute", type=int, default=None,
              help="The most emails sent in any minute (1 to 10000).")
@click.option("--retention-months", type=int, default=None,
              help="Months personal data is kept after a position is filled (1 to 120).")
@click.option("--webhooks-allow-private", type=click.BOOL, default=None,
              help="true: webhooks may go to private, loopback and link-local addresses.")
@click.option("--require-reasons/--no-require-reasons", default=None,
              help="Require a rejection reason for every declined candidate before letters "
                   "are approved (for EEO/OFCCP record-keeping).")
@click.option("--by", "by_email", default=None,
              help="The admin who makes the change (an email), for the audit log.")
def set_(org_name: str | None, by_email: str | None, **given: object) -> None:
    """Change the settings given; all or nothing, audit-logged with the field names."""
    organization = pick_organization(org_name)
    titles = cast(list[tuple[str, str]], given.pop(TITLES_IN, None) or [])
    reasons = cast(bool | None, given.pop("require_reasons", None))
    values = {field: value for field, value in given.items() if value is not None}
    if titles:
        values[TITLES_IN] = dict(titles)
    if isinstance(values.get("address"), str):
        values["address"] = "\n".join(line.strip() for line in values["address"].split(" / "))
    admin = admin_named(organization, by_email)
    changed = update_organization(db.session, organization, values, admin)
    if reasons is not None and set_required(db.session, organization, reasons, by=admin):
        changed = sorted([*changed, "require_reasons"])
    db.session.commit()
    click.echo(f"Changed: {', '.join(changed)}." if changed else "Nothing changed.")


for _command in org.commands.values():
    friendly_command(_command)
