"""`recruiter bounces`: read returned messages and mark the letters that bounced."""

from __future__ import annotations

from collections import Counter

import click
from flask.cli import with_appcontext

from .cli_support import friendly, pick_organization
from .errors import RecruiterError
from .extensions import db
from .plural import plural
from .services.bounce_mail import PASSWORD_ENV, PROCESSED, open_source
from .services.bounces import BounceResult, apply_returned

# The outcomes that concern one of our letters: only these messages are put aside.
OURS = ("bounced", "kept", "already")


def summary(tally: Counter, read: int) -> str:
    """"Read 7 messages: 3 bounced, 1 kept as sent (temporary failure), ..." in one line."""
    parts = [f"{tally['bounced']} bounced" if tally["bounced"] else "",
             f"{tally['kept']} kept as sent (temporary failure)" if tally["kept"] else "",
             f"{tally['already']} already marked bounced" if tally["already"] else "",
             f"{plural(tally['auto_reply'], 'auto-reply', 'auto-replies')} ignored"
             if tally["auto_reply"] else "",
             f"{plural(tally['ignored'], 'report', 'reports')} needing nothing"
             if tally["ignored"] else "",
             f"{tally['unknown']} not ours" if tally["unknown"] else ""]
    said = ", ".join(part for part in parts if part)
    return f"Read {plural(read, 'message', 'messages')}" + (f": {said}." if said else ".")


def _key(result: BounceResult) -> str:
    return "auto_reply" if result.kind == "auto_reply" else result.outcome


@click.command("bounces")
@click.option("--maildir", type=click.Path(exists=True, file_okay=False), default=None,
              help="A maildir folder (with cur, new and tmp) that receives the bounces.")
@click.option("--mbox", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An mbox file that receives the bounces (only read).")
@click.option("--imap", default=None, metavar="URL",
              help="imaps://user:password@host/INBOX (imap:// without TLS); the password may "
                   f"come from {PASSWORD_ENV} instead.")
@click.option("--org", "org_name", default=None,
              help="Organization id or exact name: match only its letters (default: every "
                   "organization's).")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option("--move-processed", is_flag=True,
              help=f"Move the messages about our letters into the {PROCESSED!r} folder "
                   "instead of marking them seen (maildir and IMAP).")
@with_appcontext
@friendly
def bounces(maildir: str | None, mbox: str | None, imap: str | None, org_name: str | None,
            dry_run: bool, move_processed: bool) -> None:
    """Read bounces (RFC 3464 reports) and mark each letter that bounced.

    A permanent failure (5.x.x) moves a sent letter to bounced, with the server's status and
    words; a temporary one (4.x.x) keeps it sent and notes why. Out-of-office replies are
    ignored. Reading the same bounce twice changes nothing. Messages about our letters are
    marked seen (or moved with --move-processed); the others stay as they were.
    """
    if sum(1 for source in (maildir, mbox, imap) if source) != 1:
        raise click.UsageError("Name one place to read: --maildir PATH, --mbox PATH or "
                               "--imap URL.")
    if move_processed and mbox:
        raise click.UsageError("--move-processed works with --maildir and --imap; an mbox "
                               "file is only read.")
    org_id = pick_organization(org_name).id if org_name else None
    source = open_source(maildir=maildir, mbox=mbox, imap=imap)
    tally: Counter = Counter()
    read = 0
    try:
        for key, raw in source.messages():
            read += 1
            result = apply_returned(db.session, raw, org_id, source=source.name)
            tally[_key(result)] += 1
            if result.outcome in ("bounced", "kept"):
                click.echo(f"Delivery {result.delivery_id}: "
                           f"{'bounced' if result.outcome == 'bounced' else 'kept as sent'}"
                           f"{' (dry run)' if dry_run else ''}, message {key}.")
            if dry_run:
                db.session.rollback()
                continue
            db.session.commit()  # each message in its own transaction: a rerun redoes none
            if result.outcome in OURS:
                source.done(key, move=move_processed)
    except RecruiterError:
        db.session.rollback()
        raise
    finally:
        source.close()
    click.echo(("Dry run, nothing changed. " if dry_run else "") + summary(tally, read))
