"""An organization's webhook endpoints: added, changed, removed and listed, each audited.

The same checks serve the page, the CLI and the API: a refusal is an ``EndpointError`` naming
its field. The secret never goes into the audit log; the URL only by its host (a query string
may hold a receiver's own token).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from ...errors import RecruiterError
from ...models import Member, Organization, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .. import audit
from . import guard, signing
from .events import EVENTS, forget_endpoints

URL_MAX, DESCRIPTION_MAX = 2000, 200


class EndpointError(RecruiterError):
    """A value refused; ``field`` names it (url, events, description)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field



Row = TypeVar("Row", WebhookEndpoint, WebhookDelivery)

def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if it is http(s) and goes where the organization may send."""
    url = (url or "").strip()
    if not url:
        raise EndpointError("url", "The URL is required.")
    if len(url) > URL_MAX:
        raise EndpointError("url", f"The URL is longer than {URL_MAX} characters.")
    try:
        guard.check(url, allow_private=allow_private)
    except guard.TargetRefused as exc:
        raise EndpointError("url", str(exc)) from exc
    return url


def check_events(events: str | Iterable[str]) -> list[str]:
    """The event types, in the documented order; ``all`` (or "all") means every one."""
    if isinstance(events, str):
        events = [part.strip() for part in events.split(",") if part.strip()]
    chosen = list(events)
    if chosen == ["all"]:
        return list(EVENTS)
    unknown = [name for name in chosen if name not in EVENTS]
    if unknown:
        raise EndpointError("events", f"The events {', '.join(map(repr, unknown))} are unknown;"
                                      f" choose from {', '.join(EVENTS)}, or all.")
    if not chosen:
        raise EndpointError("events", "Choose at least one event.")
    return [name for name in EVENTS if name in chosen]


def check_description(description: str | None) -> str:
    """The description, one line, at most 200 characters."""
    value = " ".join((description or "").split())
    if len(value) > DESCRIPTION_MAX:
        raise EndpointError("description",
                            f"The description is longer than {DESCRIPTION_MAX} characters.")
    return value


def _audit(endpoint: WebhookEndpoint, **more: Any) -> dict[str, Any]:
    host = guard.parse(endpoint.url)[1] if endpoint.url else None
    return {"host": host, "events": list(endpoint.events), **more}


def add_endpoint(session: Session, organization: Organization, url: str,
                 events: str | Iterable[str], description: str | None = "", *,
                 by: Member | None = None) -> WebhookEndpoint:
    """Register an endpoint with a new secret; flushes, never commits."""
    endpoint = WebhookEndpoint(
        organization_id=organization.id,
        url=check_url(url, allow_private=organization.webhooks_allow_private),
        events=check_events(events), description=check_description(description),
        secret=signing.new_secret(), active=True, created_by_id=by.id if by else None)
    session.add(endpoint)
    session.flush()
    forget_endpoints(session)
    audit.record(session, organization.id, "webhook.created", actor=by, subject=endpoint,
                 payload=_audit(endpoint))
    return endpoint


def update_endpoint(session: Session, endpoint: WebhookEndpoint, *, url: str | None = None,
                    events: str | Iterable[str] | None = None,
                    description: str | None = None, active: bool | None = None,
                    by: Member | None = None) -> list[str]:
    """Change the given fields (all checked first, all or nothing); the changed names."""
    organization = session.get(Organization, endpoint.organization_id)
    assert organization is not None
    clean: dict[str, Any] = {}
    if url is not None:
        clean["url"] = check_url(url, allow_private=organization.webhooks_allow_private)
    if events is not None:
        clean["events"] = check_events(events)
    if description is not None:
        clean["description"] = check_description(description)
    if active is not None:
        clean["active"] = bool(active)
    changed = sorted(name for name, value in clean.items() if getattr(endpoint, name) != value)
    for name in changed:
        setattr(endpoint, name, clean[name])
    if changed:
        session.flush()
        forget_endpoints(session)
        audit.record(session, endpoint.organization_id, "webhook.updated", actor=by,
                     subject=endpoint, payload=_audit(endpoint, fields=changed))
    return changed


def remove_endpoint(session: Session, endpoint: WebhookEndpoint, *,
                    by: Member | None = None) -> None:
    """Delete an endpoint and its delivery log; the events stay for other endpoints."""
    payload = _audit(endpoint)
    audit.record(session, endpoint.organization_id, "webhook.removed", actor=by,
                 subject=endpoint, payload=payload)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                    .execution_options(synchronize_session=False))
    session.delete(endpoint)
    session.flush()
    forget_endpoints(session)


def endpoints_of(session: Session, organization: Organization) -> list[WebhookEndpoint]:
    """The organization's endpoints, oldest first."""
    return list(session.scalars(select(WebhookEndpoint)
                                .where(WebhookEndpoint.organization_id == organization.id)
                                .order_by(WebhookEndpoint.id)))


def endpoint_of(session: Session, organization: Organization,
                endpoint_id: int | str) -> WebhookEndpoint:
    """One endpoint of the organization by id; another organization's is not found."""
    return _owned(session, WebhookEndpoint, organization, endpoint_id, "endpoint")


def delivery_of(session: Session, organization: Organization,
                delivery_id: int | str) -> WebhookDelivery:
    """One webhook delivery of the organization by id; another organization's is not found."""
    return _owned(session, WebhookDelivery, organization, delivery_id, "delivery")


def _owned(session: Session, model: type[Row], organization: Organization, row_id: int | str,
           what: str) -> Row:
    row = session.get(model, _number(row_id, what))
    if row is None or row.organization_id != organization.id:
        raise RecruiterError(f"There is no webhook {what} {row_id} in {organization.name}.")
    return row


def deliveries_of(session: Session, organization: Organization, *,
                  endpoint_id: int | None = None, state: str | None = None,
                  limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log, newest first, with each event loaded."""
    query = (select(WebhookDelivery)
             .where(WebhookDelivery.organization_id == organization.id)
             .options(joinedload(WebhookDelivery.event).load_only(
                 WebhookEvent.public_id, WebhookEvent.type, WebhookEvent.created_at))
             .order_by(WebhookDelivery.id.desc()).limit(limit))
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    return list(session.scalars(query))


def _number(value: int | str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise RecruiterError(f"The webhook {what} id must be a number, not {value!r}.") from exc
