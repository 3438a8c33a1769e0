"""Checks while writing: the letter checks on a note or a differentiator before it is saved.

The notes page and the differentiator page ask for these as the person types, and a save
reports them ("Saved, with 2 warnings"), so a risky phrase shows where it is written instead
of later on the letters page. Nothing here is a check of its own:

* a note goes through ``checks.check_batch`` as the letters do, as one letter among the
  position's other saved notes, in the language its letter is written in. That one call runs
  the wording checks (``check_text`` with the candidate's names ignored), the note's length,
  the near-duplicate detector, the colder-than-the-batch comparison and the hire's name;
* a differentiator goes through ``checks.check_differentiator`` with the position's facts,
  as ``approval.differentiator_findings`` does, in the language of its box.

Spans are offsets into the text as it was sent, so the browser can mark the very words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Application, Candidate, Position
from ..models.hiring import LETTER_OUTCOMES
from . import checks
from .approval import _facts
from .languages import primary
from .letters import boilerplate_for, language_of, organization_of
from .translations import differentiator_languages

BLOCKS = "this letter cannot be approved until it changes"
BLOCKS_ALL = "no letter can be approved until it changes"


def note_language(application: Application) -> str:
    """The primary language of the letter this application's note goes into."""
    return primary(language_of(boilerplate_for(application), organization_of(application)))


def check_note(session: Session, application: Application, text: str) -> list[checks.Finding]:
    """The letter checks on ``text`` as this application's note, beside the saved others.

    The other notes go in with an empty letter text: the batch compares notes by their words
    alone (duplicates, the median), so only this note's own wording needs checking.
    """
    language = note_language(application)
    candidate = application.candidate
    own = checks.LetterUnderCheck(
        key=application.id, text=text or "", note=text or "",
        candidate_names=(candidate.first_name, candidate.last_name), language=language)
    others = session.execute(
        select(Application.id, Application.note, Candidate.first_name, Candidate.last_name)
        .join(Candidate)
        .where(Application.position_id == application.position_id,
               Application.outcome.in_(LETTER_OUTCOMES), Application.id != application.id,
               Application.note != "")).all()
    letters = [own, *(checks.LetterUnderCheck(key=row.id, text="", note=row.note,
                                              candidate_names=(row.first_name, row.last_name),
                                              language=language) for row in others)]
    return checks.check_batch(letters, _facts(application.position))[application.id]


def differentiator_language(session: Session, position: Position,
                            language: str | None) -> str:
    """The language a differentiator box is checked in: one the page offers, else the org's."""
    own = _facts(position).language
    wanted = primary(language)
    offered = {primary(code) for code in differentiator_languages(session, position)}
    return wanted if wanted in offered else own


def check_differentiator_text(position: Position, text: str, language: str
                              ) -> list[checks.Finding]:
    """The differentiator checks on ``text`` in ``language`` (``differentiator_language``'s).

    The same call as ``approval.differentiator_findings``; a translation's findings keep
    their spans here, since each box is checked on its own.
    """
    return checks.check_differentiator(text or "", _facts(position), language=language)


def counts(findings: Iterable[checks.Finding]) -> tuple[int, int]:
    """(errors, warnings) among ``findings``."""
    severities = [f.severity for f in findings]
    return severities.count("error"), severities.count("warning")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(findings: Sequence[checks.Finding]) -> str:
    """"1 error and 2 warnings", "2 warnings", or "" when nothing was found."""
    errors, warnings = counts(findings)
    parts = [_plural(errors, "error")] if errors else []
    if warnings:
        parts.append(_plural(warnings, "warning"))
    return " and ".join(parts)


def saved_message(findings: Sequence[checks.Finding], *, saved: str = "Saved",
                  blocks: str = BLOCKS) -> str:
    """"Saved", "Saved, with 2 warnings" or "Saved, with 1 error: this letter cannot be…".

    ``saved`` opens the sentence ("Saved the note for Ana Ruiz").
    """
    said = summary(findings)
    if not said:
        return saved
    return f"{saved}, with {said}" + (f": {blocks}" if checks.has_errors(findings) else "")


def severity(findings: Iterable[checks.Finding]) -> str:
    """The worst severity among ``findings``: "error", "warning" or ""."""
    found = {f.severity for f in findings}
    return "error" if "error" in found else "warning" if "warning" in found else ""


def as_json(text: str, findings: Sequence[checks.Finding], language: str) -> dict[str, Any]:
    """The answer of a live check: each finding with the words its span covers."""
    errors, warnings = counts(findings)
    items = []
    for finding in findings:
        item = finding.to_dict()
        spanned = finding.start is not None and finding.end is not None
        item["words"] = text[finding.start:finding.end] if spanned else ""
        items.append(item)
    return {"findings": items, "errors": errors, "warnings": warnings,
            "severity": severity(findings), "summary": summary(findings),
            "language": language, "length": len(text)}
