"""The Vancouver demo: one organization, one filled role, 30 applicants."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Organization
from .accounts import create_member, create_organization
from .importing import accepted_rows, parse_candidates
from .positions import create_position, import_rows

DEMO_ORG = "Harbour Air Logistics"
DEMO_EMAIL = "demo@example.com"
DEMO_CSV = Path(__file__).resolve().parent.parent / "demo" / "vancouver.csv"


def load_demo(session: Session, login_file: Path) -> tuple[str, str] | None:
    """Create the demo once; return (email, password), or None if it already exists."""
    if session.scalar(select(Organization.id).where(Organization.name == DEMO_ORG)):
        return None
    org = create_organization(
        session, DEMO_ORG, address="1055 West Hastings Street, Suite 300\nVancouver BC  V6E 2E9"
        "\nCanada", timezone="America/Vancouver", locale="en_CA", sender_name="Jordan Reyes",
        sender_title="Operations Manager", sender_email="hiring@harbourair.example.com")
    password = secrets.token_urlsafe(12)
    create_member(session, org, email=DEMO_EMAIL, role="admin", password=password,
                  name="Jordan Reyes")
    position = create_position(session, org, title="Operations Coordinator",
                               location="Vancouver, BC",
                               differentiator="hands-on aviation operations experience")
    import_rows(session, position, accepted_rows(parse_candidates(DEMO_CSV.read_bytes())))
    fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{DEMO_EMAIL}\n{password}\n")
    return DEMO_EMAIL, password


def demo_login(login_file: Path) -> tuple[str, str] | None:
    """The saved demo login, if the demo was loaded in this instance."""
    try:
        email, password = login_file.read_text().split()[:2]
    except (FileNotFoundError, ValueError):
        return None
    return email, password
