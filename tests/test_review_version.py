"""Issue 12, points 6 and 7: a versioned review, approval as it is now, what was acknowledged.

The old review key summed ``id x code`` over applications and letters; two changes whose sums
cancel out served the stale review. The new key is ``Position.review_version``, which every
writer of what the review reads moves in the same transaction; each writer is tested here.
Approving one letter checks it as it is now, and an approval records which findings it
acknowledged, and where.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from recruiter.models import (
    Application,
    AuditEvent,
    Candidate,
    Delivery,
    Letter,
    Member,
    Organization,
    Position,
)
from recruiter.services import approval, retention, review, sending
from recruiter.services import letters as letters_service
from recruiter.services.boilerplates import save_version
from recruiter.services.outcomes import change_outcome
from recruiter.services.positions import save_candidate, save_note, set_differentiator
from recruiter.services.sending import freeze as sending_freeze
from recruiter.services.versions import bump_review

RISKY = "You seemed overqualified for this role, though your rota work was excellent."


@pytest.fixture(autouse=True)
def _stand_in_pdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freezing renders PDFs; a stand-in keeps these tests about the review quick."""
    monkeypatch.setattr(sending_freeze, "render_pdfs_parallel",
                        lambda letters, **_: [b"%PDF-1.7 stand-in " + x.key.encode()
                                         for x in letters])


def _version(db, position: Position) -> int:  # noqa: ANN001
    return db.scalar(select(Position.review_version).where(Position.id == position.id))


def _application(db, position: Position, first_name: str) -> Application:  # noqa: ANN001
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name))


def _letter(db, application: Application) -> Letter:  # noqa: ANN001
    return db.scalar(select(Letter).where(Letter.application_id == application.id))


# --- the colliding key -------------------------------------------------------------------------

OUTCOME_CODE = {"pending": 1, "hired": 2, "declined": 3, "withdrawn": 4}  # the old key's codes
STAGE_CODE = {"applied": 1, "screened": 2, "interviewed": 3}
CHANNEL_CODE = {"auto": 1, "email": 2, "post": 3}


def old_application_sums(db, position: Position) -> tuple[int, ...]:  # noqa: ANN001
    """The applications half of the old review key, as its aggregate query computed it."""
    rows = db.scalars(select(Application).where(Application.position_id == position.id)).all()
    return (len(rows), sum(a.note_revision for a in rows),
            sum(a.id * a.candidate_id for a in rows),
            sum(a.id * OUTCOME_CODE[a.outcome] for a in rows),
            sum(a.id * STAGE_CODE[a.stage] for a in rows),
            sum(a.id * CHANNEL_CODE[a.channel] for a in rows))


def test_the_colliding_cache_key_no_longer_serves_a_stale_review(app, client, db, login,
                                                                  make_position):
    """Pending to declined and declined to hired with cancelling sums: the list shows both."""
    member = login("manager")
    position = make_position(org=member.organization)
    declined = {a.id: a for a in db.scalars(select(Application).where(
        Application.position_id == position.id, Application.outcome == "declined"))}
    # b = 2a: a pending -> declined adds 2a to the old sum, b declined -> hired takes b away.
    a_id = next(i for i in sorted(declined) if 2 * i in declined)
    first, second = declined[a_id], declined[2 * a_id]
    change_outcome(db, first, "pending", by=member, confirmed=True)
    db.commit()
    url = f"/positions/{position.id}/letters"
    page = client.get(url).text
    assert f">{first.candidate.full_name}</a>" not in page  # pending: no letter
    before = old_application_sums(db, position)
    cache = app.extensions["recruiter.review"]
    version_before = cache.get(position.id, review.review_key(db, position)).key[1]

    change_outcome(db, first, "declined", by=member, confirmed=True)
    change_outcome(db, second, "hired", by=member, confirmed=True, raise_openings=True)
    db.commit()
    assert old_application_sums(db, position) == before  # the old key could not tell

    page = client.get(url).text
    assert f">{first.candidate.full_name}</a>" in page  # the newly declined one has a letter
    hired = _letter(db, second)
    assert hired.status == "cancelled"
    row = next(r for r in page.split("<tr>") if f">{second.candidate.full_name}</a>" in r)
    assert "cancelled" in row and "hire for this position" in row
    assert _letter(db, first).status == "draft"
    assert cache.get(position.id, review.review_key(db, position)).key[1] > version_before


LETTER_CODE = {"cancelled": 1, "frozen": 2, "sent": 3}  # open letters weighed 0


def old_key(db, position: Position) -> tuple:  # noqa: ANN001
    """The whole old key but the position and settings: both aggregate halves."""
    letters = db.scalars(select(Letter).join(Application)
                         .where(Application.position_id == position.id)).all()
    return old_application_sums(db, position) + (
        len(letters), sum(x.application_id for x in letters),
        max((x.updated_at for x in letters), default=None),
        sum(x.id * LETTER_CODE.get(x.status, 0) for x in letters))


def test_the_whole_old_key_collides_and_the_version_does_not(db, make_member, make_position):
    """Written as the old outcome setter did (outcomes only), the old key stays equal."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    declined = {a.id: a for a in db.scalars(select(Application).where(
        Application.position_id == position.id, Application.outcome == "declined"))}
    a_id = next(i for i in sorted(declined) if 2 * i in declined)
    first, second = declined[a_id], declined[2 * a_id]
    change_outcome(db, first, "pending", by=member, confirmed=True)
    cache = review.ReviewCache()
    review.review_of(db, position, cache, refresh=True)
    db.commit()
    before = old_key(db, position)

    first.outcome, second.outcome, position.openings = "declined", "hired", 2
    bump_review(db, position.id)  # the rule every writer follows now
    db.commit()
    assert old_key(db, position) == before

    result, computed = review.review_of(db, position, cache, refresh=True)
    db.commit()
    assert computed
    assert _letter(db, first).id in result.letter_ids
    assert _letter(db, second).status == "cancelled"


# --- every writer moves the version ------------------------------------------------------------


@dataclass
class Case:
    """A position with its review computed, and what a writer needs."""

    app: object
    client: object
    db: object
    org: Organization
    member: Member
    position: Position


def _approve_all(case: Case) -> None:
    letters = letters_service.refresh_letters(case.db, case.position)
    count = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    approval.approve_all(case.db, case.position, case.member, expected_count=count,
                                acknowledge_warnings=True)


def _freeze(case: Case, *, hold: bool = False) -> None:
    _approve_all(case)
    sending.freeze_batch(case.db, case.position, case.member, hold_until_accepted=hold)


def _deliveries(case: Case, channel: str) -> list[Delivery]:
    return list(case.db.scalars(select(Delivery).join(Letter).join(Application).where(
        Application.position_id == case.position.id, Delivery.channel == channel)
        .order_by(Delivery.id)))


def _past_retention(case: Case) -> None:
    case.position.filled_at = datetime.now(UTC) - timedelta(days=800)


def _note(case: Case) -> None:
    application = _application(case.db, case.position, "Daniel")
    save_note(case.db, application, "Your roster rebuild cut overtime by a fifth.",
              base_revision=application.note_revision, by=case.member)


def _candidate(case: Case) -> None:
    application = _application(case.db, case.position, "Daniel")
    cand = application.candidate
    fields = {name: getattr(cand, name) or "" for name in (
        "first_name", "last_name", "email", "address_line1", "address_line2", "city", "region",
        "postal_code", "country", "language")}
    save_candidate(case.db, case.position, {**fields, "first_name": "Danny"},
                   stage=application.stage, channel=application.channel,
                   application=application)


def _new_candidate(case: Case) -> None:
    save_candidate(case.db, case.position, {"first_name": "Noor", "last_name": "Aziz",
                                            "email": "noor.aziz@example.org"},
                   stage="applied", channel="auto")


def _override(case: Case) -> None:
    letter = _letter(case.db, _application(case.db, case.position, "Daniel"))
    approval.set_note_override(case.db, letter, "Your own paragraph.", case.member)


def _edit_position(case: Case) -> None:
    case.db.commit()
    response = case.client.post(f"/positions/{case.position.id}/edit", data={
        "title": "Operations Lead", "location": case.position.location,
        "openings": case.position.openings, "boilerplate": "auto"})
    assert response.status_code == 302, response.text


def _outcome(case: Case) -> None:
    change_outcome(case.db, _application(case.db, case.position, "Daniel"), "withdrawn",
                   by=case.member, confirmed=True)


def _send_one(case: Case) -> None:
    [first, *_] = _deliveries(case, "email")
    assert sending.deliver_ids(case.db, [first.id], case.app.config["MAIL_URL"])[0].state == "sent"


def _fail_one(case: Case) -> None:
    _deliveries(case, "email")[0].state = "failed"


def _resolve(case: Case) -> None:
    delivery = _deliveries(case, "email")[0]
    sending.resolve(case.db, delivery, case.member, "cancel")


def _posted(case: Case) -> None:
    assert sending.confirm_posted(case.db, case.position, case.member) == 1


def _purge(case: Case) -> None:
    assert retention.purge(case.db).candidates == 30


def _erase(case: Case) -> None:
    email = _application(case.db, case.position, "Daniel").candidate.email
    assert retention.request_erasure(case.db, case.org, email, case.member).status == "done"


# (id, prepare before the review is computed, the write)
WRITERS: list[tuple[str, Callable[[Case], None] | None, Callable[[Case], None]]] = [
    ("positions.save_note", None, _note),
    ("positions.save_candidate", None, _candidate),
    ("positions.save_candidate-new", None, _new_candidate),
    ("positions.set_differentiator", None,
     lambda c: set_differentiator(c.db, c.position, "a commercial pilot licence")),
    ("approval.set_note_override", None, _override),
    ("views.positions.edit", None, _edit_position),
    ("outcomes.change_outcome", None, _outcome),
    ("sending.freeze_batch", _approve_all, lambda c: _freeze(c)),
    ("sending.cancel_batch", lambda c: _freeze(c, hold=True),
     lambda c: sending.cancel_batch(c.db, c.position)),
    ("sending._record-sent", lambda c: _freeze(c), _send_one),
    ("sending.resolve", lambda c: (_freeze(c), _fail_one(c)), _resolve),
    ("sending.confirm_posted", lambda c: _freeze(c), _posted),
    ("retention.purge", _past_retention, _purge),
    ("retention.request_erasure", _past_retention, _erase),
]


@pytest.mark.parametrize(("prepare", "write"), [pytest.param(p, w, id=name)
                                                for name, p, w in WRITERS])
def test_every_writer_moves_the_version_and_the_review_is_computed_again(
        app, client, db, login, make_position, prepare, write):  # noqa: ANN001
    """After each writer commits, the position's review is recomputed, never served stale."""
    member = login("manager")
    position = make_position(org=member.organization)
    case = Case(app, client, db, member.organization, member, position)
    if prepare is not None:
        prepare(case)
        db.commit()
    cache = review.ReviewCache()
    review.review_of(db, position, cache, refresh=True)
    db.commit()
    assert review.review_of(db, position, cache, refresh=True)[1] is False  # cached now
    before = _version(db, position)

    write(case)
    db.commit()
    assert _version(db, position) > before
    assert review.review_of(db, position, cache, refresh=True)[1] is True


def test_approving_and_taking_back_keep_the_version(db, make_member, make_position):
    """A draft and an approved letter review alike: approving moves no version."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    cache = review.ReviewCache()
    result, _ = review.review_of(db, position, cache, refresh=True)
    db.commit()
    before = _version(db, position)
    clear = next(i for i in result.letter_ids if not result.findings.get(i))
    letter = db.get(Letter, clear)
    approval.approve_letter(db, letter, [], member, acknowledge=False)
    approval.unapprove_letter(db, letter, member)
    db.commit()
    assert _version(db, position) == before
    assert review.review_of(db, position, cache, refresh=True)[1] is False


def test_a_refresh_moves_the_version_only_when_it_changes_a_letter(db, make_member,
                                                                    make_position):
    """Drafting letters or re-rendering them bumps; a refresh that changes nothing does not."""
    position = make_position()
    org = db.get(Organization, position.organization_id)
    admin = make_member("admin", org=org)
    start = _version(db, position)
    letters_service.refresh_letters(db, position)
    db.commit()
    drafted = _version(db, position)
    assert drafted > start
    letters_service.refresh_letters(db, position)
    db.commit()
    assert _version(db, position) == drafted
    letter = db.scalars(select(Letter).join(Application)
                        .where(Application.position_id == position.id)).first()
    current = letters_service.boilerplate_for(letter.application)
    save_version(db, current.boilerplate, subject=current.subject,
                 body=current.body + "\n\nWith best wishes for your search.", by=admin)
    db.commit()
    letters_service.refresh_letters(db, position)
    db.commit()
    assert _version(db, position) > drafted


def test_a_review_made_under_a_rolled_back_bump_is_never_served(db, make_member,
                                                                make_position):
    """A refresh's bump that rolls back is reused by the next writer: its review is dropped."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    cache = review.ReviewCache()
    before = _version(db, position)
    result, computed = review.review_of(db, position, cache, refresh=True)  # drafts: a bump
    assert computed and result.key[1] == before + 1
    db.rollback()  # e.g. an approval refused after the review was taken
    application = _application(db, position, "Daniel")
    save_note(db, application, "Your roster rebuild cut overtime by a fifth.",
              base_revision=application.note_revision, by=member)
    db.commit()
    assert _version(db, position) == before + 1  # the same number, another change
    result, computed = review.review_of(db, position, cache, refresh=True)
    db.commit()
    assert computed
    letter = _letter(db, application)
    assert "cut overtime by a fifth" in letter.text and letter.id in result.letter_ids


# --- approving one letter as it is now ---------------------------------------------------------


def test_a_note_made_risky_after_the_list_was_viewed_is_checked_at_approval(client, db, login,
                                                                           make_position):
    """The list was viewed clean; the note changes; approving needs the new finding's tick."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _application(db, position, "Hannah")
    page = client.get(f"/positions/{position.id}/letters").text
    row = next(r for r in page.split("<tr>") if ">Hannah Schmidt</a>" in r)
    assert '<span class="ok">clear</span>' in row
    letter_id = _letter(db, application).id
    response = client.post(f"/applications/{application.id}/note", data={
        "note": RISKY, "base_revision": application.note_revision})
    assert response.status_code == 302

    response = client.post(f"/letters/{letter_id}/approve", follow_redirects=True)
    assert "tick the acknowledgement" in response.text
    db.expire_all()
    assert db.get(Letter, letter_id).status == "draft"

    client.post(f"/letters/{letter_id}/approve", data={"acknowledge": "y"})
    db.expire_all()
    letter = db.get(Letter, letter_id)
    assert letter.status == "approved"
    [ack] = letter.acknowledged
    assert ack["check"] == "challenge-phrase" and ack["severity"] == "warning"
    assert letter.text[ack["start"]:ack["end"]].casefold() == "overqualified"


def test_approving_a_letter_that_changed_since_it_was_opened_is_refused(client, db, login,
                                                                        make_position):
    """The page's form names the content read; a letter re-rendered since is not approved."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _application(db, position, "Hannah")
    client.get(f"/positions/{position.id}/letters")
    letter_id = _letter(db, application).id
    page = client.get(f"/letters/{letter_id}").text
    seen = re.search(r'name="seen" type="hidden" value="([0-9a-f]{64})"', page)
    assert seen and seen.group(1) == _letter(db, application).content_hash
    client.post(f"/applications/{application.id}/note", data={
        "note": "Your calm on the night shift stood out.",
        "base_revision": application.note_revision})
    response = client.post(f"/letters/{letter_id}/approve",
                           data={"seen": seen.group(1), "acknowledge": "y"},
                           follow_redirects=True)
    assert "changed since you opened it" in response.text
    db.expire_all()
    assert db.get(Letter, letter_id).status == "draft"


# --- what was acknowledged ---------------------------------------------------------------------


def _approved_events(db, org_id: int) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent).where(
        AuditEvent.organization_id == org_id, AuditEvent.action == "letter.approved")
        .order_by(AuditEvent.seq)))


def test_approve_all_records_each_letters_acknowledged_findings(db, make_member, make_position):
    """One letter.approved event per letter with the ids, severities and spans; no words."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    application = _application(db, position, "Hannah")
    save_note(db, application, RISKY, base_revision=application.note_revision, by=member)
    letters = letters_service.refresh_letters(db, position)
    approval.approve_all(db, position, member, expected_count=len(letters),
                                acknowledge_warnings=True)
    db.commit()
    events = _approved_events(db, position.organization_id)
    assert sorted(e.subject_id for e in events) == sorted(x.id for x in letters)
    by_letter = {e.subject_id: e.payload for e in events}
    hannah = _letter(db, application)
    [ack] = by_letter[hannah.id]["acknowledged"]
    assert ack == {"check": "challenge-phrase", "severity": "warning",
                   "start": ack["start"], "end": ack["end"]}
    assert hannah.text[ack["start"]:ack["end"]].casefold() == "overqualified"
    assert by_letter[hannah.id]["content_sha256"] == hannah.content_hash
    for payload in by_letter.values():
        assert payload["warnings_acknowledged"] == len(payload["acknowledged"])
        assert "message" not in str(payload) and "overqualified" not in str(payload).lower()
    summary = db.scalar(select(AuditEvent).where(AuditEvent.action == "letters.approved_all"))
    assert summary.payload["letters"] == len(letters)
    assert summary.payload["warnings_acknowledged"] == sum(
        len(p["acknowledged"]) for p in by_letter.values())


def test_the_letters_audit_page_shows_the_acknowledged_findings(client, db, login,
                                                                make_position):
    """The auditor sees each acknowledged check with its words highlighted in the letter."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _application(db, position, "Hannah")
    save_note(db, application, RISKY, base_revision=application.note_revision, by=member)
    letters_service.refresh_letters(db, position)
    db.commit()
    letter_id = _letter(db, application).id
    client.post(f"/letters/{letter_id}/approve", data={"acknowledge": "y"})
    login("auditor", org=member.organization)
    page = client.get(f"/audit/letters/{letter_id}").text
    section = page[page.index('data-testid="acknowledged"'):]
    section = section[:section.index("</section>")]
    assert "<code>challenge-phrase</code>" in section and "warning" in section
    assert re.search(r'<mark class="finding-span warning">overqualified</mark>', section,
                     re.IGNORECASE)
    assert html.escape("rota work") in section  # the words around it, from the stored text
    events = _approved_events(db, position.organization_id)
    assert [e.subject_id for e in events] == [letter_id]
