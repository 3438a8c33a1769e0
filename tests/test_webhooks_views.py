"""Settings, Webhooks in the browser: admins only, CSRF, the secret, the log and Resend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from test_security import CSRF_ON, _hidden_fields, _open, _signed_in
from webhook_receiver import Receiver, running_receiver

from recruiter.models import AuditEvent, WebhookDelivery, WebhookEndpoint
from recruiter.services import webhooks
from recruiter.services.webhooks import deliver, events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 that checks every signature."""
    with running_receiver() as found:
        yield found


@pytest.mark.parametrize("role", ["manager", "auditor"])
def test_only_admins_see_webhooks(client, login, role: str) -> None:  # noqa: ANN001
    """A manager or an auditor gets 403, as on the other settings pages."""
    login(role)
    assert client.get("/organization/webhooks").status_code == 403
    assert client.post("/organization/webhooks", data={"url": "http://x"}).status_code == 403


def test_the_settings_page_links_to_webhooks(client, login) -> None:  # noqa: ANN001
    """Settings shows the way to Webhooks."""
    login("admin")
    assert 'href="/organization/webhooks"' in client.get("/organization").text


def test_a_private_url_is_refused_beside_its_field_until_allowed(client, login, db) -> None:  # noqa: ANN001
    """Without the setting a loopback URL is refused with the reason; with it, it is added."""
    admin = login("admin")
    data = {"url": "http://127.0.0.1:9/hook", "description": "ATS",
            "events": ["letter.sent", "batch.completed"]}
    page = client.post("/organization/webhooks", data=data)
    assert page.status_code == 200 and "private, loopback or link-local" in page.text
    assert db.scalar(select(WebhookEndpoint)) is None
    saved = client.post("/organization/webhooks/settings",
                        data={"webhooks_allow_private": "y"})
    assert saved.status_code == 302
    db.expire_all()
    assert admin.organization.webhooks_allow_private is True
    assert db.scalar(select(AuditEvent.payload).where(
        AuditEvent.action == "organization.changed")) == {"fields": ["webhooks_allow_private"]}
    added = client.post("/organization/webhooks", data=data)
    endpoint = db.scalar(select(WebhookEndpoint))
    assert added.headers["Location"].endswith(f"/organization/webhooks/{endpoint.id}")
    assert endpoint.events == ["letter.sent", "batch.completed"]
    page = client.get(added.headers["Location"])
    assert endpoint.secret in page.text and page.headers["Cache-Control"] == "no-store"
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert "webhook.created" in actions
    assert all(endpoint.secret not in str(e.payload) for e in db.scalars(select(AuditEvent)))


def test_the_log_resend_disable_and_remove(client, login, db, receiver: Receiver) -> None:  # noqa: ANN001
    """The log lists a dead delivery; Resend delivers it again; disable, then remove."""
    admin = login("admin")
    org = admin.organization
    org.webhooks_allow_private = True
    endpoint = webhooks.add_endpoint(db, org, receiver.url, "all")
    receiver.secret, receiver.default = endpoint.secret, 500
    webhooks.emit(db, org.id, "batch.completed", {"batch_id": "1"})
    db.info.pop(events.NUDGE, None)
    db.commit()
    deliver.deliver_due(db, max_attempts=1)
    page = client.get(f"/organization/webhooks/{endpoint.id}")
    assert "dead" in page.text and "HTTP 500" in page.text and "Resend" in page.text
    delivery = db.scalar(select(WebhookDelivery))
    receiver.default = 200
    response = client.post(f"/organization/webhooks/deliveries/{delivery.id}/resend")
    assert response.status_code == 302
    db.expire_all()
    assert delivery.state == "delivered"  # the nudge after the commit (immediate queue)
    assert len(receiver.received) == 2 and len(set(receiver.ids())) == 1
    assert client.post(f"/organization/webhooks/{endpoint.id}/toggle").status_code == 302
    db.expire_all()
    assert endpoint.active is False
    assert client.post(f"/organization/webhooks/{endpoint.id}/remove").status_code == 302
    db.expire_all()
    assert db.scalar(select(WebhookEndpoint)) is None
    assert db.scalar(select(WebhookDelivery)) is None


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_adding_needs_the_forms_token(app: Flask, db, make_member) -> None:  # noqa: ANN001
    """Without the CSRF token the add form is a 400; with the page's token it works."""
    admin = make_member("admin")
    admin.organization.webhooks_allow_private = True
    db.commit()
    client = _signed_in(app, admin)
    data = {"url": "http://127.0.0.1:9/hook", "events": ["letter.sent"]}
    assert _open(client, "POST", "/organization/webhooks", data=data).status_code == 400
    token = _hidden_fields(_open(client, "GET", "/organization/webhooks"),
                           "/organization/webhooks")
    response = _open(client, "POST", "/organization/webhooks", data={**data, **token})
    assert response.status_code == 302
    assert db.scalar(select(WebhookEndpoint.url)) == "http://127.0.0.1:9/hook"
