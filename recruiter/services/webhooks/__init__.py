"""Outgoing webhooks: endpoints, the signed outbox, and the worker that delivers it.

- ``endpoints``: add, change, remove and list an organization's endpoints (audited).
- ``guard``: where a webhook may go (SSRF), and the connection to the checked address.
- ``signing``: the Standard Webhooks signature, and ``verify`` for receivers.
- ``events``: write events and their deliveries in the caller's transaction (the outbox).
- ``letters``: the product's events (letters, batches, positions) as payloads.
- ``deliver``: claim, POST, record, retry with backoff, dead, resend.

Sending imports ``letters`` directly; these modules do not import this package.
"""

from .deliver import MAX_ATTEMPTS, deliver_due, resend
from .endpoints import (
    EndpointError,
    add_endpoint,
    deliveries_of,
    delivery_of,
    endpoint_of,
    endpoints_of,
    remove_endpoint,
    update_endpoint,
)
from .events import EVENTS, NUDGE, emit, emit_many
from .letters import letters_ready
from .signing import SignatureError, verify

__all__ = [
    "EVENTS", "MAX_ATTEMPTS", "NUDGE", "EndpointError", "SignatureError", "add_endpoint",
    "deliver_due", "deliveries_of", "delivery_of", "emit", "emit_many", "endpoint_of",
    "endpoints_of", "letters_ready", "remove_endpoint", "resend", "update_endpoint", "verify",
]
