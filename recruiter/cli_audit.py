"""The audit commands: verify the chain, export evidence, purge past retention, erase a person."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .errors import RecruiterError
from .extensions import db
from .models import Position
from .services import audit as audit_service
from .services import evidence, retention
from .services.accounts import find_organization

audit = AppGroup("audit", help="Prove what each candidate received; keep data only as allowed.")


def _org(name: str | None):  # noqa: ANN202
    if name is None:
        return None
    org = find_organization(db.session, name)
    if org is None:
        raise RecruiterError(f"There is no organization called {name!r}.")
    return org


@audit.command("verify")
@click.option("--org", "org_name", default=None, help="Only this organization.")
def verify(org_name: str | None) -> None:
    """Recompute every audit chain and stored letter hash; exit 1 on the first break."""
    problems = audit_service.verify(db.session, _org(org_name))
    if problems:
        for problem in problems:
            click.echo(f"BROKEN {problem}", err=True)
        sys.exit(1)
    click.echo("Audit chain and stored letters are intact.")


@audit.command("export")
@click.argument("position_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(position_id: int, out: Path) -> None:
    """Write the evidence ZIP of a position: every letter as sent, hashes and the chain."""
    position = db.session.get(Position, position_id)
    if position is None:
        raise RecruiterError(f"There is no position with id {position_id}.")
    if not out.parent.is_dir():
        raise RecruiterError(f"There is no folder {out.parent}.")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tmp.open("wb") as fh:
            manifest = evidence.write_export(db.session, position, fh, actor=None)
        db.session.commit()  # the export's own audit event, before the file is there
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(f"Wrote {out}: {len(manifest['letters'])} letters, "
               f"{len(manifest['chain']['events'])} audit events.")


@audit.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def purge(dry_run: bool) -> None:
    """Delete personal data past each organization's retention period."""
    report = retention.run_purge(db.session, Path(current_app.instance_path),
                                 current_app.config["MAIL_URL"], dry_run=dry_run)
    if dry_run:
        click.echo(f"Dry run: {report.candidates} candidates would be purged.")
        return
    click.echo(f"Purged {report.candidates} candidates, {report.letters} letters, "
               f"{report.files} outbox files and {report.previews} import previews; "
               f"{report.erasures_done} erasure requests done.")


@audit.command("erase")
@click.argument("email")
@click.option("--org", "org_name", required=True)
def erase(email: str, org_name: str) -> None:
    """Erase one person by email now, or record the request while retention applies."""
    request = retention.request_erasure(
        db.session, _org(org_name), email, None,
        outbox=retention.outbox_folder(current_app.config["MAIL_URL"]))
    db.session.commit()
    if request.status == "done":
        retention.compact(db.session)
    click.echo(f"{request.status}: {request.reason}")
