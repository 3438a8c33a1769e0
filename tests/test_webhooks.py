"""Outgoing webhooks: signed, delivered at least once after a real send, retried, refused (SSRF)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from test_sending import _quick, candidates_csv, deliveries, freeze, send_one  # noqa: F401
from webhook_receiver import Receiver, running_receiver

from recruiter.extensions import db as _db
from recruiter.models import Organization, WebhookDelivery, WebhookEndpoint, WebhookEvent
from recruiter.services import sending, webhooks
from recruiter.services.webhooks import deliver, events, guard, letters, signing


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 that checks every signature."""
    with running_receiver() as found:
        yield found


@pytest.fixture
def hook(db) -> Callable[..., WebhookEndpoint]:  # noqa: ANN001
    """Register ``receiver`` for an organization (private targets allowed: it is loopback)."""

    def make(org: Organization, receiver: Receiver, types: str = "all") -> WebhookEndpoint:
        org.webhooks_allow_private = True
        endpoint = webhooks.add_endpoint(db, org, receiver.url, types, "tests")
        db.commit()
        receiver.secret = endpoint.secret
        return endpoint

    return make


def _rows(db, model, **where):  # noqa: ANN001, ANN003, ANN202
    db.expire_all()
    return list(db.scalars(select(model).filter_by(**where).order_by(model.id)))


# --- signing -----------------------------------------------------------------------------------


def test_a_signature_verifies_and_a_changed_byte_does_not() -> None:
    """The signed body verifies; another body, another secret or an old timestamp does not."""
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.secret_bytes(secret)) == 24
    body = b'{"id":"evt_1","type":"letter.sent"}'
    headers = signing.headers(secret, "evt_1", body)
    assert headers["webhook-signature"].startswith("v1,")
    assert signing.verify(secret, headers, body) == "evt_1"
    for bad in ((secret, headers, body + b" "), (signing.new_secret(), headers, body),
                (secret, signing.headers(secret, "evt_1", body, now=1_000_000), body),
                (secret, {"webhook-id": "evt_1"}, body)):
        with pytest.raises(signing.SignatureError):
            signing.verify(*bad)


def test_the_readme_snippet_verifies_a_real_request() -> None:
    """The README's verification snippet runs as printed and accepts a signed request."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- webhook-verify -->")
    snippet = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    space: dict = {}
    exec(compile(snippet, "README.md", "exec"), space)  # noqa: S102
    secret = signing.new_secret()
    body = b'{"id":"evt_x","type":"batch.completed","data":{}}'
    assert space["verify"](secret, signing.headers(secret, "evt_x", body), body) == "evt_x"
    with pytest.raises(ValueError):
        space["verify"](secret, signing.headers(secret, "evt_x", body), body + b"!")


# --- after a real send -------------------------------------------------------------------------


def test_sent_letters_reach_the_receiver_once_each_signed_without_personal_text(
        app: Flask, db, freeze, hook, receiver: Receiver) -> None:  # noqa: ANN001, F811
    """Sending two letters delivers two letter.sent and one batch.completed, each id once."""
    frozen = freeze()
    hook(frozen.org, receiver)
    first = deliveries(db, frozen.position, "email")[0]
    send_one(db, first.id, app.config["MAIL_URL"])  # the worker; the nudge runs inline here
    assert receiver.bad_signatures == 0
    sent = receiver.events("letter.sent")
    assert len(sent) == 2 and len(receiver.events("batch.completed")) == 1
    assert len(receiver.ids()) == len(set(receiver.ids())) == 3
    data = sent[0]["data"]
    assert set(data) >= {"letter_id", "application_id", "position_id", "batch_id",
                         "delivery_id", "channel", "state", "at", "external_id"}
    assert data["state"] == "sent" and data["channel"] == "email"
    assert data["position_id"] == str(frozen.position.id) and data["at"].endswith("Z")
    assert sent[0]["created_at"].endswith("Z") and sent[0]["id"].startswith("evt_")
    raw = b"".join(r["raw"] for r in receiver.received)
    for personal in (b"Tremblay", b"example.org", b"dock audit"):
        assert personal not in raw
    assert {d.state for d in _rows(db, WebhookDelivery)} == {"delivered"}
    completed = receiver.events("batch.completed")[0]["data"]
    assert completed["deliveries"] == {"sent": 2} and completed["batch_id"] == str(
        frozen.batch.id)


def test_an_organization_without_endpoints_writes_nothing_and_asks_once(app, db, freeze):  # noqa: ANN001, F811
    """No endpoint: sending writes no event, and the check is one query per transaction."""
    frozen = freeze()
    org_id = frozen.org.id
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001, ANN002, ANN202
        statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            letters.deliveries_changed(db, org_id, "letter.sent", [1, 2], datetime.now(UTC))
    finally:
        event.remove(_db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "webhook_endpoint" in statements[0]
    send_one(db, deliveries(db, frozen.position, "email")[0].id, app.config["MAIL_URL"])
    assert db.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_another_organizations_endpoint_never_hears(app, db, freeze, make_org, hook,  # noqa: ANN001, F811
                                                    receiver: Receiver) -> None:
    """Org B's endpoint gets nothing of org A's letters."""
    other = make_org("Other Employer")
    hook(other, receiver)
    frozen = freeze()
    send_one(db, deliveries(db, frozen.position, "email")[0].id, app.config["MAIL_URL"])
    assert receiver.received == [] and _rows(db, WebhookDelivery) == []


def test_a_rolled_back_change_sends_nothing(db, make_org, hook, receiver: Receiver) -> None:  # noqa: ANN001
    """The outbox lives in the caller's transaction: a rollback leaves no event, no nudge."""
    org = make_org()
    hook(org, receiver)
    assert webhooks.emit(db, org.id, "batch.completed", {"batch_id": "1"})
    assert db.info.get(events.NUDGE)
    db.rollback()
    assert _rows(db, WebhookEvent) == [] and not db.info.get(events.NUDGE)


# --- retries, timeouts, dead, resend -----------------------------------------------------------


def _one_event(db, org: Organization) -> WebhookDelivery:  # noqa: ANN001
    webhooks.emit(db, org.id, "batch.completed", {"batch_id": "7"})
    db.info.pop(events.NUDGE, None)  # these tests deliver by hand, with their own clock
    db.commit()
    [delivery] = _rows(db, WebhookDelivery)
    return delivery


def test_a_500_is_retried_after_the_backoff_with_the_same_id(db, make_org, hook,  # noqa: ANN001
                                                             receiver: Receiver) -> None:
    """A 500 waits a minute (not sooner), then the same event id is delivered."""
    org = make_org()
    hook(org, receiver)
    receiver.statuses = [500]
    delivery = _one_event(db, org)
    now = datetime.now(UTC)
    [result] = deliver.deliver_due(db, now=now)
    assert (result.state, result.status) == ("pending", 500)
    db.refresh(delivery)
    assert delivery.next_attempt_at == now.replace(microsecond=now.microsecond) + \
        timedelta(minutes=1)
    assert delivery.last_error == "HTTP 500"
    assert deliver.deliver_due(db, now=now + timedelta(seconds=59)) == []
    [result] = deliver.deliver_due(db, now=now + timedelta(seconds=61))
    assert result.state == "delivered"
    ids = receiver.ids()
    assert len(ids) == 2 and len(set(ids)) == 1  # at least once; the receiver dedupes by id
    db.refresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 2, 200)


@pytest.mark.parametrize("app", [{"WEBHOOK_TIMEOUT": 0.3}], indirect=True, ids=["timeout"])
def test_a_receiver_that_does_not_answer_in_time_is_tried_again(app, db, freeze, hook,  # noqa: ANN001, F811
                                                                 receiver: Receiver) -> None:
    """WEBHOOK_TIMEOUT bounds each request; a slow receiver waits for its retry."""
    frozen = freeze()
    hook(frozen.org, receiver)
    receiver.delay = 1.0
    send_one(db, deliveries(db, frozen.position, "email")[0].id, app.config["MAIL_URL"])
    rows = _rows(db, WebhookDelivery)
    assert rows and {r.state for r in rows} == {"pending"}
    assert all(r.last_error == "no answer within 0.3 s" for r in rows)
    receiver.delay = 0
    results = deliver.deliver_due(db, now=datetime.now(UTC) + timedelta(minutes=2))
    assert {r.state for r in results} == {"delivered"} and len(results) == len(rows)


def test_dead_after_the_maximum_then_resent_with_the_same_id(db, make_org, hook,  # noqa: ANN001
                                                             receiver: Receiver) -> None:
    """Eight failures make it dead; resend puts it back and it arrives with its first id."""
    org = make_org()
    hook(org, receiver)
    receiver.default = 503
    delivery = _one_event(db, org)
    now = datetime.now(UTC)
    for attempt in range(1, 9):
        [result] = deliver.deliver_due(db, now=now)
        assert result.state == ("dead" if attempt == 8 else "pending")
        now += deliver.backoff(attempt)
    db.refresh(delivery)
    assert (delivery.state, delivery.attempts) == ("dead", 8)
    assert delivery.last_error.startswith("gave up after 8 attempts: HTTP 503")
    assert deliver.deliver_due(db, now=now + timedelta(days=30)) == []
    receiver.default = 204
    webhooks.resend(db, delivery)
    db.info.pop(events.NUDGE, None)
    db.commit()
    [result] = deliver.deliver_due(db)
    assert result.state == "delivered" and len(set(receiver.ids())) == 1
    with pytest.raises(Exception, match="delivered or dead"):
        db.refresh(delivery)
        delivery.state = "pending"
        webhooks.resend(db, delivery)
    db.rollback()


def test_a_redirect_is_a_failure_and_not_followed(db, make_org, hook, receiver: Receiver):  # noqa: ANN001
    """A 3xx is recorded as a failure; the Location is never requested."""
    org = make_org()
    hook(org, receiver)
    receiver.default, receiver.location = 302, "http://169.254.169.254/latest/meta-data"
    _one_event(db, org)
    [result] = deliver.deliver_due(db)
    assert (result.state, result.status) == ("pending", 302)
    assert "redirects are not followed" in result.error and len(receiver.received) == 1


def test_a_delivery_stuck_with_a_dead_worker_is_offered_again(db, make_org, hook,  # noqa: ANN001
                                                              receiver: Receiver) -> None:
    """A claim older than STUCK_AFTER is taken again (at least once), not lost."""
    org = make_org()
    hook(org, receiver)
    delivery = _one_event(db, org)
    now = datetime.now(UTC)
    assert deliver.claim(db, now) == [delivery.id]
    db.commit()  # ...and the worker dies here
    assert deliver.deliver_due(db, now=now + timedelta(minutes=1)) == []
    [result] = deliver.deliver_due(db, now=now + deliver.STUCK_AFTER + timedelta(seconds=1))
    assert result.state == "delivered"
    db.refresh(delivery)
    assert delivery.attempts == 2


# --- SSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "http://127.0.0.1:8080/", "http://169.254.169.254/latest",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://localhost/hook", "http://0.0.0.0/", "http://192.168.1.10/", "http://[fe80::1]/",
    "http://100.64.0.1/", "http://224.0.0.1/"])
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    """Loopback, private, link-local, multicast, unspecified: refused, unless the setting is on."""
    with pytest.raises(guard.TargetRefused, match="private, loopback or link-local"):
        guard.check(url, allow_private=False)
    assert guard.check(url, allow_private=True).address


def test_public_targets_and_bad_urls() -> None:
    """A public address passes and is what the connection uses; other schemes are refused."""
    target = guard.check("https://93.184.216.34:8443/in?x=1", allow_private=False)
    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/in?x=1")
    for url, words in (("ftp://93.184.216.34/", "https:// or http://"),
                       ("https://user:pw@93.184.216.34/", "user name"),
                       ("https:///path", "no host")):
        with pytest.raises(guard.TargetRefused, match=words):
            guard.check(url, allow_private=False)


def test_registration_and_delivery_both_check_the_target(db, make_org, hook,  # noqa: ANN001
                                                         receiver: Receiver) -> None:
    """Refused when registered without the setting; refused at delivery once it is off."""
    org = make_org()
    with pytest.raises(webhooks.EndpointError, match="private") as refused:
        webhooks.add_endpoint(db, org, receiver.url, "all")
    assert refused.value.field == "url"
    db.rollback()
    hook(org, receiver)
    org.webhooks_allow_private = False
    db.commit()
    _one_event(db, org)
    [result] = deliver.deliver_due(db)
    assert result.state == "pending" and result.error.startswith("refused:")
    assert receiver.received == []


def test_endpoint_fields_are_checked_and_named(db, make_org) -> None:  # noqa: ANN001
    """Unknown events, no events and a non-http URL are refused, naming the field."""
    org = make_org()
    org.webhooks_allow_private = True
    for url, types, field in (("http://127.0.0.1/", "letter.sent,letter.opened", "events"),
                              ("http://127.0.0.1/", "", "events"),
                              ("file:///etc/passwd", "all", "url")):
        with pytest.raises(webhooks.EndpointError) as refused:
            webhooks.add_endpoint(db, org, url, types)
        assert refused.value.field == field
    endpoint = webhooks.add_endpoint(db, org, "http://127.0.0.1/", "letter.failed, letter.sent")
    assert endpoint.events == ["letter.sent", "letter.failed"]  # in the documented order


# --- the other events --------------------------------------------------------------------------


def test_cancelling_a_held_batch_tells_of_each_letter(app, db, freeze, hook,  # noqa: ANN001, F811
                                                      receiver: Receiver) -> None:
    """cancel_batch: one letter.cancelled per letter, back to draft."""
    frozen = freeze(hold=True)
    hook(frozen.org, receiver)
    sending.cancel_batch(db, frozen.position)
    db.commit()
    cancelled = receiver.events("letter.cancelled")
    assert len(cancelled) == 2
    assert {(e["data"]["state"], e["data"]["reason"]) for e in cancelled} == {
        ("draft", "batch_cancelled")}


def test_failed_letters_are_told(app, db, freeze, hook, receiver: Receiver,  # noqa: ANN001, F811
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5xx from the mail server: letter.failed, and the batch completes."""
    frozen = freeze()
    hook(frozen.org, receiver, "letter.failed,batch.completed")
    monkeypatch.setattr(sending.transport.FileTransport, "send",
                        lambda self, *a: sending.Outcome("failed", "550 no such user"))
    send_one(db, deliveries(db, frozen.position, "email")[0].id, app.config["MAIL_URL"])
    assert [e["data"]["state"] for e in receiver.events("letter.failed")] == ["failed"] * 2
    assert receiver.events("batch.completed")[0]["data"]["deliveries"] == {"failed": 2}


def test_letters_ready_once_per_review_version(db, make_org, make_position, hook,  # noqa: ANN001
                                               receiver: Receiver) -> None:
    """A second call for the same review version writes nothing; a new version writes again."""
    from recruiter.services.versions import bump_review

    org = make_org()
    position = make_position(org=org, csv=candidates_csv(2))
    hook(org, receiver, "position.letters_ready")
    first = webhooks.letters_ready(db, position)
    assert first and webhooks.letters_ready(db, position) is None
    db.commit()
    bump_review(db, position.id)
    assert webhooks.letters_ready(db, position)
    db.commit()
    got = receiver.events("position.letters_ready")
    assert len(got) == 2 and got[0]["data"]["position_id"] == str(position.id)


def test_filling_a_position_in_the_browser_tells_letters_ready(db, make_org, make_position,  # noqa: ANN001
                                                               hook, receiver: Receiver) -> None:
    """An outcome change that fills the position emits position.letters_ready once."""
    from recruiter.models import Application
    from recruiter.services.outcomes import change_outcome

    org = make_org()
    position = make_position(org=org, csv=candidates_csv(2))
    hook(org, receiver, "position.letters_ready")
    hire = db.scalar(select(Application).where(Application.position_id == position.id,
                                               Application.outcome == "hired"))
    change_outcome(db, hire, "pending")
    db.commit()
    assert receiver.received == []
    change_outcome(db, hire, "hired")
    assert webhooks.letters_ready(db, position) is None  # the API's call, same version
    db.commit()
    [ready] = receiver.events("position.letters_ready")
    assert ready["data"]["status"] == "filled"


def test_the_body_is_compact_json_with_the_documented_keys(db, make_org, hook,  # noqa: ANN001
                                                           receiver: Receiver) -> None:
    """id, type, created_at (UTC, Z) and data; the content type is JSON."""
    org = make_org()
    hook(org, receiver)
    _one_event(db, org)
    deliver.deliver_due(db)
    [got] = receiver.received
    assert set(got["body"]) == {"id", "type", "created_at", "data"}
    assert got["headers"]["content-type"] == "application/json"
    assert got["path"] == "/hooks?source=recruiter"
    assert json.loads(got["raw"]) == got["body"]


# --- the nudge after the commit ----------------------------------------------------------------


def test_a_failing_nudge_never_reaches_the_caller(db, make_org, hook, receiver: Receiver,  # noqa: ANN001
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A queue that is down is logged; the commit stands and the periodic task delivers later."""
    from recruiter.queue import queue

    org = make_org()
    hook(org, receiver)

    def down() -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(queue(), "webhooks", down)
    webhooks.emit(db, org.id, "batch.completed", {"batch_id": "1"})
    db.commit()  # does not raise
    assert "could not enqueue webhook delivery" in caplog.text
    assert [d.state for d in _rows(db, WebhookDelivery)] == ["pending"]


@pytest.mark.parametrize("app", [{"QUEUE_IMMEDIATE": False}], indirect=True, ids=["queued"])
def test_commits_within_a_second_share_one_nudge(app, db, make_org, hook,  # noqa: ANN001
                                                 receiver: Receiver,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With a real queue, many commits in a second schedule one delivery task, a second later."""
    from recruiter.queue import NUDGE_EVERY, queue

    org = make_org()
    hook(org, receiver)
    scheduled: list[dict] = []

    class Task:
        def schedule(self, **options: object) -> None:
            scheduled.append(options)

    monkeypatch.setattr(queue(), "webhooks", Task())
    for _ in range(5):
        webhooks.emit(db, org.id, "batch.completed", {"batch_id": "1"})
        db.commit()
    assert scheduled == [{"delay": NUDGE_EVERY}]
    assert len(_rows(db, WebhookDelivery)) == 5


def test_a_letter_left_by_a_dead_worker_is_told_in_doubt_then_resolved(  # noqa: ANN001
        app, db, freeze, hook, receiver: Receiver) -> None:  # noqa: F811
    """The sweep's in-doubt letters are told; a person's "cancel" tells letter.cancelled."""
    from test_sending import claim_one

    frozen = freeze(csv=candidates_csv(1))
    hook(frozen.org, receiver, "letter.in_doubt,letter.cancelled")
    delivery = deliveries(db, frozen.position, "email")[0]
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert claim_one(db, delivery.id, long_ago)  # ...and that worker died
    sending.sweep(db)
    [doubt] = receiver.events("letter.in_doubt")
    assert doubt["data"]["delivery_id"] == str(delivery.id)
    db.refresh(delivery)
    sending.resolve(db, delivery, frozen.member, "cancel", reason="checked with the candidate")
    db.commit()
    [cancelled] = receiver.events("letter.cancelled")
    assert (cancelled["data"]["state"], cancelled["data"]["reason"]) == ("cancelled", "resolved")


def test_a_closed_port_is_told_in_words() -> None:
    """Nothing listening: the delivery log says so in a sentence, not an exception's repr."""
    from live_serve import free_port

    status, error = deliver.post(f"http://127.0.0.1:{free_port()}/hook", True, b"{}", {}, 5)
    assert status is None
    assert error == "connection refused: nothing listens at that address and port"
