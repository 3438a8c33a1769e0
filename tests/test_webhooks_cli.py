"""`recruiter webhooks`: add (secret printed last), list, deliveries, resend, deliver, remove."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from webhook_receiver import Receiver, running_receiver

from recruiter.models import Organization, WebhookDelivery, WebhookEndpoint
from recruiter.services import webhooks
from recruiter.services.webhooks import events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 that checks every signature."""
    with running_receiver() as found:
        yield found


def test_the_whole_cli(db, runner, make_org, receiver: Receiver) -> None:  # noqa: ANN001
    """Add, list, deliver, see the log, resend and remove, without a browser."""
    org = make_org()
    refused = runner.invoke(args=["webhooks", "add", "--url", receiver.url, "--events", "all"])
    assert refused.exit_code == 1 and "private, loopback or link-local" in refused.output
    allowed = runner.invoke(args=["org", "set", "--webhooks-allow-private", "true"])
    assert (allowed.exit_code, allowed.output) == (0, "Changed: webhooks_allow_private.\n")
    added = runner.invoke(args=["webhooks", "add", "--url", receiver.url, "--events",
                                "letter.sent,batch.completed", "--description", "ATS"])
    assert added.exit_code == 0, added.output
    receiver.secret = added.output.splitlines()[-1]
    assert receiver.secret.startswith("whsec_")
    endpoint = db.scalar(select(WebhookEndpoint))
    listed = runner.invoke(args=["webhooks", "list"])
    assert listed.output == (f"{endpoint.id}\tenabled\t{receiver.url}\t"
                             "letter.sent,batch.completed\n")
    webhooks.emit(db, org.id, "batch.completed", {"batch_id": "1"})
    db.info.pop(events.NUDGE, None)
    db.commit()
    delivered = runner.invoke(args=["webhooks", "deliver"])
    assert (delivered.exit_code, delivered.output) == (0, "1 delivered\n")
    assert runner.invoke(args=["webhooks", "deliver"]).output == "Nothing was due.\n"
    log = runner.invoke(args=["webhooks", "deliveries", "--state", "delivered"])
    delivery = db.scalar(select(WebhookDelivery))
    assert log.output.startswith(f"{delivery.id}\tdelivered\t1\tbatch.completed\tevt_")
    resent = runner.invoke(args=["webhooks", "resend", str(delivery.id)])
    assert resent.exit_code == 0, resent.output
    assert len(receiver.received) == 2 and len(set(receiver.ids())) == 1  # nudged at once
    removed = runner.invoke(args=["webhooks", "remove", str(endpoint.id)])
    assert removed.exit_code == 0 and runner.invoke(args=["webhooks", "list"]).output == ""


def test_mistakes_are_one_line(db, runner, make_org) -> None:  # noqa: ANN001
    """An unknown event, another organization's id or a bad id: one clear line, exit 1."""
    org = make_org()
    other = make_org("Other Employer", webhooks_allow_private=True)
    theirs = webhooks.add_endpoint(db, other, "http://127.0.0.1:9/", "all")
    db.commit()
    for args, words in (
            (["webhooks", "add", "--org", org.name, "--url", "https://93.184.216.34/",
              "--events", "letter.opened"], "'letter.opened' are unknown"),
            (["webhooks", "remove", "--org", org.name, str(theirs.id)], "no webhook endpoint"),
            (["webhooks", "resend", "--org", org.name, "x"], "must be a number"),
            (["webhooks", "deliveries", "--org", org.name, "--endpoint", str(theirs.id)],
             "no webhook endpoint")):
        result = runner.invoke(args=args)
        assert result.exit_code == 1 and words in result.output, result.output
        assert "Traceback" not in result.output
    assert db.get(Organization, other.id) and db.get(WebhookEndpoint, theirs.id)
