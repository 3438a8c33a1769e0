"""The `recruiter` commands, and how every command group attaches to an app's CLI.

``register`` is what ``create_app`` calls; the commands on sending, outcomes, the organization
and the audit are in the ``cli_*`` modules beside this one, what they share in
``cli_support.py``, and the console script's entry point in ``cli.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from .cli_serve import serve
from .cli_support import friendly, friendly_command, one_line, stateless
from .errors import RecruiterError
from .extensions import db


def register(app: Flask) -> None:
    """Attach every command group to ``app.cli``."""
    app.cli.add_command(serve)
    app.cli.add_command(merge_command)
    app.cli.add_command(positions)
    app.cli.add_command(users)
    app.cli.add_command(letters)

    from .cli_sending import letters_send, letters_status, positions_release, worker

    letters.add_command(friendly_command(letters_send))
    letters.add_command(friendly_command(letters_status))
    positions.add_command(friendly_command(positions_release))
    app.cli.add_command(worker)

    from .cli_outcomes import candidates

    for command in candidates.commands.values():
        friendly_command(command)
    app.cli.add_command(candidates)

    from .cli_org import org
    from .cli_tokens import tokens
    from .cli_webhooks import webhooks

    app.cli.add_command(org)
    app.cli.add_command(tokens)
    app.cli.add_command(webhooks)

    from .cli_audit import audit

    for command in audit.commands.values():
        friendly_command(command)
    app.cli.add_command(audit)

    from .cli_mail import mail

    app.cli.add_command(mail)

    from .cli_bounces import bounces

    app.cli.add_command(bounces)


def _mapping_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--map, --map-value and --openings, shared by merge and positions add."""
    func = click.option("--openings", type=click.IntRange(1, 1000), default=1,
                        show_default=True,
                        help="How many people the position hires; a file with more hires "
                             "is refused.")(func)
    func = click.option("--map-value", "map_values", multiple=True, metavar="FIELD:VALUE=CANON",
                        help="Map a stage or outcome value, e.g. \"outcome:On hold=pending\". "
                             "Repeatable.")(func)
    return click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD",
                        help="Map a column to a field, e.g. \"Notes=internal_note\" or "
                             "\"Feedback=ignored\". Repeatable.")(func)


def _language_pairs(ctx: click.Context, param: click.Parameter,
                    pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """LANG TEXT pairs as {primary subtag: text}: each language once, each text one line."""
    from .services.languages import primary
    from .services.translations import check_language_tag

    found: dict[str, str] = {}
    for raw, text in pairs:
        try:
            code = primary(check_language_tag(raw))
        except RecruiterError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        if code in found:
            raise click.BadParameter(f"{code} is given twice.", ctx, param)
        found[code] = one_line(ctx, param, text) or ""
    return found


@click.command("merge")
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--position", "position", required=True, help="The position's title.",
              callback=one_line)
@click.option("--differentiator", default="", help="What set the hire apart, in one phrase.",
              callback=one_line)
@click.option("--differentiator-in", "differentiators_in", nargs=2, multiple=True,
              metavar="LANG TEXT", callback=_language_pairs,
              help="The differentiator in another language, for the rows in that language, "
                   "e.g. --differentiator-in fr \"une solide expérience\". Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "eml", "txt"]), default="pdf",
              show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--template", default=None,
              help="A shipped boilerplate, a boilerplate folder or a body file "
                   "(default: the shipped one for each candidate's stage).")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows, list the rest.")
@click.option("--org", "org_name", default="our company", show_default=True, callback=one_line)
@click.option("--sender", "sender_name", default="The hiring team", show_default=True,
              callback=one_line)
@click.option("--sender-title", default="", callback=one_line)
@click.option("--sender-title-in", "sender_titles_in", nargs=2, multiple=True,
              metavar="LANG TEXT", callback=_language_pairs,
              help="The sender's title in another language. Repeatable.")
@click.option("--sender-email", default="hiring@example.com", show_default=True,
              callback=one_line)
@click.option("--page-size", type=click.Choice(["A4", "letter"]), default="A4",
              show_default=True)
@_mapping_options
@stateless
def merge_command(candidates: Path, position: str, differentiator: str,
                  differentiators_in: dict[str, str], fmt: str, out: Path,
                  template: str | None, skip_invalid: bool, org_name: str, sender_name: str,
                  sender_title: str, sender_titles_in: dict[str, str], sender_email: str,
                  page_size: str, maps: tuple[str, ...], map_values: tuple[str, ...],
                  openings: int) -> None:
    """Write one letter per declined candidate, each in its row's language, and index.csv.

    Needs no database.
    """
    from .services.ats import mapping_from_options
    from .services.merge import Sender, merge

    mapping = mapping_from_options(maps, map_values)
    sender = Sender(organization=org_name, name=sender_name, title=sender_title,
                    email=sender_email, title_in=tuple(sorted(sender_titles_in.items())))
    summary = merge(candidates.read_bytes(), position=position, differentiator=differentiator,
                    fmt=fmt, out=out, template=template, skip_invalid=skip_invalid,
                    sender=sender, page_size=page_size, mapping=mapping, openings=openings,
                    differentiator_in=differentiators_in)
    for line in summary.invalid_rows:
        click.echo(f"Skipped invalid: {line}")
    for line in summary.skipped:
        click.echo(f"Skipped: {line}")
    for line in summary.warnings:
        click.echo(f"Warning: {line}")
    click.echo(f"{len(summary.written)} letters written to {out}, "
               f"{len(summary.skipped) + len(summary.invalid_rows)} skipped, "
               f"{len(summary.warnings)} warnings; the list is in {summary.index}.")


positions = AppGroup("positions", help="Create and manage positions.")


@positions.command("add")
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", required=True, callback=one_line)
@click.option("--location", default="", callback=one_line)
@click.option("--differentiator", default="", callback=one_line)
@click.option("--org", "org_name", default=None,
              help="Organization id or exact name (default: the only one); created if new.")
@click.option("--skip-invalid", is_flag=True)
@_mapping_options
@friendly
def positions_add(candidates: Path, title: str, location: str, differentiator: str,
                  org_name: str | None, skip_invalid: bool, maps: tuple[str, ...],
                  map_values: tuple[str, ...], openings: int) -> None:
    """Create a position from a CSV; prints the new position's id on the last line."""
    from .services.ats import mapping_from_options
    from .services.importing import accepted_rows, parse_candidates
    from .services.positions import create_position, existing_emails, import_rows

    mapping = mapping_from_options(maps, map_values)
    org = _organization(org_name)
    position = create_position(db.session, org, title=title, location=location,
                               differentiator=differentiator, openings=openings)
    parsed = parse_candidates(candidates.read_bytes(), existing_emails=existing_emails(
        db.session, position), mapping=mapping)
    rows = accepted_rows(parsed, skip_invalid=skip_invalid)
    apps = import_rows(db.session, position, rows)
    db.session.commit()
    for problem in parsed.problems:
        click.echo(f"Skipped: {problem.message}")
    hired = sum(1 for a in apps if a.outcome == "hired")
    click.echo(f"Created position {title!r} with {len(apps)} candidates ({hired} hired).")
    click.echo(str(position.id))


def _organization(name: str | None):  # noqa: ANN202
    from sqlalchemy import select

    from .models import Organization
    from .services.accounts import create_organization

    if name:
        return _find_or_create(name)
    orgs = db.session.scalars(select(Organization).limit(2)).all()
    if len(orgs) == 1:
        return orgs[0]
    if not orgs:
        return create_organization(db.session, "My organization")
    raise RecruiterError("There are several organizations; name one with --org.")


def _find_or_create(name: str):  # noqa: ANN202
    """The organization with this id or exact name; a new one only when no name is close.

    ``find_organization`` refuses a name that matches only in another case, so a new
    organization is created only when nothing matches even case-insensitively; a number that
    is no organization's id is refused rather than becoming a name.
    """
    from .services.accounts import create_organization, find_organization

    org = find_organization(db.session, name)
    if org is not None:
        return org
    if name.strip().isdigit():
        raise RecruiterError(f"There is no organization with id {name.strip()}.")
    return create_organization(db.session, name)


users = AppGroup("users", help="Manage members.")


@users.command("create")
@click.option("--org", "org_name", required=True,
              help="Organization id or exact name; created if no name matches in any case.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "auditor"]), required=True)
@click.option("--name", default="")
@friendly
def users_create(org_name: str, email: str, role: str, name: str) -> None:
    """Create a member; the password is read from standard input."""
    from .services.accounts import create_member

    password = sys.stdin.readline().rstrip("\r\n")
    org = _find_or_create(org_name)
    member = create_member(db.session, org, email=email, role=role, password=password,
                           name=name)
    db.session.commit()
    click.echo(f"Created {member.role} {member.email} in {org.name}.")


letters = AppGroup("letters", help="Check, send and follow a position's letters.")


@letters.command("check")
@click.argument("position_id", type=int, required=False)
@click.option("--text", "text_file", type=click.File("r", encoding="utf-8"),
              help="Check any text instead of a position's letters ('-' reads stdin).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@friendly
def letters_check(position_id: int | None, text_file: Any, as_json: bool) -> None:
    """Run the letter checks; exits 1 when any finding is an error."""
    import json

    from .services import checks

    if (position_id is None) == (text_file is None):
        raise click.UsageError("Give either a POSITION_ID or --text FILE.")
    if text_file is not None:
        found = {"text": checks.check_text(text_file.read())}
    else:
        found = _position_findings(position_id)
    every = [f for findings in found.values() for f in findings]
    if as_json:
        click.echo(json.dumps({key: [f.to_dict() for f in findings]
                               for key, findings in found.items()}, indent=2,
                              ensure_ascii=False) if position_id else
                   checks.findings_to_json(found["text"]))
    else:
        for key, findings in found.items():
            for f in findings:
                where = f" [{f.start}-{f.end}]" if f.start is not None else ""
                click.echo(f"{key}: {f.severity}: {f.check}{where}: {f.message}")
        errors = sum(1 for f in every if f.severity == "error")
        click.echo(f"{len(every)} findings: {errors} errors, {len(every) - errors} warnings.")
    if checks.has_errors(every):
        sys.exit(1)


def _position_findings(position_id: int) -> dict[str, list]:
    from .models import Position
    from .services.approval import differentiator_findings, letter_findings
    from .services.letters import refresh_letters

    position = db.session.get(Position, position_id)
    if position is None:
        raise RecruiterError(f"There is no position with id {position_id}.")
    letters_ = refresh_letters(db.session, position)
    db.session.commit()
    by_id = letter_findings(position, letters_)
    found: dict[str, list] = {"differentiator": differentiator_findings(position)}
    for letter in letters_:
        name = letter.application.candidate.full_name
        found[f"letter {letter.id} ({name})"] = by_id.get(letter.id, [])
    return found
