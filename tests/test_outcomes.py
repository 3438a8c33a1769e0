"""The state model (services/outcomes.py): transitions, openings and letters stopped in time.

Every transition goes through the service, the page and the CLI; letters are checked again at
freezing and sending.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from conftest import PASSWORD
from sqlalchemy import select, update

from recruiter.models import (
    Application,
    AuditEvent,
    Batch,
    Candidate,
    Delivery,
    Letter,
    Position,
)
from recruiter.queue import queue
from recruiter.services import approval, outcomes, sending
from recruiter.services import letters as letters_service
from recruiter.services.outcomes import TRANSITIONS, OutcomeNeedsConfirmation, change_outcome

HEADER = ("first_name,last_name,email,address_line1,city,region,postal_code,country,stage,"
          "outcome,note\n")


def small_csv(declined: int = 3) -> bytes:
    """Maya Chen hired, and ``declined`` declined candidates with notes."""
    lines = [HEADER, "Maya,Chen,maya.chen@example.com,1 Main St,Vancouver,BC,V6J 1M1,Canada,"
                     "interviewed,hired,Ground operations.\n"]
    for i in range(1, declined + 1):
        lines.append(f"Robin,Tremblay{i},robin{i}@example.org,{i} Granville St,Vancouver,BC,"
                     f"V6C 1T1,Canada,applied,declined,Your dock audit number {i} stood out.\n")
    return "".join(lines).encode()


def app_of(db, position: Position, last_name: str) -> Application:  # noqa: ANN001
    """The application of the candidate with this last name."""
    db.expire_all()
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.last_name == last_name))


def letter_of(db, application: Application) -> Letter | None:  # noqa: ANN001
    """The application's letter, fresh from the database."""
    db.expire_all()
    return db.scalar(select(Letter).where(Letter.application_id == application.id))


def outbox_recipients(app) -> list[str]:  # noqa: ANN001
    """Every To: address in the .eml outbox."""
    folder = Path(app.config["MAIL_URL"].removeprefix("file://"))
    return sorted(str(message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
                  for p in folder.glob("*.eml")) if folder.exists() else []


def approve_and_freeze(db, position: Position, member, **options):  # noqa: ANN001, ANN003, ANN201
    """Approve every open letter (acknowledging warnings) and freeze the batch."""
    letters = letters_service.refresh_letters(db, position)
    count = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    approval.approve_all(db, position, member, expected_count=count,
                                acknowledge_warnings=True)
    batch, _ = sending.freeze_batch(db, position, member, **options)
    db.commit()
    return batch


@pytest.fixture
def manager(make_member, make_org):  # noqa: ANN001, ANN201
    """A manager of a fresh organization."""
    return make_member("manager", org=make_org())


# --- every transition, from every entry point ------------------------------------------------


def _by_service(db, client, runner, application, to):  # noqa: ANN001, ANN202
    change_outcome(db, application, to, confirmed=True)
    db.commit()


def _by_page(db, client, runner, application, to):  # noqa: ANN001, ANN202
    response = client.post(f"/applications/{application.id}/outcome",
                           data={"outcome": to, "confirm": "1"})
    assert response.status_code == 302, response.text


def _by_cli(db, client, runner, application, to):  # noqa: ANN001, ANN202
    result = runner.invoke(args=["candidates", "outcome", str(application.position_id),
                                 application.candidate.email, to, "--yes"])
    assert result.exit_code == 0, result.output


ENTRY_POINTS = {"service": _by_service, "page": _by_page, "cli": _by_cli}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(("before", "after"), sorted(TRANSITIONS))
def test_every_transition_has_its_effect_on_the_letter(db, client, runner, make_member,
                                                        make_position, entry, before, after):
    """Each transition by service, page and CLI: only `declined` keeps a letter.

    The outcome and its audit event are written, and no other candidate changes.
    """
    member = make_member("manager")
    position = make_position(org=member.organization, csv=small_csv())
    client.post("/login", data={"email": member.email, "password": PASSWORD})
    target = app_of(db, position, "Tremblay1")
    position.openings = 2  # room for a second hire, so the transition itself is tested
    target.outcome = before
    db.commit()
    letters_service.refresh_letters(db, position)
    db.commit()
    others = {a.id: a.outcome for a in position.applications if a.id != target.id}

    ENTRY_POINTS[entry](db, client, runner, target, after)

    target = app_of(db, position, "Tremblay1")
    assert target.outcome == after
    letters_service.refresh_letters(db, position)
    db.commit()
    letter = letter_of(db, target)
    if after == "declined":
        assert letter is not None and letter.status == "draft"
    else:
        assert letter is None or (letter.status == "cancelled" and letter.cancel_reason)
    assert {a.id: a.outcome for a in position.applications if a.id != target.id} == others
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "application.outcome")
                       .order_by(AuditEvent.seq.desc())).first()
    assert (event.payload["from"], event.payload["outcome"]) == (before, after)


def test_the_table_names_every_pair_of_different_outcomes():
    """The transition table is complete: every outcome can reach every other, described."""
    pairs = {(a, b) for a in outcomes.OUTCOMES for b in outcomes.OUTCOMES if a != b}
    assert set(TRANSITIONS) == pairs and all(TRANSITIONS.values())


# --- one hire, openings and confirmations -----------------------------------------------------


def test_a_second_hire_never_silently_declines_the_first(db, client, login, make_position):
    """Marking a second hire shows the choices and changes nothing until one is chosen."""
    member = login("manager")
    position = make_position(org=member.organization)
    okafor = app_of(db, position, "Okafor")
    response = client.post(f"/applications/{okafor.id}/outcome", data={"outcome": "hired"})
    assert response.status_code == 200
    assert "Raise the openings to 2" in response.text and "Replace Maya Chen" in response.text
    assert app_of(db, position, "Chen").outcome == "hired"
    assert app_of(db, position, "Okafor").outcome == "declined"
    assert letter_of(db, app_of(db, position, "Chen")) is None


def test_raising_the_openings_hires_both(db, client, login, make_position):
    """Choosing to raise the openings keeps the first hire and adds the second."""
    member = login("manager")
    position = make_position(org=member.organization)
    okafor = app_of(db, position, "Okafor")
    response = client.post(f"/applications/{okafor.id}/outcome",
                           data={"outcome": "hired", "raise_openings": "1", "confirm": "1"})
    assert response.status_code == 302
    db.expire_all()
    assert position.openings == 2 and position.status == "filled"
    assert (app_of(db, position, "Chen").outcome, app_of(db, position, "Okafor").outcome) == (
        "hired", "hired")
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "position.openings"))


def test_replacing_the_hire_lists_and_applies_both_changes(db, client, login, make_position):
    """Replacing the hire says what happens to both people; the former hire gets no letter."""
    member = login("manager")
    position = make_position(org=member.organization)
    okafor, chen = app_of(db, position, "Okafor"), app_of(db, position, "Chen")
    response = client.post(f"/applications/{okafor.id}/outcome",
                           data={"outcome": "hired", "replace": str(chen.id), "confirm": "1"},
                           follow_redirects=True)
    assert "Daniel Okafor is marked as the hire." in response.text
    assert "Maya Chen is reinstated (pending). No letter." in response.text
    assert app_of(db, position, "Chen").outcome == "pending"
    letters = letters_service.refresh_letters(db, position)
    assert "Maya Chen" not in {x.application.candidate.full_name for x in letters
                               if x.status != "cancelled"}


def test_declining_a_former_hire_needs_confirmation(db, make_position):
    """Declining the hire is refused without confirmation, then drafts a letter."""
    position = make_position()
    chen = app_of(db, position, "Chen")
    with pytest.raises(OutcomeNeedsConfirmation, match="was hired"):
        change_outcome(db, chen, "declined")
    db.rollback()
    assert app_of(db, position, "Chen").outcome == "hired"
    change_outcome(db, app_of(db, position, "Chen"), "declined", confirmed=True)
    db.commit()
    letters_service.refresh_letters(db, position)
    assert letter_of(db, app_of(db, position, "Chen")).status == "draft"
    assert position.status == "open"


def test_the_cli_names_the_choices_when_every_opening_is_taken(db, runner, make_position,
                                                                manager):
    """The CLI refuses a second hire with the two ways out, and changes nothing."""
    position = make_position(org=manager.organization)
    result = runner.invoke(args=["candidates", "outcome", str(position.id),
                                 "daniel.okafor@example.org", "hired"])
    assert result.exit_code != 0
    assert "--raise-openings" in result.output and "Maya Chen" in result.output
    assert app_of(db, position, "Okafor").outcome == "declined"
    result = runner.invoke(args=["candidates", "outcome", str(position.id),
                                 "daniel.okafor@example.org", "hired", "--replace",
                                 "maya.chen@example.com"])
    assert result.exit_code != 0 and "--yes" in result.output
    assert "Maya Chen: hired -> pending. No letter." in result.output
    assert app_of(db, position, "Chen").outcome == "hired"
    result = runner.invoke(args=["candidates", "outcome", str(position.id),
                                 "daniel.okafor@example.org", "hired", "--raise-openings",
                                 "--yes"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert position.openings == 2 and app_of(db, position, "Chen").outcome == "hired"


def test_after_sending_only_a_confirmed_hire_remains(db, make_position, manager):
    """A sent letter cannot be taken back: the effect says so and hiring needs confirmation."""
    position = make_position(org=manager.organization, csv=small_csv(1))
    approve_and_freeze(db, position, manager, hold_until_accepted=False)
    queue().enqueue(d.id for d in db.scalars(select(Delivery)))
    target = app_of(db, position, "Tremblay1")
    assert letter_of(db, target).status == "sent"
    plan = outcomes.plan_outcome(db, target, "withdrawn")
    assert "already sent" in plan.changes[0].letter and "cannot be taken back" in \
        plan.changes[0].letter
    assert outcomes.allowed_outcomes(target, "sent") == ["hired"]
    position.openings = 2
    with pytest.raises(OutcomeNeedsConfirmation, match="already received a decline letter"):
        change_outcome(db, target, "hired")


# --- reinstated while the batch waits: never sent --------------------------------------------


@pytest.mark.parametrize("stage", ["held", "scheduled", "queued"])
def test_reinstated_while_the_batch_waits_is_never_sent(app, db, make_position, manager, stage):
    """Kill test: a candidate reinstated while held, scheduled or queued is never sent a letter.

    The letter is cancelled with its reason; releasing, the sweep and the worker skip it.
    """
    position = make_position(org=manager.organization, csv=small_csv(3))
    options = {"held": {"hold_until_accepted": True},
               "scheduled": {"hold_until_accepted": False,
                             "send_at": datetime.now(UTC) + timedelta(hours=2)},
               "queued": {"hold_until_accepted": False}}[stage]
    approve_and_freeze(db, position, manager, **options)
    target = app_of(db, position, "Tremblay2")
    letter = letter_of(db, target)
    assert outcomes.letter_life(letter, letter.deliveries[0],
                                db.get(Batch, letter.batch_id)) == stage

    plan = change_outcome(db, target, "pending", by=manager)
    db.commit()
    assert "cancelled before it leaves" in plan.changes[0].letter
    letter = letter_of(db, target)
    assert letter.status == "cancelled" and "reinstated" in letter.cancel_reason
    assert [d.state for d in letter.deliveries] == ["cancelled"]

    sending.release(db, position)  # the hire accepted
    db.commit()
    later = datetime.now(UTC) + timedelta(hours=3)  # past the scheduled time
    due = sending.sweep(db, now=later)
    queue().enqueue(due + [d.id for d in db.scalars(select(Delivery))])
    sent = outbox_recipients(app)
    assert len(sent) == 2 and not any("robin2@" in r for r in sent)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "letter.cancelled"))


def test_the_worker_stops_a_letter_whose_candidate_changed_behind_its_back(app, db, manager,
                                                                           make_position):
    """An outcome written past the state model (another process) is caught just before DATA."""
    position = make_position(org=manager.organization, csv=small_csv(2))
    approve_and_freeze(db, position, manager, hold_until_accepted=False)
    target = app_of(db, position, "Tremblay1")
    db.execute(update(Application).where(Application.id == target.id).values(outcome="hired"))
    db.commit()
    queue().enqueue(d.id for d in db.scalars(select(Delivery).order_by(Delivery.id)))
    assert outbox_recipients(app) == ["Robin Tremblay2 <robin2@example.org>"]
    letter = letter_of(db, target)
    assert letter.status == "cancelled" and letter.cancel_reason == outcomes.REASONS["hired"]
    assert [d.state for d in letter.deliveries] == ["cancelled"]
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.cancelled")).one()
    assert event.payload == {"reason": "hired", "step": "sending", "was": "queued"}


def test_freezing_cancels_a_letter_whose_candidate_is_no_longer_declined(db, make_position,
                                                                        manager, monkeypatch):
    """An approved letter whose candidate withdrew (written past the model) is not frozen."""
    position = make_position(org=manager.organization, csv=small_csv(2))
    letters = letters_service.refresh_letters(db, position)
    approval.approve_all(db, position, manager, expected_count=2,
                                acknowledge_warnings=True)
    db.commit()
    target = app_of(db, position, "Tremblay2")
    db.execute(update(Application).where(Application.id == target.id)
               .values(outcome="withdrawn"))
    # The refresh follows outcomes too; take it out of the way to test the freezing check.
    db.commit()
    monkeypatch.setattr(letters_service, "refresh_letters",
                        lambda session, position, today=None: letters)
    sending.freeze_batch(db, position, manager)
    db.commit()
    letter = letter_of(db, target)
    assert letter.status == "cancelled" and letter.frozen is None
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.cancelled")).one()
    assert event.payload["step"] == "freezing" and event.payload["reason"] == "withdrawn"


def _add_twin(db, position: Position) -> Application:  # noqa: ANN001
    """A second application of Robin Tremblay1 (same email, other record) to the position."""
    twin = Candidate(organization_id=position.organization_id, first_name="Robin",
                     last_name="Tremblay-Twin", email="ROBIN1@example.org")
    db.add(twin)
    db.flush()
    application = Application(organization_id=position.organization_id,
                              position_id=position.id, candidate_id=twin.id,
                              outcome="declined", note="Strong dock audits.")
    db.add(application)
    db.commit()
    return application


def test_the_same_person_twice_in_one_position_gets_one_letter(db, make_position, manager):
    """Two applications of one person (one email): the second letter is stopped at freezing."""
    position = make_position(org=manager.organization, csv=small_csv(2))
    first = app_of(db, position, "Tremblay1")
    _add_twin(db, position)
    approve_and_freeze(db, position, manager)
    statuses = {letter_of(db, a).application.candidate.last_name: letter_of(db, a).status
                for a in db.scalars(select(Application).where(
                    Application.position_id == position.id, Application.outcome == "declined"))}
    assert statuses == {"Tremblay1": "frozen", "Tremblay2": "frozen",
                        "Tremblay-Twin": "cancelled"}
    assert letter_of(db, first).status == "frozen"


def test_letter_life_reads_one_word_from_three_columns():
    """letter_life maps letter status, delivery state and batch state to the documented words."""
    letter, delivery, batch = Letter(status="frozen"), Delivery(state="held"), \
        type("B", (), {"state": "scheduled"})()
    assert outcomes.letter_life(None) is None
    assert outcomes.letter_life(Letter(status="approved")) == "approved"
    assert outcomes.letter_life(letter, delivery, batch) == "scheduled"
    assert outcomes.letter_life(letter, Delivery(state="retry_wait")) == "queued"
    assert outcomes.letter_life(Letter(status="sent"), Delivery(state="sent")) == "sent"
    assert outcomes.letter_life(letter, Delivery(state="in_doubt")) == "in_doubt"
    assert set(outcomes.LIFE_LABELS) == set(outcomes.LETTER_LIFE)


# --- openings on the position form, and deciding the undecided -------------------------------


def test_openings_are_edited_on_the_position_form_never_below_the_hires(db, client, login,
                                                                        make_position):
    """Two openings reopen a filled position; fewer openings than hires are refused."""
    member = login("manager")
    position = make_position(org=member.organization)
    form = {"title": position.title, "location": position.location, "boilerplate": "auto"}
    response = client.post(f"/positions/{position.id}/edit", data={**form, "openings": "2"})
    assert response.status_code == 302
    db.expire_all()
    assert (position.openings, position.status) == (2, "open")
    change_outcome(db, app_of(db, position, "Okafor"), "hired")  # no question: room for two
    db.commit()
    db.expire_all()
    assert position.status == "filled"
    response = client.post(f"/positions/{position.id}/edit", data={**form, "openings": "1"})
    assert response.status_code == 200
    assert "2 candidates are hired" in response.text
    db.expire_all()
    assert position.openings == 2


def test_pending_candidates_get_no_letter_until_declined_together(db, client, login,
                                                                 make_position):
    """Pending candidates get no letter; declining them all needs the confirmed count."""
    member = login("manager")
    position = make_position(org=member.organization, csv=small_csv(3).replace(
        b"applied,declined", b"applied,pending"))
    letters = letters_service.refresh_letters(db, position)
    db.commit()
    assert letters == []
    page = client.get(f"/positions/{position.id}/decline-pending")
    assert "Robin Tremblay1" in page.text and "Decline 3 candidates" in page.text
    stale = client.post(f"/positions/{position.id}/decline-pending",
                        data={"outcome": "declined", "confirm": "2"}, follow_redirects=True)
    assert "3 are pending now" in stale.text
    assert app_of(db, position, "Tremblay1").outcome == "pending"
    client.post(f"/positions/{position.id}/decline-pending",
                data={"outcome": "declined", "confirm": "3"})
    letters = letters_service.refresh_letters(db, position)
    assert sorted(x.application.candidate.last_name for x in letters) == [
        "Tremblay1", "Tremblay2", "Tremblay3"]


@pytest.fixture
def twin_drafts(db, login, make_position):  # noqa: ANN001, ANN201
    """A signed-in manager's position with drafts for Robin Tremblay1 and for their twin.

    The twin is a second application of the same person; returns (position, twin).
    """
    member = login("manager")
    position = make_position(org=member.organization, csv=small_csv(2))
    twin = _add_twin(db, position)
    letters_service.refresh_letters(db, position)
    db.commit()
    return position, twin


def test_approving_one_letter_stops_a_second_letter_to_the_same_person(db, client, twin_drafts):
    """Single approval re-checks the person: the twin's letter is cancelled, and stays so."""
    _, twin = twin_drafts
    letter = letter_of(db, twin)
    response = client.post(f"/letters/{letter.id}/approve", data={"acknowledge": "y"},
                           follow_redirects=True)
    assert "This letter was cancelled: The same person already has a letter" in response.text
    letter = letter_of(db, twin)
    assert letter.status == "cancelled" and letter.approved_at is None
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "letter.cancelled")).one()
    assert event.payload == {"reason": "duplicate", "step": "approval", "was": "draft"}


def test_approving_all_keeps_the_confirmed_count_and_cancels_the_duplicate(db, client,
                                                                          twin_drafts):
    """Approve-all with the count the member saw approves the rest and says one was stopped."""
    position, twin = twin_drafts
    response = client.post(f"/positions/{position.id}/letters/approve",
                           data={"expected_count": "3", "acknowledge": "y"},
                           follow_redirects=True)
    assert "Approved 2 letters; 1 was cancelled on a last check" in response.text
    assert letter_of(db, twin).status == "cancelled"
    assert letter_of(db, app_of(db, position, "Tremblay1")).status == "approved"


def test_an_import_fills_the_position_only_when_every_opening_has_its_hire(db, make_org):
    """One hire imported into two openings leaves the position open; one of one fills it."""
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    org = make_org()
    two = create_position(db, org, title="Two dispatchers", openings=2)
    one = create_position(db, org, title="One dispatcher")
    for position in (two, one):
        import_rows(db, position, accepted_rows(parse_candidates(small_csv(1))))
    db.commit()
    assert (two.status, one.status) == ("open", "filled")


def test_the_worker_sends_one_letter_when_two_claimed_go_to_one_address(app, db, manager,
                                                                        make_position):
    """Two claimed letters of one position to one address: the earlier goes, the later not.

    The address is changed past the model after freezing; the later letter is cancelled as a
    duplicate in the same batch.
    """
    position = make_position(org=manager.organization, csv=small_csv(2))
    approve_and_freeze(db, position, manager, hold_until_accepted=False)
    first, second = (letter_of(db, app_of(db, position, name)) for name in ("Tremblay1",
                                                                            "Tremblay2"))
    db.execute(update(Delivery).where(Delivery.letter_id == second.id)
               .values(recipient="robin1@example.org"))
    db.commit()
    queue().enqueue(d.id for d in db.scalars(select(Delivery).order_by(Delivery.id)))
    assert outbox_recipients(app) == ["Robin Tremblay1 <robin1@example.org>"]
    stopped = letter_of(db, second.application)
    assert stopped.status == "cancelled" and stopped.cancel_reason == outcomes.REASONS[
        "duplicate"]
    assert letter_of(db, first.application).status == "sent"
