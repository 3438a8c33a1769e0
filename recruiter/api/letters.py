"""Letters: the review with each letter's findings, one letter, its email and PDF, approvals.

The same services as the browser's letter pages: a write token's reads bring the drafts up to
date first (as an editor's page view does), a read token sees the letters as stored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Response, current_app, g, url_for
from pydantic import Field

from ..caches import review_cache
from ..errors import RecruiterError
from ..extensions import db
from ..models import Letter
from ..services import approval, files, review
from ..services.checks import Finding
from ..services.outcomes import LetterStopped
from ..services.required_reasons import ReasonsMissing
from .core import (
    ID,
    ApiError,
    Line,
    Model,
    Page,
    PageQuery,
    Timestamp,
    actor,
    cursor_after,
    endpoint,
)
from .positions import POSITION, position_of

LETTER = "/letters/" + ID.format("letter_id")
LetterStatus = Literal["draft", "approved", "frozen", "sent", "cancelled"]
Life = Literal["draft", "approved", "frozen", "held", "scheduled", "queued", "sending", "sent",
               "failed", "in_doubt", "bounced", "cancelled"]
CheckName = Line  # a finding's check, e.g. "risky-wording"
SHA256 = r"^[0-9a-f]{64}$"
LetterId = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,9}$")]  # a letter's `id`


class FindingOut(Model):
    """What a check found in a letter; errors block approval, warnings need acknowledging."""

    check: str = Field(description="The check's id: what `acknowledged` names.")
    severity: str = Field(description="`error` blocks approval; `warning` needs an "
                                      "acknowledgement.")
    message: str
    start: int | None = Field(description="Where the words it is about start in `text`.")
    end: int | None
    acknowledged: bool = Field(description="Acknowledged when the letter was approved.")


class LetterOut(Model):
    """A letter of the review, with its findings."""

    id: str
    application_id: str
    external_id: str | None = Field(description="The ATS's id of the application.")
    name: str = Field(description="The candidate's name.")
    status: LetterStatus
    life: Life = Field(description="Where the letter stands, its delivery included.")
    channel: Literal["email", "post"]
    approved: bool
    approved_at: Timestamp | None
    own_paragraph: bool = Field(description="This letter has its own personal paragraph.")
    cancel_reason: str | None
    render_error: str | None = Field(description="Why the boilerplate cannot be rendered for "
                                                 "this candidate (an error finding too).")
    errors: int
    warnings: int
    findings: list[FindingOut]


class LetterDetail(LetterOut):
    """One letter with its words: the candidate's data, which the organization owns."""

    position_id: str
    subject: str
    text: str
    content_sha256: str = Field(description="Send it back when approving: a letter that "
                                            "changed since is refused.")


class LetterList(Page):
    """A page of a position's letters, by id."""

    data: list[LetterOut]


class ApproveIn(Model):
    """Approve one letter as it is now."""

    acknowledged: list[CheckName] = Field(
        default_factory=list, max_length=100,
        description="The checks of every warning on the letter, read and accepted.")
    content_sha256: str | None = Field(None, pattern=SHA256,
                                       description="The `content_sha256` you read.")


class ApproveAllIn(Model):
    """Approve every draft letter of the position."""

    expected_count: int = Field(
        ge=0, le=1_000_000,
        description="How many letters this approves now: the position's draft letters, "
                    "not counting those approved one by one already. A different number "
                    "is refused.")
    acknowledged: list[CheckName] = Field(
        default_factory=list, max_length=100,
        description="The checks of the warnings you accept, across the letters. An empty "
                    "note (`empty-note`) is accepted letter by letter, in `without_note`.")
    without_note: list[LetterId] = Field(
        default_factory=list, max_length=100_000,
        description="The id of every draft letter without a note (an `empty-note` "
                    "warning), each confirmed to go without a personal paragraph: a letter "
                    "left out is refused, and each letter's approval records it.")


def _refused_for_reasons(exc: ReasonsMissing) -> ApiError:
    """The 422 of an approval that waits for rejection reasons, with the page to choose them."""
    page = url_for("reasons.position", position_id=exc.position_id, missing="1",
                   _external=True)
    return ApiError(422, "Unprocessable Content", f"{exc} The page: {page}")


class ApproveAllOut(Model):
    """What approving every letter did."""

    approved: int = Field(description="Draft letters approved now.")
    cancelled: int = Field(description="Of the `expected_count` drafts, those cancelled on a "
                                       "last check of the candidate.")


def _review(position) -> review.Review:  # noqa: ANN001
    result, _ = review.review_of(db.session, position, review_cache(),
                                 refresh=g.api_token.scope == "write")
    return result


def _finding(found: Finding, row: review.LetterRow) -> FindingOut:
    return FindingOut(check=found.check, severity=found.severity, message=found.message,
                      start=found.start, end=found.end,
                      acknowledged=(found.check, found.start, found.end) in row.acknowledged)


def _out(row: review.LetterRow, result: review.Review) -> dict:
    found = result.findings.get(row.id, [])
    return dict(
        id=str(row.id), application_id=str(row.application_id), external_id=row.external_id,
        name=row.name, status=row.status, life=row.life, channel=row.channel,
        approved=row.approved_at is not None, approved_at=row.approved_at,
        own_paragraph=row.own_paragraph, cancel_reason=row.cancel_reason,
        render_error=row.render_error, errors=row.errors, warnings=row.warnings,
        findings=[_finding(f, row) for f in found])


def letter_of(letter_id: int) -> Letter:
    """The letter (its organization was checked at the door of the endpoint)."""
    return db.session.get(Letter, letter_id)


def _detail(letter: Letter) -> LetterDetail:
    result = _review(letter.application.position)
    [row] = review.letter_rows(db.session, result, [letter.id])
    return LetterDetail(**_out(row, result), position_id=str(letter.application.position_id),
                        subject=letter.subject, text=letter.text,
                        content_sha256=letter.content_hash)


@endpoint("GET", POSITION + "/letters", tag="letters", query=PageQuery, response=LetterList)
def list_letters(position_id: int, query: PageQuery) -> LetterList:
    """List a position's letters with their findings.

    A write token brings every draft up to date first, as the review page does for a member
    who may edit.
    """
    result = _review(position_of(position_id))
    ids = sorted(i for i in result.letter_ids if i > query.after())[:query.limit + 1]
    rows = review.letter_rows(db.session, result, ids[:query.limit])
    return LetterList(data=[LetterOut(**_out(row, result)) for row in rows],
                      next_cursor=cursor_after(ids, query.limit, lambda i: i))


@endpoint("POST", POSITION + "/letters/approve", tag="letters", body=ApproveAllIn,
          response=ApproveAllOut, errors=(404,))
def approve_letters(position_id: int, body: ApproveAllIn) -> ApproveAllOut:
    """Approve every draft letter of a position.

    Letters approved one by one already stay approved and are checked again with the rest.
    Refused when any letter has an error, when a warning's check is not acknowledged, when
    a draft without a note is not in `without_note`, when `expected_count` is not the
    number of drafts, the letters it approves now, or when the organization requires a
    rejection reason and a declined candidate has none (the detail names them and the page).
    """
    try:
        count = approval.approve_all(db.session, position_of(position_id), actor(),
                                     expected_count=body.expected_count,
                                     acknowledge_warnings=set(body.acknowledged),
                                     without_note={int(i) for i in body.without_note})
    except ReasonsMissing as exc:
        raise _refused_for_reasons(exc) from None
    return ApproveAllOut(approved=count, cancelled=body.expected_count - count)


@endpoint("GET", LETTER, tag="letters", response=LetterDetail)
def read_letter(letter_id: int) -> LetterDetail:
    """Read one letter: its subject, text and findings."""
    return _detail(letter_of(letter_id))


def _document(letter: Letter, make, media: str, suffix: str) -> Response:  # noqa: ANN001
    try:
        data = make(letter)
    except RecruiterError as exc:  # its boilerplate fails for this candidate, or no address
        raise ApiError(409, "Conflict", str(exc)) from None
    # Named after the candidate as every download is; an unfrozen .eml says DRAFT.
    draft = suffix == "eml" and files.is_draft(letter)
    return Response(data, mimetype=media, headers={
        "Content-Disposition": files.content_disposition(letter, suffix, inline=True,
                                                         draft=draft)})


@endpoint("GET", LETTER + "/email", tag="letters", errors=(404, 409),
          media={"message/rfc822": "The letter as an email message: the bytes sent once "
                                   "frozen, else built now."})
def letter_email(letter_id: int) -> Response:
    """Render a letter as an email message (`.eml`).

    Until the letter is frozen it is a draft: no Message-ID, and `-DRAFT` in its file name.
    409 when the letter goes by post (no address) or cannot be rendered.
    """
    return _document(letter_of(letter_id), files.letter_eml, "message/rfc822", "eml")


@endpoint("GET", LETTER + "/pdf", tag="letters", errors=(404, 409),
          media={"application/pdf": "The letter on the letterhead as PDF."})
def letter_pdf(letter_id: int) -> Response:
    """Render a letter as a letterhead PDF.

    409 when the letter cannot be rendered for its candidate.
    """
    page_size = str(current_app.config.get("PAGE_SIZE") or "A4")
    return _document(letter_of(letter_id),
                     lambda letter: files.letter_pdf(letter, page_size=page_size),
                     "application/pdf", "pdf")


@endpoint("POST", LETTER + "/approve", tag="letters", body=ApproveIn, response=LetterDetail,
          errors=(404, 409))
def approve_letter(letter_id: int, body: ApproveIn) -> LetterDetail:
    """Approve one letter.

    It is checked as it is now, with the position's other letters: errors block, every
    warning's check must be in `acknowledged`, and a `content_sha256` other than the
    letter's is refused. 409 when a last check of the candidate cancelled the letter (the
    cancellation and its reason are kept).
    """
    letter = letter_of(letter_id)
    try:
        review.approve_reviewed(db.session, letter, review_cache(), actor(),
                                seen=body.content_sha256, acknowledge=set(body.acknowledged))
    except LetterStopped as exc:
        db.session.commit()  # the cancellation and its reason are kept, as in the browser
        raise ApiError(409, "Conflict", str(exc)) from None
    except ReasonsMissing as exc:
        raise _refused_for_reasons(exc) from None
    return _detail(letter)


@endpoint("POST", LETTER + "/unapprove", tag="letters", response=LetterDetail)
def unapprove_letter(letter_id: int) -> LetterDetail:
    """Take an approved letter back to draft."""
    letter = letter_of(letter_id)
    approval.unapprove_letter(db.session, letter, actor())
    return _detail(letter)

