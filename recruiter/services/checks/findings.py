"""What a check reports, and what the checks are given: findings, letters and batch facts."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer should look at, with the span of letter text it refers to."""

    check: str
    severity: str  # "error" blocks approval; "warning" needs an acknowledgement
    message: str
    start: int | None = None
    end: int | None = None
    category: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI and the browser use."""
        return {"id": self.check, "severity": self.severity, "start": self.start,
                "end": self.end, "message": self.message, "category": self.category}

    def shifted(self, offset: int) -> Finding:
        """The same finding with its span moved by ``offset`` characters."""
        if self.start is None or self.end is None:
            return self
        return Finding(self.check, self.severity, self.message, self.start + offset,
                       self.end + offset, self.category)


@dataclass(frozen=True)
class LetterUnderCheck:
    """A rendered letter and the note that went into it.

    ``language`` is the letter's language tag: its word list checks the letter's wording.
    """

    key: Hashable
    text: str
    note: str
    candidate_names: tuple[str, ...] = ()
    language: str = "en"


@dataclass(frozen=True)
class BatchFacts:
    """What the checks need to know about the position and the organization."""

    differentiator: str = ""
    hire_names: tuple[str, ...] = ()
    hire_email: str | None = None
    retention_months: int | None = None
    language: str = "en"


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding blocks approval."""
    return any(f.severity == "error" for f in findings)


def findings_to_json(findings: Iterable[Finding]) -> str:
    """Findings as a JSON list of {id, severity, start, end, message, category}."""
    return json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False)
