"""Letters under review: findings, counts, one letter's own paragraph, and approval.

Approval goes one by one or all at once. Flushes only; the caller commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ..errors import RecruiterError
from ..models import Letter, Member, Position
from . import audit, checks, rechecks, required_reasons
from .languages import display_name, org_language, primary, typography
from .letter_language import fallback_titles, language_findings
from .letters import (
    LOCKED,
    OPEN,
    _session,
    boilerplate_for,
    clear_approval,
    context_for,
    effective_note,
    organization_of,
    refresh_letters,
    render_into,
)
from .positions import hire_of
from .versions import bump_review


def _facts(position: Position) -> checks.BatchFacts:
    org = organization_of(position)
    hire = hire_of(position)
    names = (hire.candidate.full_name,) if hire and hire.candidate.full_name else ()
    return checks.BatchFacts(
        differentiator=position.differentiator, hire_names=names,
        hire_email=hire.candidate.email if hire else None,
        retention_months=org.retention_months, language=org_language(org))


def letter_findings(position: Position, letters: Iterable[Letter]
                    ) -> dict[int, list[checks.Finding]]:
    """The check findings of each letter that is not cancelled, by letter id.

    Each letter is checked in its own language, and told when it is not in its candidate's
    language or lacks a translation its language needs (``letter_language.language_findings``).
    """
    letters = [letter for letter in letters if letter.status != "cancelled"]
    if not letters:
        return {}
    org = organization_of(position)
    languages = {letter.id: letter.language or org_language(org) for letter in letters}
    under_check = [
        checks.LetterUnderCheck(
            key=letter.id, text=letter.text,
            note=typography(effective_note(letter), languages[letter.id]),
            candidate_names=(letter.application.candidate.first_name,
                             letter.application.candidate.last_name),
            language=primary(languages[letter.id]))
        for letter in letters]
    found = dict(checks.check_batch(under_check, _facts(position)))
    titles = fallback_titles(_session(position), letters, org)
    for letter in letters:
        if extra := language_findings(letter, org, titles.get(letter.id, "")):
            found[letter.id] = [*extra, *found.get(letter.id, [])]
        if letter.render_error:  # a letter its boilerplate fails for cannot be approved
            found[letter.id] = [checks.Finding("render-error", "error", letter.render_error),
                                *found.get(letter.id, [])]
    return found


def differentiator_findings(position: Position) -> list[checks.Finding]:
    """The findings on the position's differentiator, and on each of its translations."""
    facts = _facts(position)
    found = checks.check_differentiator(position.differentiator, facts,
                                        language=facts.language)
    for code, text in sorted((position.differentiator_in or {}).items()):
        if primary(code) == facts.language or not (text or "").strip():
            continue
        name = display_name(code)
        found += [replace(f, message=f"In {name}: {f.message}", start=None, end=None)
                  for f in checks.check_differentiator(text, facts, language=primary(code))]
    return found


def review_counts(letters: Iterable[Letter], findings: dict[int, list[checks.Finding]]
                  ) -> dict[str, int]:
    """Letters per status, the non-cancelled total, and how many carry errors or warnings."""
    letters = list(letters)
    by_status = Counter(letter.status for letter in letters)
    counts = {status: by_status.get(status, 0)
              for status in ("draft", "approved", "cancelled", "frozen", "sent")}
    counts["total"] = len(letters) - counts["cancelled"]
    live = [findings.get(letter.id, []) for letter in letters if letter.status != "cancelled"]
    counts["errors"] = sum(1 for fs in live if any(f.severity == "error" for f in fs))
    counts["warnings"] = sum(1 for fs in live if any(f.severity == "warning" for f in fs))
    return counts


def set_note_override(session: Session, letter: Letter, text: str, member: Member) -> None:
    """Give this one letter its own personal paragraph; empty text goes back to the note."""
    if letter.status in LOCKED or letter.status == "cancelled":
        raise RecruiterError(f"This letter is {letter.status}; its paragraph can no longer "
                             "be changed.")
    text = (text or "").replace("\r\n", "\n").strip()
    if "\0" in text:
        raise RecruiterError("The paragraph contains a NUL character.")
    if len(text) > 5000:
        raise RecruiterError("The paragraph is longer than 5,000 characters.")
    bump_review(session, letter.application.position_id)
    letter.note_override = text or None
    letter.note_override_by_id = member.id if text else None
    application = letter.application
    version = boilerplate_for(application)
    render_into(letter, version, context_for(application, note=effective_note(letter),
                                             language=version.language))
    session.flush()
    audit.record(session, letter.organization_id, "letter.override", actor=member,
                 subject=letter, payload={"cleared": not text,
                                          "sha256": audit.sha256_hex(text) if text else None})


def _warnings(findings: Iterable[checks.Finding]) -> list[dict[str, object]]:
    """The findings an approval acknowledges: id, severity and span, never their words.

    Messages can quote a note or name another candidate; the audit keeps no personal text,
    and the span points into the letter's stored text instead.
    """
    return [{"check": f.check, "severity": f.severity, "start": f.start, "end": f.end}
            for f in findings if f.severity == "warning"]


def _approved_payload(letter: Letter) -> dict[str, object]:
    """The ``letter.approved`` event: the content approved and what was acknowledged."""
    return {"content_sha256": letter.content_hash,
            "warnings_acknowledged": len(letter.acknowledged),
            "acknowledged": list(letter.acknowledged)}


def _approve(letter: Letter, findings: Sequence[checks.Finding], member: Member,
             now: datetime) -> None:
    letter.status = "approved"
    letter.approved_at = now
    letter.approved_by_id = member.id
    letter.acknowledged = _warnings(findings)


def unacknowledged(findings: Iterable[checks.Finding],
                   acknowledge: bool | Collection[str]) -> list[str]:
    """The checks of the warnings ``acknowledge`` leaves out, sorted.

    ``acknowledge`` is the browser's one tick (True acknowledges every warning) or the
    checks a client named one by one (the API), so a warning nobody saw is never approved.
    """
    if acknowledge is True:
        return []
    named = set() if acknowledge is False else set(acknowledge)
    return sorted({f.check for f in findings if f.severity == "warning"} - named)


def approve_letter(session: Session, letter: Letter, findings: Sequence[checks.Finding],
                   member: Member, *, acknowledge: bool | Collection[str]) -> None:
    """Approve one letter: never with errors, and with warnings only when acknowledged.

    ``acknowledge`` is a tick for every warning, or the checks acknowledged by name. A
    declined candidate without a rejection reason is refused (ReasonsMissing) when the
    organization requires reasons. The candidate is checked again first
    (services/outcomes.py): a letter that must not go is cancelled with its reason and
    LetterStopped is raised; the caller commits that.
    """
    if letter.status not in OPEN:
        raise RecruiterError(f"This letter is {letter.status} and cannot be approved.")
    if not rechecks.recheck(session, [letter], step="approval", actor=member):
        raise rechecks.LetterStopped(f"This letter was cancelled: {letter.cancel_reason}")
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise RecruiterError(f"This letter has {len(errors)} error"
                             f"{'s' if len(errors) > 1 else ''}; fix "
                             f"{'them' if len(errors) > 1 else 'it'} before approving.")
    required_reasons.refuse_missing(session, letter.application.position, [letter.id])
    if missing := unacknowledged(findings, acknowledge):
        if isinstance(acknowledge, bool):
            raise RecruiterError("This letter has warnings: read them, then tick the "
                                 "acknowledgement to approve it as it is.")
        raise RecruiterError("This letter has warnings not acknowledged: "
                             f"{', '.join(missing)}; read them, then acknowledge each check.")
    _approve(letter, findings, member, datetime.now(UTC))
    session.flush()
    audit.record(session, letter.organization_id, "letter.approved", actor=member,
                 subject=letter, payload=_approved_payload(letter))


def unapprove_letter(session: Session, letter: Letter, member: Member | None = None) -> None:
    """Take an approved letter back to draft."""
    if letter.status != "approved":
        raise RecruiterError(f"Only an approved letter can go back to draft; this one is "
                             f"{letter.status}.")
    letter.status = "draft"
    clear_approval(letter)
    session.flush()
    audit.record(session, letter.organization_id, "letter.unapproved", actor=member,
                 subject=letter)


NO_NOTE = "empty-note"  # the check of a letter without a personal paragraph


def _without_note(letters: Sequence[Letter], findings: dict[int, list[checks.Finding]],
                  named: Collection[int]) -> set[int]:
    """The letters that go without a note, each named in ``named``; else RecruiterError.

    Every draft whose note is empty must be named by its id: a tick for the whole batch does
    not say that a person saw *this* letter go without a personal paragraph. An approved
    letter was acknowledged on its own already. Ids of letters that have a note by now are
    left alone; ids that are no open letter of the position are refused.
    """
    named = set(named)
    if unknown := sorted(named - {x.id for x in letters}):
        raise RecruiterError("These letters are not open letters of this position: "
                             f"{', '.join(map(str, unknown))}; review the list again.")
    missing = [x for x in letters if x.status == "draft" and x.id not in named
               and any(f.check == NO_NOTE for f in findings.get(x.id, []))]
    if missing:
        who = ", ".join(f"{x.application.candidate.full_name} (letter {x.id})"
                        for x in missing[:10]) + (", …" if len(missing) > 10 else "")
        raise RecruiterError(
            f"{len(missing)} letter{'s have' if len(missing) > 1 else ' has'} no personal "
            f"paragraph and {'were' if len(missing) > 1 else 'was'} not confirmed one by one: "
            f"{who}. Confirm each letter that goes without a note (in the API: its id in "
            "without_note), or write its note first.")
    return {x.id for x in letters
            if x.id in named or (x.status != "draft" and any(
                a.get("check") == NO_NOTE for a in x.acknowledged or ()
                if isinstance(a, dict)))}


def _with_no_note(acknowledge: bool | Collection[str]) -> bool | set[str]:
    """``acknowledge`` for a letter confirmed to go without a note."""
    return True if acknowledge is True else {*(acknowledge or ()), NO_NOTE}


def approve_all(session: Session, position: Position, member: Member, *, expected_count: int,
                acknowledge_warnings: bool | Collection[str],
                without_note: Collection[int] | None = None) -> int:
    """Approve every draft at once, after the member confirmed how many it approves now.

    ``expected_count`` is the number of drafts, the letters this approves now: letters
    approved one by one already are checked again but not counted.

    ``acknowledge_warnings`` ticks every warning, or names the checks acknowledged.
    ``without_note`` names, by id, each letter confirmed to go without a personal paragraph:
    given (the browser and the API always give it), every draft whose note is empty must be
    in it, and ``acknowledge_warnings`` no longer covers an empty note. None keeps the
    command line's ``--yes``, which acknowledges every warning of the letters it listed.
    Either way each letter records what was acknowledged for it, in ``Letter.acknowledged``
    and in its ``letter.approved`` event.

    When the organization requires rejection reasons, a draft whose declined candidate has
    none refuses the whole batch (ReasonsMissing).

    Each candidate is checked again first: a letter that must not go (a second letter to the
    same person) is cancelled with its reason, and the count the member saw still confirms.
    Returns how many letters it approved now.
    """
    shown = [x for x in refresh_letters(session, position) if x.status in OPEN]
    if not shown:
        raise RecruiterError("There are no letters to approve.")
    drafts = sum(1 for x in shown if x.status == "draft")
    if expected_count != drafts:
        already = len(shown) - drafts
        raise RecruiterError(f"You confirmed {expected_count} letters but there are {drafts} "
                             "to approve" + (f" ({already} approved already)" if already else "")
                             + "; review the list again.")
    letters = rechecks.recheck(session, shown, step="approval", actor=member)
    if not letters:
        return 0
    findings = letter_findings(position, letters)
    with_errors = sum(1 for x in letters
                      if any(f.severity == "error" for f in findings.get(x.id, [])))
    if with_errors:
        raise RecruiterError(f"{with_errors} letter{' has' if with_errors == 1 else 's have'} "
                             "errors; fix them before approving.")
    required_reasons.refuse_missing(session, position,
                                    [x.id for x in letters if x.status == "draft"])
    confirmed: set[int] = set()
    if without_note is not None:
        confirmed = _without_note(letters, findings, without_note)
        acknowledge_warnings = (acknowledge_warnings if isinstance(acknowledge_warnings, bool)
                                else set(acknowledge_warnings) - {NO_NOTE})
    missing = sorted({check for x in letters for check in unacknowledged(
        findings.get(x.id, []), _with_no_note(acknowledge_warnings) if x.id in confirmed
        else acknowledge_warnings)})
    if missing and isinstance(acknowledge_warnings, bool):
        raise RecruiterError("Some letters have warnings: read them, then tick the "
                             "acknowledgement to approve the letters as they are.")
    if missing:
        raise RecruiterError("Some letters have warnings not acknowledged: "
                             f"{', '.join(missing)}; read them, then acknowledge each check.")
    now = datetime.now(UTC)
    approved = [x for x in letters if x.status == "draft"]
    for letter in approved:  # every check passed above, so this loop cannot refuse halfway
        _approve(letter, findings.get(letter.id, []), member, now)
    session.flush()
    audit.record_many(session, position.organization_id, "letter.approved",
                      [(x, _approved_payload(x)) for x in approved], actor=member)
    audit.record(session, position.organization_id, "letters.approved_all", actor=member,
                 subject=position, payload={
                     "letters": len(letters),
                     "warnings_acknowledged": sum(len(x.acknowledged) for x in letters),
                     "content_sha256": audit.sha256_hex("".join(x.content_hash
                                                                for x in letters))})
    return len(approved)
