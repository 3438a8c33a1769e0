"""Organizations and their members."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._base import UTCDateTime, created, intpk, org_fk

ROLES = ("admin", "manager", "auditor")


def _primary(code: str | None) -> str:
    """A language's primary subtag, lower-cased (services/languages.py ``primary``)."""
    return (code or "").strip().replace("_", "-").split("-")[0].lower()


class Organization(db.Model):
    """The employer; every other row belongs to one."""

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_title: Mapped[str] = mapped_column(String(200), default="")
    # The sender's title in other languages than the organization's own: {"fr": "..."}.
    sender_title_in: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    sender_email: Mapped[str] = mapped_column(String(320), default="")
    # Where replies to a letter go; empty: the sender's address (every letter says Reply-To).
    reply_to: Mapped[str] = mapped_column(String(320), default="", server_default="")
    # The domain of VERP envelope senders (bounces+<token>@domain); empty: no VERP.
    bounce_domain: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # A declined candidate needs a rejection reason before approval (EEO/OFCCP record-keeping).
    require_reasons: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())
    retention_months: Mapped[int] = mapped_column(Integer, default=12)
    send_rate_per_minute: Mapped[int] = mapped_column(Integer, default=120)
    # The last confirmed CSV import mapping (columns and values), offered on the next import.
    import_mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    # Whether webhooks may go to private, loopback or link-local addresses (SSRF guard).
    webhooks_allow_private: Mapped[bool] = mapped_column(Boolean, default=False,
                                                         server_default=false())
    created_at: Mapped[created]

    members: Mapped[list[Member]] = relationship(back_populates="organization")

    @property
    def address_lines(self) -> tuple[str, ...]:
        """The postal address as non-empty lines."""
        return tuple(line.strip() for line in self.address.splitlines() if line.strip())


# Names differ in more than case, so an id or an exact name always means one organization
# (migration 0007, which refuses to run while two names clash).
Index("uq_organization_name_lower", func.lower(Organization.name), unique=True)


class Member(UserMixin, db.Model):
    """A user in one organization, with the role admin, manager or auditor."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[created]
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's id: raising it (logout, password or role change, "sign out
    # everywhere") ends every session signed in before.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "person", or "token": the stand-in through which an API token acts, so that every
    # service and the audit see an actor; it has no password and never signs in.
    kind: Mapped[str] = mapped_column(String(8), default="person", server_default="person")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=false())

    organization: Mapped[Organization] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # noqa: D102
        return self.active

    def get_id(self) -> str:
        """The session's id: the member and their session version."""
        return f"{self.id}:{self.session_version or 0}"

    def can(self, action: str) -> bool:
        """Whether this member's role allows ``action`` ("read", "edit" or "admin")."""
        allowed = {"admin": {"read", "edit", "admin"}, "manager": {"read", "edit"},
                   "auditor": {"read", "audit"}}
        if self.role == "admin":
            allowed["admin"].add("audit")
        return action in allowed.get(self.role, set())


class Boilerplate(db.Model):
    """A letter template; its text lives in numbered versions."""

    id: Mapped[intpk]
    organization_id: Mapped[org_fk]
    name: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[created]

    versions: Mapped[list[BoilerplateVersion]] = relationship(
        back_populates="boilerplate", order_by="BoilerplateVersion.number",
        cascade="all, delete-orphan",
    )
    organization: Mapped[Organization] = relationship(viewonly=True)

    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    @property
    def current(self) -> BoilerplateVersion:
        """The newest version in the organization's language (else the newest of any).

        What the editor shows and saves over, what positions default to and what a letter
        uses when its candidate's language has no version of its own.
        """
        own = _primary(self.organization.locale if self.organization else "") or "en"
        return self.version_in(own) or self.versions[-1]

    def version_in(self, language: str | None) -> BoilerplateVersion | None:
        """The newest version whose language is ``language`` (by primary subtag), or None."""
        wanted = _primary(language)
        for version in reversed(self.versions):
            if _primary(version.language) == wanted:
                return version
        return None

    @property
    def languages(self) -> list[str]:
        """The languages (primary subtags) that have a version, sorted."""
        return sorted({_primary(v.language) or "en" for v in self.versions})


class BoilerplateVersion(db.Model):
    """One saved state of a boilerplate; letters point at the version they used."""

    id: Mapped[intpk]
    boilerplate_id: Mapped[int] = mapped_column(
        ForeignKey("boilerplate.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    # The language this version is written in ("en", "fr", ...): a boilerplate has a line of
    # versions per language, and a letter uses the newest in its candidate's language.
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))

    boilerplate: Mapped[Boilerplate] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("boilerplate_id", "number"),
                      Index("ix_boilerplate_version_language", "boilerplate_id", "language",
                            "number"))
