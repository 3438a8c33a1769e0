"""`recruiter org show` and `recruiter org set`: the settings page's fields on the command line."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from recruiter.models import AuditEvent, Batch, Organization
from recruiter.services.sending import freeze as sending_freeze

HEADER = ("first_name,last_name,email,address_line1,address_line2,city,region,postal_code,"
          "country,stage,outcome,note\n")
HIRE = ("Maya,Chen,maya.chen@example.com,1840 West 4th Avenue,Suite 210,Vancouver,BC,V6J 1M1,"
        "Canada,interviewed,hired,Eight years running ground operations.\n")
DECLINED = ("Robin,Tremblay,robin.tremblay@example.org,1 Granville Street,,Vancouver,BC,"
            "V6C 1T1,Canada,applied,declined,Your dock audit stood out to us.\n")

EVERYTHING = ["--name", "Pacific Coastal Freight", "--address", "200 Burrard Street / Suite 9",
              "--sender-name", "Ana Souza", "--sender-title", "Head of People",
              "--sender-email", "people@pacific.example.com", "--timezone", "Europe/Berlin",
              "--locale", "fr_CA", "--send-rate", "30", "--retention-months", "24"]


def test_the_org_group_is_a_recruiter_command(app) -> None:  # noqa: ANN001
    assert "org" in app.cli.commands  # registered by create_app, as `recruiter org` runs it


def _settings(db, org_id: int) -> tuple:  # noqa: ANN001
    db.expire_all()
    org = db.get(Organization, org_id)
    return (org.name, org.address, org.sender_name, org.sender_title, org.sender_email,
            org.timezone, org.locale, org.send_rate_per_minute, org.retention_months)


def test_set_every_field_and_show_it_back(db, runner, make_org) -> None:  # noqa: ANN001
    """Every setting is changed, reported, and printed by show in the settings page's order."""
    org = make_org()
    result = runner.invoke(args=["org", "set", *EVERYTHING])
    assert result.exit_code == 0, result.output
    assert result.output == ("Changed: address, locale, name, retention_months, "
                             "send_rate_per_minute, sender_email, sender_name, sender_title, "
                             "timezone.\n")
    assert _settings(db, org.id) == (
        "Pacific Coastal Freight", "200 Burrard Street\nSuite 9", "Ana Souza", "Head of People",
        "people@pacific.example.com", "Europe/Berlin", "fr_CA", 30, 24)
    shown = runner.invoke(args=["org", "show"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == [
        "name: Pacific Coastal Freight", "address: 200 Burrard Street / Suite 9",
        "sender_name: Ana Souza", "sender_title: Head of People",
        "sender_email: people@pacific.example.com", "reply_to: ", "bounce_domain: ",
        "timezone: Europe/Berlin",
        "locale: fr_CA",
        "send_rate_per_minute: 30", "retention_months: 24", "webhooks_allow_private: false",
        "require_reasons: false"]
    again = runner.invoke(args=["org", "set", *EVERYTHING])
    assert (again.exit_code, again.output) == (0, "Nothing changed.\n")


def test_an_address_may_use_newlines(db, runner, make_org) -> None:  # noqa: ANN001
    """--address takes real line breaks too; trailing spaces go."""
    org = make_org()
    result = runner.invoke(args=["org", "set", "--address", "1 Main Street  \nVictoria BC\n"])
    assert result.exit_code == 0, result.output
    assert _settings(db, org.id)[1] == "1 Main Street\nVictoria BC"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--sender-email", "not an address", "The sender email address 'not an address' is not a "
                                         "valid address"),
    ("--timezone", "Mars/Base", "The time zone 'Mars/Base' is unknown: use an IANA name such as "
                                "America/Vancouver"),
    ("--locale", "xx_QQ_nonsense", "The locale 'xx_QQ_nonsense' is unknown"),
    ("--send-rate", "0", "The send rate must be between 1 and 10000"),
    ("--retention-months", "500", "The retention period must be between 1 and 120"),
    ("--name", "pacific COASTAL freight", "Another organization has this name."),
])
def test_a_bad_value_names_its_field_and_changes_nothing(db, runner, make_org, option: str,  # noqa: ANN001
                                                         value: str, message: str) -> None:
    """One bad value among several good ones: one clear line, exit 1, the row as it was."""
    make_org("Pacific Coastal Freight")
    org = make_org()
    before = _settings(db, org.id)
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    result = runner.invoke(args=["org", "set", "--org", org.name, "--sender-name", "Ana Souza",
                                 "--timezone", "Europe/Berlin", "--send-rate", "30",
                                 option, value])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _settings(db, org.id) == before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_single_line_options_refuse_line_breaks(db, runner, make_org) -> None:  # noqa: ANN001
    """A line break in a one-line option is refused before anything is looked up."""
    org = make_org()
    before = _settings(db, org.id)
    result = runner.invoke(args=["org", "set", "--sender-name", "Ana\nBcc: x@example.com"])
    assert result.exit_code != 0
    assert "line break" in result.output
    assert _settings(db, org.id) == before


def test_org_is_required_with_two_organizations(db, runner, make_org) -> None:  # noqa: ANN001
    """With several organizations, --org must say which; then it picks that one only."""
    first = make_org("Pacific Coastal Freight")
    second = make_org()
    for args in (["org", "show"], ["org", "set", "--send-rate", "30"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "several organizations; name one with --org" in result.output
    result = runner.invoke(args=["org", "set", "--org", str(second.id), "--send-rate", "30"])
    assert result.exit_code == 0, result.output
    assert (_settings(db, first.id)[7], _settings(db, second.id)[7]) == (120, 30)
    missing = runner.invoke(args=["org", "show", "--org", "Nobody Inc"])
    assert missing.exit_code == 1 and "no organization with the id or name" in missing.output


def test_the_audit_event_has_the_field_names_only(db, runner, make_org, make_member) -> None:  # noqa: ANN001
    """One organization.changed event, with --by as its actor and no values in it."""
    org = make_org()
    admin = make_member("admin", org=org)
    manager = make_member("manager", org=org)
    refused = runner.invoke(args=["org", "set", "--timezone", "Europe/Berlin",
                                  "--by", manager.email])
    assert refused.exit_code == 1 and "not an active admin" in refused.output
    result = runner.invoke(args=["org", "set", "--sender-email", "people@pacific.example.com",
                                 "--timezone", "Europe/Berlin", "--by", admin.email])
    assert result.exit_code == 0, result.output
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "organization.changed")).one()
    assert event.payload == {"fields": ["sender_email", "timezone"]}
    assert event.actor_id == admin.id
    assert "people@pacific" not in str(event.payload) and "Berlin" not in str(event.payload)
    anonymous = runner.invoke(args=["org", "set", "--locale", "en_GB"])
    assert anonymous.exit_code == 0, anonymous.output
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.actor_id, last.payload) == (
        "organization.changed", None, {"fields": ["locale"]})
    retention = runner.invoke(args=["org", "set", "--retention-months", "18", "--by",
                                    admin.email])
    assert retention.exit_code == 0, retention.output
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.actor_id, last.payload) == (  # as the audit settings page says it
        "org.retention", admin.id, {"from_months": 12, "to_months": 18})


def test_letters_can_be_sent_once_the_sender_address_is_set(db, runner, make_org, make_member,  # noqa: ANN001
                                                            make_position, monkeypatch) -> None:
    """A new instance without a sender address cannot send; `org set --sender-email` fixes it."""
    monkeypatch.setattr(sending_freeze, "render_pdfs_parallel",  # real PDFs are tested elsewhere
                        lambda letters, **_: [b"%PDF-1.7 stand-in" for _ in letters])
    org = make_org(sender_email="")
    make_member("manager", org=org)
    pid = str(make_position(org=org, csv=(HEADER + HIRE + DECLINED).encode()).id)
    refused = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes"])
    assert refused.exit_code == 1
    assert "Set the organization's sender email first" in refused.output
    assert db.scalar(select(func.count()).select_from(Batch)) == 0
    assert runner.invoke(args=["org", "show"]).output.splitlines()[4] == "sender_email: "

    fixed = runner.invoke(args=["org", "set", "--sender-email", "hiring@harbourair.example.com"])
    assert (fixed.exit_code, fixed.output) == (0, "Changed: sender_email.\n")
    sent = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes"])
    assert sent.exit_code == 0, sent.output
    assert "Froze batch" in sent.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Batch)) == 1
