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
from .services import checkpoints, evidence, retention
from .services.accounts import find_organization

audit = AppGroup("audit", help="Prove what each candidate received; keep data only as allowed.")


def _org(name: str | None):  # noqa: ANN202
    """The organization with this id or exact name; an ambiguous one is refused, listed."""
    if name is None:
        return None
    org = find_organization(db.session, name)
    if org is None:
        raise RecruiterError(f"There is no organization with the id or name {name!r}.")
    return org


def _key() -> bytes:
    return checkpoints.checkpoint_key(current_app.config["SECRET_KEY"])


@audit.command("verify")
@click.option("--org", "org_name", default=None, help="Only this organization (id or name).")
@click.option("--checkpoint", "checkpoint_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check that the chains still contain the heads this checkpoint signed.")
def verify(org_name: str | None, checkpoint_file: Path | None) -> None:
    """Recompute every audit chain and stored letter hash; exit 1 on the first break."""
    org = _org(org_name)
    problems = []
    if checkpoint_file is not None:
        problems += checkpoints.verify_checkpoint(
            db.session, checkpoints.read_checkpoint(checkpoint_file), _key(), org)
    problems += audit_service.verify(db.session, org)
    if problems:
        for problem in problems:
            click.echo(f"BROKEN {problem}", err=True)
        sys.exit(1)
    click.echo("Audit chain and stored letters are intact." if checkpoint_file is None else
               f"Audit chain and stored letters are intact and contain the heads of "
               f"{checkpoint_file}.")


@audit.command("checkpoint")
@click.option("--org", "org_name", default=None, help="Only this organization (id or name).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def checkpoint(org_name: str | None, out: Path) -> None:
    """Write each chain's head, signed with a key derived from the secret key, as JSON."""
    if not out.parent.is_dir():
        raise RecruiterError(f"There is no folder {out.parent}.")
    signed = checkpoints.make_checkpoint(db.session, _key(), _org(org_name))
    checkpoints.write_checkpoint(out, signed)
    heads = ", ".join(f"id {h['organization']} at #{h['seq']}" for h in signed["heads"])
    click.echo(f"Wrote {out}: {len(signed['heads'])} organizations ({heads or 'none'}). Keep "
               "it where the database's admins cannot change it.")


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
            manifest = evidence.write_export(db.session, position, fh, actor=None,
                                             checkpoint_key=_key())
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
@click.option("--org", "org_name", required=True, help="Organization id or exact name.")
def erase(email: str, org_name: str) -> None:
    """Erase one person by email now, or record the request while retention applies."""
    request = retention.request_erasure(
        db.session, _org(org_name), email, None,
        outbox=retention.outbox_folder(current_app.config["MAIL_URL"]))
    db.session.commit()
    if request.status == "done":
        retention.compact(db.session)
    click.echo(f"{request.status}: {request.reason}")
