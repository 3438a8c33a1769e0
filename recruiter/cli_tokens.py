"""`recruiter tokens`: the organization's API tokens, without a browser."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .cli_support import ORG_HELP, admin_named, friendly_command, one_line, pick_organization
from .extensions import db
from .models import TOKEN_SCOPES
from .services.tokens import create_token, revoke_token, tokens_of

tokens = AppGroup("tokens", help="Create, list and revoke the organization's API tokens.")


@tokens.command("create")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--name", required=True, callback=one_line,
              help="What the token is for, such as the ATS that uses it.")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), default="read", show_default=True,
              help="read: look only; write: change positions, notes and letters too.")
@click.option("--by", "by_email", default=None, help="The admin who makes it, for the audit log.")
def tokens_create(org_name: str | None, name: str, scope: str, by_email: str | None) -> None:
    """Make a token; its secret is printed once, on the last line, and never again."""
    organization = pick_organization(org_name)
    token, secret = create_token(db.session, organization, name, scope,
                                 by=admin_named(organization, by_email))
    db.session.commit()
    click.echo(f"Created {scope} token {token.id} ({token.prefix}…) for {organization.name}. "
               "Keep the secret now; it is not shown again:", err=True)
    click.echo(secret)


@tokens.command("list")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
def tokens_list(org_name: str | None) -> None:
    """One line a token: id, prefix, scope, name, and when it was last used or revoked."""
    organization = pick_organization(org_name)
    for token in tokens_of(db.session, organization):
        used = f"last used {token.last_used_at:%Y-%m-%d %H:%M} UTC" if token.last_used_at \
            else "never used"
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M} UTC" if token.revoked_at else used
        click.echo(f"{token.id}\t{token.prefix}…\t{token.scope}\t{token.name}\t{state}")


@tokens.command("revoke")
@click.argument("token")
@click.option("--org", "org_name", default=None, help=ORG_HELP)
@click.option("--by", "by_email", default=None, help="The admin who revokes it.")
def tokens_revoke(token: str, org_name: str | None, by_email: str | None) -> None:
    """Revoke a token by its id or prefix; requests with it are refused from now on."""
    organization = pick_organization(org_name)
    revoked = revoke_token(db.session, organization, token, by=admin_named(organization, by_email))
    db.session.commit()
    click.echo(f"Revoked token {revoked.id} ({revoked.prefix}…).")


for _command in tokens.commands.values():
    friendly_command(_command)
