"""The data model, named after the product vocabulary."""

from .api import TOKEN_SCOPES, ApiToken, IdempotentRequest
from .audit import AuditEvent, ErasureRequest
from .documents import DOCUMENT_KINDS, Document, DocumentContent
from .hiring import OUTCOMES, POSITION_STATUSES, STAGES, Application, Candidate, Position
from .letters import (
    DELIVERY_STATES,
    LETTER_STATUSES,
    RESOLUTION_ACTIONS,
    Batch,
    Delivery,
    FrozenLetter,
    Letter,
    Resolution,
)
from .org import ROLES, Boilerplate, BoilerplateVersion, Member, Organization
from .reasons import RejectionReason as RejectionReason  # re-exported
from .webhooks import (
    WEBHOOK_DELIVERY_STATES,
    WEBHOOK_EVENTS,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookFanout,
)

__all__ = [
    "OUTCOMES", "POSITION_STATUSES", "STAGES", "DELIVERY_STATES", "LETTER_STATUSES",
    "RESOLUTION_ACTIONS", "ROLES", "TOKEN_SCOPES", "ApiToken",
    "Application", "AuditEvent", "Batch", "Boilerplate", "BoilerplateVersion", "Candidate",
    "Delivery", "DOCUMENT_KINDS", "Document", "DocumentContent", "ErasureRequest",
    "FrozenLetter", "IdempotentRequest", "Letter", "Member",
    "Organization",
    "Position", "Resolution",
    "WEBHOOK_DELIVERY_STATES", "WEBHOOK_EVENTS", "WebhookDelivery", "WebhookEndpoint",
    "WebhookEvent", "WebhookFanout",
]
