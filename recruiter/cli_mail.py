"""`recruiter mail`: the email's deliverability, DKIM keys first."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .cli_support import stateless
from .errors import RecruiterError
from .services import dkim_sign

mail = AppGroup("mail", help="Email deliverability: DKIM signing keys.")


@mail.command("dkim-keygen")
@click.option("--selector", required=True, help="The DKIM selector, e.g. recruiter2026.")
@click.option("--domain", required=True, help="The signing domain, e.g. example.com.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (created 0600; never overwritten).")
@stateless
def dkim_keygen(selector: str, domain: str, out: Path) -> None:
    """Make a 2048-bit RSA key and print the DNS TXT record that publishes it."""
    dkim_sign.check_name("--selector", selector)
    dkim_sign.check_name("--domain", domain)
    try:
        public = dkim_sign.generate(out)
    except FileExistsError as exc:
        raise RecruiterError(f"{out} exists; choose another --out, or remove it first "
                             "(a key in use would stop verifying).") from exc
    except OSError as exc:
        raise RecruiterError(f"Cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"Wrote the private key to {out} (mode 0600). Publish this record, then set "
               f"RECRUITER_DKIM_SELECTOR={selector}, RECRUITER_DKIM_DOMAIN={domain} and "
               f"RECRUITER_DKIM_KEY_FILE={out.resolve()}:", err=True)
    click.echo(dkim_sign.txt_record(selector, domain, public))


@mail.command("dkim-check")
@stateless
def dkim_check() -> None:
    """Load the DKIM settings and sign a sample, as freezing will: a bad key fails here."""
    loaded = dkim_sign.load(*(current_app.config.get(name) for name in dkim_sign.SETTINGS))
    if loaded is None:
        click.echo("DKIM signing is off: RECRUITER_DKIM_SELECTOR, _DOMAIN and _KEY_FILE are "
                   "not set.")
        return
    click.echo(f"DKIM signing is on: d={loaded.domain}, s={loaded.selector}, key "
               f"{current_app.config['DKIM_KEY_FILE']}. Its DNS record must be at "
               f"{loaded.selector}._domainkey.{loaded.domain}.")
