"""The token's organization."""

from __future__ import annotations

from pydantic import Field

from ..extensions import db
from ..models import Organization
from ..services.organization import titles_in
from .core import Model, Timestamp, endpoint, organization_id


class OrganizationOut(Model):
    """An organization: its name, sender and rules."""

    id: str
    name: str
    address: list[str]
    sender_name: str
    sender_title: str
    sender_title_in: dict[str, str] = Field(description="The sender's title in other languages "
                                            "than the organization's, by language: "
                                            "{\"fr\": \"...\"}.")
    sender_email: str
    reply_to: str = Field(description="Where replies to the letters go (the Reply-To header).")
    bounce_domain: str = Field(description="The domain of each email's own envelope sender, "
                               "bounces+<token>@domain, so a bounce finds its letter; \"\": "
                               "the sender address is the envelope sender.")
    timezone: str
    locale: str
    send_rate_per_minute: int
    retention_months: int
    created_at: Timestamp


@endpoint("GET", "/organization", tag="organization", response=OrganizationOut, errors=())
def get_organization() -> OrganizationOut:
    """The token's organization: its name, sender and rules."""
    org = db.session.get(Organization, organization_id())
    return OrganizationOut(
        id=str(org.id), name=org.name, address=org.address.splitlines(),
        sender_name=org.sender_name, sender_title=org.sender_title,
        sender_title_in=titles_in(org),
        sender_email=org.sender_email, reply_to=org.reply_to or org.sender_email,
        bounce_domain=org.bounce_domain or "",
        timezone=org.timezone, locale=org.locale,
        send_rate_per_minute=org.send_rate_per_minute, retention_months=org.retention_months,
        created_at=org.created_at)
