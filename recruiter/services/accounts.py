"""Organizations and members: creation, passwords and roles."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import ROLES, Member, Organization
from . import audit
from .boilerplates import ensure_shipped
from .mail import valid_address

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD = 10


def create_organization(session: Session, name: str, **settings: object) -> Organization:
    """Create an organization with its own copies of the shipped boilerplates."""
    name = " ".join(name.split())
    if not name:
        raise RecruiterError("The organization needs a name.")
    if find_organization(session, name) is not None:
        raise RecruiterError(f"An organization called {name!r} already exists.")
    org = Organization(name=name, **settings)
    session.add(org)
    session.flush()
    ensure_shipped(session, org)
    return org


def find_organization(session: Session, name: str) -> Organization | None:
    """The organization with this name (case-insensitive), if any."""
    return session.scalar(select(Organization).where(
        func.lower(Organization.name) == name.strip().lower()))


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    if len(password) < MIN_PASSWORD:
        raise RecruiterError(f"The password must be at least {MIN_PASSWORD} characters long.")
    return _hasher.hash(password)


def create_member(session: Session, org: Organization, *, email: str, role: str,
                  password: str, name: str = "", by: Member | None = None) -> Member:
    """Add a member to ``org``; emails are unique across recruiter."""
    if role not in ROLES:
        raise RecruiterError(f"The role must be one of {', '.join(ROLES)}, not {role!r}.")
    email = valid_address(email.strip(), "email").lower()
    if session.scalar(select(Member.id).where(func.lower(Member.email) == email)):
        raise RecruiterError(f"A member with the email {email} already exists.")
    member = Member(organization_id=org.id, email=email, role=role, name=name.strip(),
                    password_hash=hash_password(password))
    session.add(member)
    session.flush()
    audit.record(session, org.id, "member.created", actor=by, subject=member,
                 payload={"role": role})
    return member


def authenticate(session: Session, email: str, password: str) -> Member | None:
    """The active member with these credentials, or None (same work either way)."""
    member = session.scalar(select(Member).where(func.lower(Member.email) == email.strip()
                                                 .lower()))
    hashed = member.password_hash if member else _DUMMY
    try:
        _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return None
    if member is None or not member.active:
        return None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
    return member


_DUMMY = _hasher.hash("not-a-real-password")
