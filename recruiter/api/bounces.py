"""Bounces from mail relays: one endpoint that Postmark, SendGrid, Mailgun and SES (SNS) post to.

The relay is recognised from the body (services/relay_events.py); each bounce goes through
the same ``apply_bounce`` as the DSNs ``recruiter bounces`` reads, within the token's
organization. Relays that cannot send a header put the token in the URL, as HTTP Basic
(``https://bounces:TOKEN@host/api/v1/bounces``): the door takes Basic on this path only.
Every answer to a body it could read is a 200, even for a letter it does not know, so that a
relay does not retry forever; a body it cannot read is a 400 naming the problem.
"""

from __future__ import annotations

from typing import Literal

from flask import request
from pydantic import Field

from ..extensions import db
from ..plural import plural
from ..services import audit
from ..services.relay_events import RelayError, apply_events, read_events
from .core import Model, actor, bp, endpoint, organization_id
from .door import BASIC
from .problems import ApiError

PATH = "/bounces"
BASIC.add(bp.url_prefix + PATH)
Outcome = Literal["bounced", "kept", "ignored", "unknown", "already"]
OUTCOME_WORDS = {"bounced": "bounced", "kept": "kept as sent (a delay)",
                 "ignored": "not a bounce", "unknown": "not a letter recruiter sent",
                 "already": "already bounced"}


class BounceEventOut(Model):
    """One event of the relay's body, and what it did."""

    kind: Literal["bounce", "delay", "complaint", "auto_reply", "other"] = Field(
        description="`bounce`: a permanent failure; `delay`: a temporary one (the letter stays "
                    "`sent`); complaints, auto-replies and other events change nothing.")
    relay_type: str = Field(description="The relay's own name for the event, e.g. "
                                        "`HardBounce`, `dropped`, `Permanent/General`.")
    recipient: str | None
    status: str | None = Field(description="RFC 3463 status, e.g. `5.1.1`.")
    outcome: Outcome = Field(description="`bounced`: the delivery is now bounced; `kept`: it "
                                         "stays sent; `already`: it was bounced before; "
                                         "`unknown`: no letter of yours matches; `ignored`: "
                                         "not a bounce.")
    delivery_id: str | None


class BouncesOut(Model):
    """What the relay's events did."""

    relay: Literal["postmark", "sendgrid", "mailgun", "ses"]
    detail: str = Field(description="One sentence for a person reading the relay's log.")
    counts: dict[Outcome, int]
    events: list[BounceEventOut]
    subscribe_url: str | None = Field(
        None, description="An SNS subscription waits for a person to open this link; "
                          "recruiter never fetches it.")


def _body() -> bytes:
    data = request.get_data(cache=True)
    if not data.strip():
        raise ApiError(400, "Bad Request", "The body is empty; the relay's webhook posts its "
                       "events as JSON.", field="body")
    return data


@endpoint("POST", PATH, tag="bounces", response=BouncesOut, errors=(400,))
def receive_bounces() -> BouncesOut:
    """Receive a relay's bounce events: a bounced letter becomes `bounced`.

    Point the relay's bounce webhook here, with a **write** token. Recognised from the body:
    Postmark's bounce webhook, SendGrid's Event Webhook (a JSON array), Mailgun's webhooks
    (`event-data`, JSON), and Amazon SES bounce notifications through SNS (HTTPS
    subscription, with or without raw message delivery). A relay that can only put
    credentials in the URL uses HTTP Basic with the token as the password:
    `https://bounces:TOKEN@recruiter.example.com/api/v1/bounces`.

    A permanent failure (`5.x.x`) moves the letter's delivery from `sent` to `bounced`, with
    its status and the server's words, recorded in the audit; a temporary one (`4.x.x`) keeps
    it `sent`. A letter is found by the envelope sender's token, else its Message-ID, else
    the one letter your organization sent to that address. Complaints, auto-replies and other
    events change nothing. SNS's `SubscriptionConfirmation` is answered 200 and recorded: a
    person must open its `SubscribeURL` (recruiter never fetches it).
    """
    try:
        relayed = read_events(_body())
    except RelayError as exc:
        raise ApiError(400, "Bad Request", str(exc), field="body") from None
    org_id = organization_id()
    if relayed.subscribe_url:
        audit.record(db.session, org_id, "bounces.subscription", actor=actor(),
                     payload={"relay": relayed.relay, "topic": relayed.topic,
                              "subscribe_url": relayed.subscribe_url, "confirmed": False,
                              "to_do": "A person opens subscribe_url once to confirm; "
                                       "recruiter never fetches it."})
        return BouncesOut(relay=relayed.relay, counts={}, events=[],
                          subscribe_url=relayed.subscribe_url,
                          detail="Amazon SNS asks to confirm this subscription. recruiter "
                                 "never fetches links: a person must open the subscribe "
                                 "URL once (it is in the audit log) to start the "
                                 "notifications.")
    results = apply_events(db.session, org_id, relayed)
    counts: dict[str, int] = {}
    for _, result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    parts = [f"{count} {OUTCOME_WORDS[outcome]}" for outcome, count in counts.items()]
    detail = (f"{plural(len(results), 'event', 'events')}: {', '.join(parts)}."
              if results else "No events in this body; nothing changed.")
    if relayed.sns_type == "UnsubscribeConfirmation":
        detail = "Amazon SNS confirmed that the subscription ended; nothing changed."
    return BouncesOut(relay=relayed.relay, detail=detail, counts=counts, events=[
        BounceEventOut(kind=event.kind, relay_type=event.note, recipient=event.recipient,
                       status=event.status, outcome=result.outcome,
                       delivery_id=str(result.delivery_id) if result.delivery_id else None)
        for event, result in results])
