"""What the columns and values of an applicant-tracking-system export mean to recruiter.

Header and cell text are compared by key: casefolded, with everything but letters and digits
removed, so "Current Stage", "current_stage" and "CURRENT-STAGE" are one key. The tables cover
the common wording of Greenhouse, Lever, Workable and Personio exports; anything else is a row
problem that the person importing maps in the preview (or with ``--map-value``).

A column named like notes, comments or feedback is the team's **internal note**: it is shown
beside the note box and never reaches a letter. Only a column named as a note *for the
candidate* ("note", "personal note", "note to candidate"), or one the user maps so, becomes the
personal paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import RecruiterError
from ..models.hiring import OUTCOMES, STAGES

# Every field a column can become, with the words the preview shows for it.
FIELDS: dict[str, str] = {
    "first_name": "first name", "last_name": "last name", "name": "full name",
    "email": "email", "address_line1": "address line 1", "address_line2": "address line 2",
    "city": "city", "region": "region or state", "postal_code": "postal code",
    "country": "country", "stage": "stage", "outcome": "outcome",
    "note": "candidate note (in the letter)", "internal_note": "internal note (never sent)",
    "language": "language", "salutation": "greeting name (after \u201cDear\u201d)",
}
IGNORED = "ignored"
_FIELD_ALIASES = {"full_name": "name", "ignore": IGNORED, "candidate_note": "note",
                  "status": "outcome"}
DEFAULT_STAGE = "applied"
DEFAULT_OUTCOME = "declined"  # this product imports the people to decline (lead's decision)


def key(text: str) -> str:
    """The comparison key of a header or a value: casefolded letters and digits only."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _names(spec: dict[str, str]) -> dict[str, str]:
    return {word: target for target, words in spec.items() for word in words.split()}


HEADERS = _names({
    "first_name": "first firstname givenname givennames forename forenames",
    "last_name": "last lastname surname familyname",
    "name": "name fullname candidate candidatename applicant applicantname",
    "email": "email emailaddress mail mailaddress candidateemail",
    "address_line1": "address address1 addressline1 street streetaddress",
    "address_line2": "address2 addressline2 street2",
    "city": "city town",
    "region": "region state province county stateprovince",
    "postal_code": "zip zipcode postcode postalcode",
    "country": "country",
    "stage": "stage currentstage applicationstage pipelinestage",
    "outcome": "outcome status applicationstatus candidatestatus disposition",
    "note": "note personalnote notetocandidate noteforcandidate candidatenote",
    "internal_note": "notes comment comments feedback reviewernote reviewernotes recruiternote "
                     "recruiternotes internalnote internalnotes interviewnotes "
                     "interviewfeedback hiringmanagernotes",
    "language": "language locale lang",
    "salutation": "salutation greeting greetingname preferredname",
})
STAGE_VALUES = _names({
    "applied": "applied new received applicationreview review newapplicant newapplication "
               "sourced leads lead unassigned inreview",
    "screened": "screened shortlisted phonescreen phonescreening screening recruiterscreen "
                "preliminaryphonescreen assessment skillsassessment test hiringmanagerreview "
                "hiringmanagerscreen",
    "interviewed": "interviewed interview interviewing onsite onsiteinterview finalround "
                   "finalinterview technicalinterview phoneinterview videointerview "
                   "facetoface panelinterview hiringmanagerinterview secondinterview "
                   "referencecheck offer offerextended hired",
})
OUTCOME_VALUES = _names({
    "pending": "pending active inprocess inprogress new open onhold",
    "hired": "hired hire offeraccepted",
    "declined": "declined rejected notselected unsuccessful disqualified archived "
                "notmovingforward",
    "withdrawn": "withdrawn withdrew candidatewithdrew offerdeclined",
})
CHOICES: dict[str, tuple[dict[str, str], tuple[str, ...], str]] = {
    "stage": (STAGE_VALUES, STAGES, DEFAULT_STAGE),
    "outcome": (OUTCOME_VALUES, OUTCOMES, DEFAULT_OUTCOME),
}


def propose_field(header: str) -> str | None:
    """The field a column is proposed to become, from its name, or None."""
    return HEADERS.get(key(header))


@dataclass
class ImportMapping:
    """What the person importing chose: column to field, unknown value to canonical value.

    ``columns`` maps a header as written (stripped) to a field or ``ignored``; ``values`` maps
    a field (stage, outcome) to {value key: canonical value}; ``greetings`` maps a row number
    to the greeting name typed in the preview. Only ``columns`` and ``values`` are remembered.
    """

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    greetings: dict[int, str] = field(default_factory=dict)

    def value(self, name: str, raw: str) -> str | None:
        """The canonical value of ``raw`` for a field: the user's choice, then the table."""
        chosen = self.values.get(name, {}).get(key(raw))
        return chosen or CHOICES[name][0].get(key(raw))

    def to_json(self, headers: list[str]) -> dict[str, Any]:
        """The remembered form: only for a file with exactly these headers."""
        return {"headers": [h.strip() for h in headers], "columns": dict(self.columns),
                "values": {k: dict(v) for k, v in self.values.items() if v}}

    @classmethod
    def remembered(cls, saved: dict[str, Any] | None, headers: list[str]) -> ImportMapping:
        """The saved mapping when it was made for these headers; an empty one otherwise."""
        if not saved or saved.get("headers") != [h.strip() for h in headers]:
            return cls()
        columns = {str(k): v for k, v in dict(saved.get("columns") or {}).items()
                   if v in FIELDS or v == IGNORED}
        values = {name: {str(k): v for k, v in dict(chosen).items() if v in CHOICES[name][1]}
                  for name, chosen in dict(saved.get("values") or {}).items() if name in CHOICES}
        return cls(columns=columns, values=values)


def field_name(text: str) -> str | None:
    """A field name as typed on the command line (``full_name`` means ``name``), or None."""
    name = text.strip().lower().replace("-", "_").replace(" ", "_")
    name = _FIELD_ALIASES.get(name, name)
    return name if name in FIELDS or name == IGNORED else None


def mapping_from_options(maps: tuple[str, ...] | list[str],
                         map_values: tuple[str, ...] | list[str]) -> ImportMapping:
    """An ImportMapping from ``--map "COLUMN=FIELD"`` and ``--map-value "FIELD:VALUE=CANON"``."""
    mapping = ImportMapping()
    accepted = ", ".join([*FIELDS, IGNORED])
    for option in maps:
        column, sep, target = option.rpartition("=")
        name = field_name(target)
        if not sep or not column.strip():
            raise RecruiterError(f"--map {option!r} is not COLUMN=FIELD, for example "
                                 "--map \"Notes=internal_note\".")
        if name is None:
            raise RecruiterError(f"--map {option!r}: {target.strip()!r} is not a field; use one "
                                 f"of {accepted}.")
        mapping.columns[column.strip()] = name
    for option in map_values:
        target, _, rest = option.partition(":")
        raw, sep, canonical = rest.rpartition("=")
        name = field_name(target)
        if not sep or not raw.strip() or name is None:
            raise RecruiterError(f"--map-value {option!r} is not FIELD:VALUE=CANONICAL, for "
                                 "example --map-value \"outcome:On hold=pending\".")
        if name not in CHOICES:
            raise RecruiterError(f"--map-value {option!r}: only stage and outcome values can be "
                                 "mapped.")
        allowed = CHOICES[name][1]
        if canonical.strip().lower() not in allowed:
            raise RecruiterError(f"--map-value {option!r}: {canonical.strip()!r} is not a {name}; "
                                 f"use one of {', '.join(allowed)}.")
        mapping.values.setdefault(name, {})[key(raw)] = canonical.strip().lower()
    return mapping
