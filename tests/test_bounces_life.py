"""Where a bounced letter shows: counts, `letters status`, the API, webhooks, outcomes, purge."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from test_bounces import fresh, returned, sent  # noqa: F401
from test_sending import _quick, freeze  # noqa: F401

from recruiter.models import Organization, WebhookEndpoint, WebhookEvent
from recruiter.services import retention, sending
from recruiter.services.bounces import apply_returned
from recruiter.services.outcomes import change_outcome, plan_outcome
from recruiter.services.tokens import create_token
from recruiter.services.webhooks.letters import expand_staged


def bounce_first(db, sent):  # noqa: ANN001, ANN201, F811
    """Two sent letters, the first bounced by Postfix's 5.1.1; both deliveries, fresh."""
    first, second = sent()
    apply_returned(db, returned("postfix_5.1.1_user_unknown.eml", first), None,
                   source="maildir")
    db.commit()
    return fresh(db, first), fresh(db, second)


def test_bounced_letters_are_counted_and_listed(db, sent, runner) -> None:  # noqa: ANN001, F811
    """The state counts, the problems list and `letters status` know the bounced state."""
    first, _ = bounce_first(db, sent)
    position = first.letter.application.position
    assert sending.state_counts(db, position) == {"bounced": 1, "sent": 1}
    assert [d.id for d in sending.problems(db, position)] == [first.id]
    result = runner.invoke(args=["letters", "status", str(position.id)])
    assert "bounced: 1" in result.output and "sent: 1" in result.output
    assert f"bounced delivery {first.id}" in result.output
    assert "bounced 5.1.1: 550 5.1.1" in result.output


def test_the_api_shows_the_bounce(db, sent, client) -> None:  # noqa: ANN001, F811
    """GET deliveries: state bounced, its status, diagnostic and time; filterable by state."""
    first, _ = bounce_first(db, sent)
    org = db.get(Organization, first.organization_id)
    _, secret = create_token(db, org, "Greenhouse", "read")
    db.commit()
    position_id = first.letter.application.position_id
    reply = client.get(f"/api/v1/positions/{position_id}/deliveries?state=bounced",
                       headers={"Authorization": f"Bearer {secret}"})
    assert reply.status_code == 200, reply.json
    [row] = reply.json["data"]
    assert (row["id"], row["state"], row["bounce_status"]) == (str(first.id), "bounced",
                                                               "5.1.1")
    assert "User unknown" in row["bounce_diagnostic"] and row["bounced_at"].endswith("Z")
    batch = client.get(f"/api/v1/positions/{position_id}/batch",
                       headers={"Authorization": f"Bearer {secret}"}).json
    assert batch["counts"] == {"bounced": 1, "sent": 1}


def test_a_bounce_tells_the_webhook_endpoints(db, sent, make_org) -> None:  # noqa: ANN001, F811
    """letter.bounced goes to an endpoint that takes it, with ids and the state only."""
    first, second = sent()
    db.add(WebhookEndpoint(organization_id=first.organization_id, url="https://hooks.example/x",
                           events=["letter.bounced"], secret="s" * 32))
    db.commit()
    apply_returned(db, returned("postfix_5.1.1_user_unknown.eml", first), None, source="mbox")
    db.commit()
    expand_staged(db)
    db.commit()
    [event] = db.scalars(select(WebhookEvent)).all()
    assert (event.type, event.payload["state"]) == ("letter.bounced", "bounced")
    assert event.payload["delivery_id"] == str(first.id) and "@" not in repr(event.payload)


def test_a_bounced_letter_never_reached_its_candidate(db, sent) -> None:  # noqa: ANN001, F811
    """The outcome may still change; the letter is then cancelled, and the page says why."""
    first, _ = bounce_first(db, sent)
    application = first.letter.application
    plan = plan_outcome(db, application, "withdrawn")
    [change] = plan.changes
    assert change.letter == ("Their letter bounced and never reached them; it is cancelled, "
                             "not sent by post.")
    change_outcome(db, application, "withdrawn")
    db.commit()
    first = fresh(db, first)
    assert (first.letter.status, first.state) == ("cancelled", "bounced")


def test_a_purge_scrubs_the_address_from_the_diagnostic(app, db, sent) -> None:  # noqa: ANN001, F811
    """What the receiving server said about the address loses the address with the rest."""
    first, _ = bounce_first(db, sent)
    address = first.recipient
    assert address in first.bounce_diagnostic
    position = first.letter.application.position
    until = retention.keep_until(position, db.get(Organization, first.organization_id))
    retention.purge(db, now=until + timedelta(days=1))
    db.commit()
    first = fresh(db, first)
    assert address not in first.bounce_diagnostic and "[purged]" in first.bounce_diagnostic
