"""Required rejection reasons: the setting, and approval refused on every path until chosen."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_sending import _quick  # noqa: F401 - the light password hashes and stand-in PDFs

from recruiter.models import (
    Application,
    AuditEvent,
    Batch,
    Candidate,
    Letter,
    Organization,
    RejectionReason,
)
from recruiter.services import required_reasons
from recruiter.services.approval import letter_findings
from recruiter.services.letters import refresh_letters
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

ROW = ("{first},{last},{first}.{last}@example.org,12 Main Street,,Vancouver,BC,V5L 3X1,Canada,"
       "{stage},{outcome},{note}\n")
HEADER = ("first_name,last_name,email,address_line1,address_line2,city,region,postal_code,"
          "country,stage,outcome,note\n")
PEOPLE = [("Maya", "Chen", "interviewed", "hired", "Eight years running ground operations."),
          ("Daniel", "Okafor", "interviewed", "declined", "Your rota work was the clearest "
                                                          "we saw."),
          ("Priya", "Raman", "screened", "declined", "Your forklift certification was current "
                                                     "and complete."),
          ("Tom", "Baker", "applied", "declined", "Your safety record was spotless.")]


def _csv(people: list[tuple[str, str, str, str, str]]) -> bytes:
    return (HEADER + "".join(ROW.format(first=f, last=la, stage=s, outcome=o, note=n)
                             for f, la, s, o, n in people)).encode()


SMALL = _csv(PEOPLE)
LINK = re.compile(r'href="(/positions/\d+/rejection-reasons\?missing=1#candidates)"')


def _require(db, org: Organization, on: bool = True) -> None:  # noqa: ANN001
    org.require_reasons = on
    db.commit()


def _letters(db, position) -> dict[str, Letter]:  # noqa: ANN001
    """The position's letters (brought up to date) by the candidate's first name."""
    letters = refresh_letters(db, position)
    db.commit()
    return {x.application.candidate.first_name: x for x in letters}


def _reason(db, org) -> RejectionReason:  # noqa: ANN001
    return db.scalars(select(RejectionReason).where(
        RejectionReason.organization_id == org.id,
        RejectionReason.label == "Position filled internally")).one()


def _approved(db, position) -> int:  # noqa: ANN001
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Letter).join(Application).where(
        Application.position_id == position.id, Letter.status == "approved")) or 0


def _choose_all(client: FlaskClient, db, position, org) -> None:  # noqa: ANN001
    """Choose one reason for every declined candidate at once, on the position's page."""
    ids = db.scalars(select(Application.id).where(Application.position_id == position.id,
                                                  Application.outcome == "declined")).all()
    response = client.post(f"/positions/{position.id}/rejection-reasons/set",
                           data={"application": [str(i) for i in ids],
                                 "reason": str(_reason(db, org).id)})
    assert response.status_code == 302


def _approve_all(client: FlaskClient, position, count: int):  # noqa: ANN001, ANN202
    return client.post(f"/positions/{position.id}/letters/approve",
                       data={"expected_count": str(count), "acknowledge": "y"})


# --- the message ---------------------------------------------------------------------------------

def test_the_message_names_the_first_three_and_counts_the_rest() -> None:
    """One candidate is named alone; two and three are listed; more are "and N more"."""
    one = required_reasons.missing_message(["Tom Baker"])
    assert one.startswith("1 declined candidate has no rejection reason yet: Tom Baker. ")
    assert "choose it on the position's rejection reasons page" in one
    two = required_reasons.missing_message(["Tom Baker", "Ana Lima"])
    assert two.startswith("2 declined candidates have no rejection reason yet: "
                          "Tom Baker and Ana Lima. ")
    assert "choose them" in two
    six = required_reasons.missing_message([f"Person {n}" for n in range(6)])
    assert "6 declined candidates have no rejection reason yet: Person 0, Person 1, Person 2 " \
           "and 3 more." in six
    assert "Person 3" not in six


# --- the setting ---------------------------------------------------------------------------------

def test_an_admin_turns_the_rule_on_and_off_and_it_is_audited(
        client: FlaskClient, db, login) -> None:  # noqa: ANN001
    """The checkbox on the reasons page saves the rule, one audit event per change."""
    admin = login("admin")
    org = admin.organization
    page = client.get("/organization/rejection-reasons")
    assert page.status_code == 200
    assert "Require a rejection reason for every declined candidate before letters are " \
           "approved (for EEO/OFCCP record-keeping)" in page.text
    assert 'name="require"' in page.text and "checked" not in page.text.split(
        'name="require"')[1].split(">")[0]
    response = client.post("/organization/rejection-reasons/required", data={"require": "y"})
    assert response.status_code == 302
    page = client.get(response.location)
    assert "A rejection reason is now required" in page.text
    db.expire_all()
    assert db.get(Organization, org.id).require_reasons is True
    assert client.post("/organization/rejection-reasons/required",
                       data={"require": "y"}).status_code == 302  # no change: no event
    client.post("/organization/rejection-reasons/required", data={})
    db.expire_all()
    assert db.get(Organization, org.id).require_reasons is False
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "organization.require_reasons").order_by(AuditEvent.seq)).all()
    assert [(e.payload, e.actor_id) for e in events] == [
        ({"require_reasons": True}, admin.id), ({"require_reasons": False}, admin.id)]


def test_a_manager_cannot_change_the_rule(client: FlaskClient, db, login) -> None:  # noqa: ANN001
    """Only an admin sets it: a manager is refused and nothing changes."""
    manager = login("manager")
    response = client.post("/organization/rejection-reasons/required", data={"require": "y"})
    assert response.status_code == 403
    db.expire_all()
    assert db.get(Organization, manager.organization.id).require_reasons is False


def test_org_set_turns_the_rule_on_and_off(db, runner, make_org, make_member) -> None:  # noqa: ANN001
    """`recruiter org set --require-reasons` and `--no-require-reasons`, audited with the admin."""
    org = make_org()
    admin = make_member("admin", org=org)
    on = runner.invoke(args=["org", "set", "--require-reasons", "--by", admin.email])
    assert (on.exit_code, on.output) == (0, "Changed: require_reasons.\n")
    db.expire_all()
    assert db.get(Organization, org.id).require_reasons is True
    assert "require_reasons: true" in runner.invoke(args=["org", "show"]).output.splitlines()
    again = runner.invoke(args=["org", "set", "--require-reasons"])
    assert (again.exit_code, again.output) == (0, "Nothing changed.\n")
    off = runner.invoke(args=["org", "set", "--no-require-reasons", "--send-rate", "30"])
    assert (off.exit_code, off.output) == (0, "Changed: require_reasons, send_rate_per_minute.\n")
    db.expire_all()
    assert db.get(Organization, org.id).require_reasons is False
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "organization.require_reasons").order_by(AuditEvent.seq)).all()
    assert [(e.payload["require_reasons"], e.actor_id) for e in events] == [
        (True, admin.id), (False, None)]


# --- the browser ---------------------------------------------------------------------------------

def test_off_nothing_changes(client: FlaskClient, db, login,
                             make_position: Callable) -> None:  # noqa: ANN001
    """Without the rule, letters without reasons are approved and no notice is shown."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    page = client.get(f"/positions/{position.id}/letters")
    assert page.status_code == 200 and 'data-testid="missing-reasons"' not in page.text
    reasons = client.get(f"/positions/{position.id}/rejection-reasons").text
    assert 'data-testid="reasons-required"' not in reasons
    assert _approve_all(client, position, 3).status_code == 302
    assert _approved(db, position) == 3


def test_the_letters_page_warns_before_anyone_tries(client: FlaskClient, db, login,
                                                    make_position: Callable) -> None:  # noqa: ANN001
    """On, the approval box names who has no reason, links to choose them, and cannot submit."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    _require(db, manager.organization)
    page = client.get(f"/positions/{position.id}/letters").text
    notice = page.split('data-testid="missing-reasons"')[1].split("</div>")[0]
    assert "3 declined candidates have no rejection reason yet" in notice
    assert "Tom Baker, Daniel Okafor and Priya Raman." in notice  # in name order
    assert LINK.search(notice)
    assert re.search(r'<button class="button primary" type="submit" disabled>Approve all',
                     page)
    assert "You are about to approve <strong>3</strong> letters" in page
    _choose_all(client, db, position, manager.organization)
    page = client.get(f"/positions/{position.id}/letters").text
    assert 'data-testid="missing-reasons"' not in page
    assert not re.search(r'type="submit" disabled>Approve all', page)


def test_approving_all_is_refused_until_the_reasons_are_chosen(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """The refusal names the candidates and links to them; the typed count stays; then it passes."""
    manager = login("manager")
    people = [*PEOPLE, *[(f"Extra{n}", "Lee", "applied", "declined", "Your references were "
                          "warm and specific.") for n in range(3)]]
    position = make_position(org=manager.organization, csv=_csv(people))
    _require(db, manager.organization)
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    refused = _approve_all(client, position, 6)
    assert refused.status_code == 422
    assert "6 declined candidates have no rejection reason yet: Tom Baker, Extra0 Lee, " \
           "Extra1 Lee and 3 more." in refused.text
    link = LINK.search(refused.text.split('class="flash flash-error"')[1])
    assert link and link.group(1) == f"/positions/{position.id}/rejection-reasons?missing=1" \
                                     "#candidates"
    assert 'value="6"' in refused.text  # the typed count is kept
    notice = refused.text.split('data-testid="missing-reasons"')[1].split("</div>")[0]
    assert "Tom Baker, Extra0 Lee, Extra1 Lee and 3 more." in notice
    assert _approved(db, position) == 0
    waiting = client.get(link.group(1).split("#")[0])
    assert waiting.status_code == 200 and "Without a reason (6)" in waiting.text
    assert "before their letter is approved: 6 candidates have none yet" in waiting.text

    _choose_all(client, db, position, manager.organization)
    chosen = client.get(f"/positions/{position.id}/rejection-reasons").text
    assert 'data-testid="reasons-required"' not in chosen
    done = _approve_all(client, position, 6)
    assert done.status_code == 302
    assert _approved(db, position) == 6


def test_approving_one_letter_is_refused_only_for_its_own_candidate(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """One letter waits for its own candidate's reason, not the others'; the count stays right."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    _require(db, manager.organization)
    letters = _letters(db, position)
    daniel = letters["Daniel"]
    url = f"/letters/{daniel.id}/approve"
    data = {"acknowledge": "y", "seen": daniel.content_hash}
    refused = client.post(url, data=data)
    assert refused.status_code == 302
    page = client.get(refused.location).text
    flashed = page.split('class="flash flash-error"')[1].split("</p>")[0]
    assert "1 declined candidate has no rejection reason yet: Daniel Okafor." in flashed
    assert LINK.search(flashed)
    assert _approved(db, position) == 0

    client.post(f"/applications/{daniel.application_id}/rejection-reason",
                data={"reason": str(_reason(db, manager.organization).id)})
    assert client.post(url, data=data).status_code == 302
    assert _approved(db, position) == 1  # Priya and Tom still have none: not this letter's
    page = client.get(f"/positions/{position.id}/letters").text
    assert "You are about to approve <strong>2</strong> letters (1 is approved already)" in page
    assert "2 declined candidates have no rejection reason yet" in page



def test_a_letter_page_says_before_approving_that_its_candidate_needs_a_reason(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """One letter: a notice naming the candidate, with the link, and no way to approve yet."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    daniel = _letters(db, position)["Daniel"]
    page = client.get(f"/letters/{daniel.id}").text
    assert 'data-testid="missing-reason"' not in page  # the rule is off
    assert not re.search(r"disabled>Approve", page)
    _require(db, manager.organization)
    page = client.get(f"/letters/{daniel.id}").text
    notice = page.split('data-testid="missing-reason"')[1].split("</p>")[0]
    assert "Daniel Okafor has no rejection reason yet." in notice
    assert LINK.search(notice)
    assert 'aria-keyshortcuts="a" disabled>Approve and next' in page
    assert 'type="submit" disabled>Approve this letter' in page
    assert 'data-testid="review-keys">Press <kbd>A</kbd>' not in page  # no shortcut offered

    client.post(f"/applications/{daniel.application_id}/rejection-reason",
                data={"reason": str(_reason(db, manager.organization).id)})
    page = client.get(f"/letters/{daniel.id}").text
    assert 'data-testid="missing-reason"' not in page  # the others' reasons are not its own
    assert not re.search(r"disabled>Approve", page)


# --- the API and the command line ----------------------------------------------------------------

def _api(client: FlaskClient, db, org, path: str, body: dict):  # noqa: ANN001, ANN202
    _, secret = create_token(db, org, f"ats-{len(path)}-{len(body)}", "write")
    db.commit()
    return client.post("/api/v1" + path, json=body,
                       headers={"Authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("on", [False, True])
def test_the_api_approvals_follow_the_rule(client: FlaskClient, db, make_org, make_member,
                                           make_position: Callable, on: bool) -> None:  # noqa: ANN001
    """On, one letter and all letters are refused (422) naming who and the page; off, approved."""
    org = make_org()
    make_member("manager", org=org)
    position = make_position(org=org, csv=SMALL)
    _require(db, org, on)
    letters = _letters(db, position)
    warned = sorted({f.check for found in letter_findings(position, letters.values())
                     .values() for f in found if f.severity == "warning"})
    one = _api(client, db, org, f"/letters/{letters['Tom'].id}/approve",
               {"acknowledged": warned})
    if on:
        assert one.status_code == 422 and one.mimetype == "application/problem+json"
        assert "1 declined candidate has no rejection reason yet: Tom Baker." in \
            one.json["detail"]
        assert f"/positions/{position.id}/rejection-reasons?missing=1" in one.json["detail"]
        assert _approved(db, position) == 0
        every = _api(client, db, org, f"/positions/{position.id}/letters/approve",
                     {"expected_count": 3})
        assert every.status_code == 422
        assert "3 declined candidates have no rejection reason yet: Tom Baker, Daniel " \
               "Okafor and Priya Raman." in every.json["detail"]
        assert _approved(db, position) == 0
        reason = _reason(db, org)
        for application in db.scalars(select(Application).where(
                Application.position_id == position.id, Application.outcome == "declined")):
            application.rejection_reason = reason
        db.commit()
        one = _api(client, db, org, f"/letters/{letters['Tom'].id}/approve",
                   {"acknowledged": warned})
    assert one.status_code == 200, one.json
    every = _api(client, db, org, f"/positions/{position.id}/letters/approve",
                 {"expected_count": 2, "acknowledged": warned})
    assert every.status_code == 200, every.json
    assert every.json == {"approved": 2, "cancelled": 0}
    assert _approved(db, position) == 3


@pytest.mark.parametrize("on", [False, True])
def test_letters_send_follows_the_rule(db, runner, make_org, make_member,  # noqa: ANN001
                                       make_position: Callable, on: bool) -> None:
    """On, the dry run says who lacks a reason and sending refuses; with reasons, it sends."""
    org = make_org()
    make_member("manager", org=org)
    position = make_position(org=org, csv=SMALL)
    _require(db, org, on)
    pid = str(position.id)
    dry = runner.invoke(args=["letters", "send", pid])
    assert dry.exit_code == 0, dry.output
    assert ("3 declined candidates have no rejection reason yet" in dry.output) is on
    sent = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes"])
    if on:
        assert sent.exit_code == 1
        assert "3 declined candidates have no rejection reason yet: Tom Baker, Daniel Okafor " \
               "and Priya Raman." in sent.output
        assert f"/positions/{pid}/rejection-reasons?missing=1" in sent.output
        assert _approved(db, position) == 0
        assert db.scalar(select(func.count()).select_from(Batch)) == 0
        reason = _reason(db, org)
        for application in db.scalars(select(Application).join(Candidate).where(
                Application.position_id == position.id, Application.outcome == "declined")):
            application.rejection_reason = reason
        db.commit()
        sent = runner.invoke(args=["letters", "send", pid, "--no-dry-run", "--yes"])
    assert sent.exit_code == 0, sent.output
    assert "Froze batch" in sent.output
