"""What a letter renders from and into: plain context values in, a ``Rendered`` letter out.

Templates never see ORM objects: a ``LetterContext`` of strings and ints becomes the dict a
boilerplate renders from (``as_template_dict``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from babel.dates import format_date


@dataclass(frozen=True)
class CandidateFields:
    """The candidate as a letter may see them."""

    first_name: str = ""
    last_name: str = ""
    full_name: str = ""
    email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    stage: str = "applied"
    salutation: str = ""  # the greeting name: the salutation, else the first, else full name

    @classmethod
    def of(cls, person: Any, stage: str) -> CandidateFields:
        """The fields of a stored candidate or an imported CSV row (both have these names)."""
        return cls(first_name=person.first_name, last_name=person.last_name,
                   full_name=person.full_name, email=person.email or "",
                   address_line1=person.address_line1, address_line2=person.address_line2,
                   city=person.city, region=person.region, postal_code=person.postal_code,
                   country=person.country, stage=stage,
                   salutation=(getattr(person, "salutation", "") or person.first_name
                               or person.full_name))


@dataclass(frozen=True)
class LetterContext:
    """Everything a boilerplate may use, as plain values only."""

    candidate: CandidateFields
    note: str
    differentiator: str
    position_title: str
    position_location: str
    organization_name: str
    sender_name: str
    sender_title: str = ""
    applicant_count: int = 0
    interviewed_count: int = 0
    today: date | None = None
    locale: str = "en"

    def as_template_dict(self) -> dict[str, Any]:
        """The dict a boilerplate renders from: nested plain dicts, strings and ints."""
        candidate = self.candidate
        fields = {name: getattr(candidate, name) for name in _CANDIDATE_FIELDS}
        if "salutation" in fields:  # built by hand rather than by ``of``: the same fallback
            fields["salutation"] = (fields["salutation"] or candidate.first_name
                                    or candidate.full_name)
        return {
            "candidate": fields,
            "note": self.note.strip(),
            "differentiator": self.differentiator.strip(),
            "position": {"title": self.position_title, "location": self.position_location},
            "organization": {"name": self.organization_name},
            "sender": {"name": self.sender_name, "title": self.sender_title},
            "applicant_count": self.applicant_count,
            "interviewed_count": self.interviewed_count,
            "date": letter_date(self.locale, self.today),
        }


_CANDIDATE_FIELDS = tuple(field.name for field in dataclasses.fields(CandidateFields))


def letter_date(locale: str, today: date | None = None) -> str:
    """Today's date as a letter in ``locale`` writes it."""
    return _long_date(today or date.today(), locale or "en")


@lru_cache(maxsize=64)
def _long_date(day: date, locale: str) -> str:
    # Babel looks the locale's pattern up again on every call; a batch has one date.
    return format_date(day, format="long", locale=locale)


# Documented merge fields, for the editor's picker and "unknown field" checks.
MERGE_FIELDS = (
    "candidate.first_name", "candidate.last_name", "candidate.full_name", "candidate.email",
    "candidate.city", "candidate.country", "candidate.stage", "note", "differentiator",
    "position.title", "position.location", "organization.name", "sender.name",
    "sender.title", "applicant_count", "interviewed_count", "date",
)


@dataclass(frozen=True)
class Rendered:
    """One rendered letter: subject, plain text, sanitised HTML, and which fields were empty."""

    subject: str
    text: str
    html: str
    missing: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """SHA-256 over subject, text and HTML: changes whenever the letter would."""
        digest = hashlib.sha256()
        for part in (self.subject, self.text, self.html):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()
