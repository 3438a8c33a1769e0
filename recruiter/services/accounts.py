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
from .reasons import ensure_default_reasons

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD = 12  # a first password and a changed one alike


def create_organization(session: Session, name: str, **settings: object) -> Organization:
    """Create an organization with its own copies of the shipped boilerplates."""
    name = organization_name(session, name)
    org = Organization(name=name, **settings)
    session.add(org)
    session.flush()
    ensure_shipped(session, org)
    ensure_default_reasons(session, org)
    return org


def organization_name(session: Session, name: str, *, renaming: int | None = None) -> str:
    """``name`` with its spaces normalized, refused when another organization has it in any case.

    ``renaming`` is the id of the organization being renamed, which may keep its own name. The
    message does not say which organization has the name.
    """
    name = " ".join(name.split())
    if not name:
        raise RecruiterError("The organization needs a name.")
    query = select(Organization.id).where(func.lower(Organization.name) == name.lower())
    if renaming is not None:
        query = query.where(Organization.id != renaming)
    if session.scalar(query.limit(1)) is not None:
        raise RecruiterError("Another organization has this name. That name is already "
                             "taken, whatever its case.")
    return name


def find_organization(session: Session, name_or_id: str) -> Organization | None:
    """The organization with this id or exactly this name; None when nothing matches at all.

    A name that matches only in another case, or a value that is one organization's id and
    another's name, is refused with the candidates listed (id and exact name), so that a
    command never writes into an organization the operator did not mean.
    """
    wanted = " ".join(name_or_id.split())
    by_id = session.get(Organization, int(wanted)) if wanted.isdigit() else None
    exact = session.scalars(select(Organization).where(Organization.name == wanted)).all()
    found = {org.id: org for org in [*([by_id] if by_id else []), *exact]}
    if len(found) == 1:
        return next(iter(found.values()))
    loose = found or {org.id: org for org in session.scalars(select(Organization).where(
        func.lower(Organization.name) == wanted.lower()))}
    if not loose:
        return None
    listed = "; ".join(f"id {org.id}: {org.name!r}" for org in sorted(
        loose.values(), key=lambda org: org.id))
    raise RecruiterError(f"{name_or_id!r} does not name exactly one organization; give the id "
                         f"or the exact name of one of these: {listed}.")


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
        # The same words whether the address is a member here or in another organization:
        # an admin must not learn who uses recruiter elsewhere.
        raise RecruiterError(f"{email} cannot be added. If they are already a member here, "
                             "they are in the list; otherwise ask them for another address.")
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
    if member is None or not member.active or member.kind != "person":
        return None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
    return member


def change_password(member: Member, current: str, new: str) -> None:
    """Set ``member``'s new password after checking the current one; ends their sessions."""
    try:
        _hasher.verify(member.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise RecruiterError("The current password is not right.") from None
    if len(new) < MIN_NEW_PASSWORD:
        raise RecruiterError(f"The new password must be at least {MIN_NEW_PASSWORD} "
                             "characters long.")
    if new == current:
        raise RecruiterError("The new password must differ from the current one.")
    member.password_hash = hash_password(new)
    member.must_change_password = False
    end_sessions(member)


def end_sessions(member: Member) -> None:
    """End every session ``member`` has: each one carries the version this raises."""
    member.session_version = (member.session_version or 0) + 1


def force_password_reset(session: Session, member: Member, *, by: Member) -> None:
    """Sign ``member`` out everywhere and make them choose a new password at next sign-in."""
    member.must_change_password = True
    end_sessions(member)
    audit.record(session, member.organization_id, "member.reset_forced", actor=by,
                 subject=member)


MIN_NEW_PASSWORD = 12  # a password a member chooses; the first one is given by an admin
_DUMMY = _hasher.hash("not-a-real-password")
