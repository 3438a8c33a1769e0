"""Rejection reasons: defaults, the list, choosing, reports, CSV, and never in a letter."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from recruiter.models import Application, AuditEvent, Candidate, Organization, RejectionReason
from recruiter.services import checks
from recruiter.services import reasons as service
from recruiter.services.approval import letter_findings
from recruiter.services.checks import check_text
from recruiter.services.letters import context_for, refresh_letters
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

SMALL = (
    b"first_name,last_name,email,address_line1,address_line2,city,region,postal_code,country,"
    b"stage,outcome,note\n"
    b"Maya,Chen,maya.chen@example.com,1840 West 4th Avenue,,Vancouver,BC,V6J 1M1,Canada,"
    b"interviewed,hired,Eight years running ground operations.\n"
    b"Daniel,Okafor,daniel.okafor@example.org,455 Granville Street,,Vancouver,BC,V6C 1T1,Canada,"
    b"interviewed,declined,Your rota work was the clearest we saw.\n"
    b"Priya,Raman,priya.raman@example.org,12 Main Street,,Vancouver,BC,V5L 3X1,Canada,"
    b"screened,declined,Your forklift certification was current and complete.\n"
    b"Tom,Baker,tom.baker@example.org,14 Main Street,,Vancouver,BC,V5L 3X1,Canada,"
    b"applied,declined,Your safety record was spotless.\n"
    b"Ana,Lima,ana.lima@example.org,16 Main Street,,Vancouver,BC,V5L 3X1,Canada,"
    b"applied,pending,\n")


def _apps(db, position) -> dict[str, Application]:  # noqa: ANN001
    """The position's applications by first name."""
    rows = db.scalars(select(Application).join(Candidate)
                      .where(Application.position_id == position.id))
    return {a.candidate.first_name: a for a in rows}


def _reason(db, org, label: str) -> RejectionReason:  # noqa: ANN001
    return db.scalars(select(RejectionReason).where(RejectionReason.organization_id == org.id,
                                                    RejectionReason.label == label)).one()


def _events(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


# --- defaults ------------------------------------------------------------------------------------

def test_a_new_organization_has_the_defaults_and_they_pass_every_check(db, make_org) -> None:  # noqa: ANN001
    """Created with the organization, in order, offered, and free of any check finding."""
    org = make_org()
    labels = [r.label for r in service.reasons_of(db, org.id)]
    assert labels == list(service.DEFAULT_REASONS)
    assert all(r.active for r in service.reasons_of(db, org.id))
    assert not [label for label in labels if check_text(label)]
    assert not [label for label in labels if "fit" in label.lower().split()]


def test_an_existing_organization_gets_the_defaults_on_first_use(
        client: FlaskClient, db, login) -> None:  # noqa: ANN001
    """An organization from before the reasons (none yet) gets them when the page is opened."""
    old = Organization(name="Older Freight Ltd")
    db.add(old)
    db.commit()
    assert service.reasons_of(db, old.id) == []
    login("admin", org=old)
    page = client.get("/organization/rejection-reasons")
    assert page.status_code == 200
    db.expire_all()
    assert [r.label for r in service.reasons_of(db, old.id)] == list(service.DEFAULT_REASONS)
    assert service.ensure_default_reasons(db, old) == []  # once only
    assert "Position filled internally" in page.text


# --- the admin's list ----------------------------------------------------------------------------

def test_an_admin_adds_renames_reorders_and_deactivates(client: FlaskClient, db, login) -> None:  # noqa: ANN001
    """Each change is saved and audited with the reason's id and label; nothing is deleted."""
    admin = login("admin")
    org = admin.organization
    added = client.post("/organization/rejection-reasons",
                        data={"label": "  Required licence   not held "})
    assert added.status_code == 302
    reason = _reason(db, org, "Required licence not held")
    assert service.reasons_of(db, org.id)[-1].id == reason.id  # at the end

    change = "/organization/rejection-reasons/change"
    assert client.post(change, data={"reason_id": reason.id, "change": "rename",
                                     "label": "Required licence was not held"}).status_code == 302
    for step in ("up", "up"):
        assert client.post(change, data={"reason_id": reason.id,
                                         "change": step}).status_code == 302
    assert client.post(change, data={"reason_id": reason.id,
                                     "change": "deactivate"}).status_code == 302
    db.expire_all()
    ordered = service.reasons_of(db, org.id)
    assert [r.id for r in ordered].index(reason.id) == len(ordered) - 3
    assert reason.label == "Required licence was not held" and reason.active is False
    assert reason.id not in [r.id for r in service.reasons_of(db, org.id, active_only=True)]
    page = client.get("/organization/rejection-reasons")
    assert "Offer again" in page.text and "Required licence was not held" in page.text

    actions = {"rejection_reason.added": "Required licence not held",
               "rejection_reason.renamed": "Required licence was not held",
               "rejection_reason.deactivated": "Required licence was not held"}
    for action, label in actions.items():
        [event] = _events(db, action)
        assert event.payload["reason_id"] == reason.id and event.payload["label"] == label
        assert event.actor_id == admin.id
    assert len(_events(db, "rejection_reason.moved")) == 2


@pytest.mark.parametrize("role", ["manager", "auditor"])
def test_a_manager_or_auditor_cannot_edit_the_list(client: FlaskClient, db, login,  # noqa: ANN001
                                                   role: str) -> None:
    """The settings page and every change are 403s; the list stays as it was."""
    member = login(role)
    first = service.reasons_of(db, member.organization_id)[0]
    assert client.get("/organization/rejection-reasons").status_code == 403
    assert client.post("/organization/rejection-reasons",
                       data={"label": "Anything"}).status_code == 403
    assert client.post("/organization/rejection-reasons/change", data={
        "reason_id": first.id, "change": "deactivate"}).status_code == 403
    db.expire_all()
    assert first.active and len(service.reasons_of(db, member.organization_id)) == 7


@pytest.mark.parametrize(("label", "named"), [
    ("Too old for the team", "Mentions age"),
    ("Pregnant at interview", "Mentions pregnancy"),
])
def test_a_risky_label_is_refused_naming_the_finding(client: FlaskClient, db, login,  # noqa: ANN001
                                                     label: str, named: str) -> None:
    """An error finding of the letter checks refuses the label, and the page says which."""
    admin = login("admin")
    response = client.post("/organization/rejection-reasons", data={"label": label})
    assert response.status_code == 200
    assert "This reason cannot be recorded" in response.text and named in response.text
    db.expire_all()
    assert label not in [r.label for r in service.reasons_of(db, admin.organization_id)]
    first = service.reasons_of(db, admin.organization_id)[0]
    renamed = client.post("/organization/rejection-reasons/change", data={
        "reason_id": first.id, "change": "rename", "label": label})
    assert named in client.get(renamed.location).text
    db.expire_all()
    assert first.label == service.DEFAULT_REASONS[0]


def test_a_label_is_one_line_of_at_most_120_characters(db, make_org) -> None:  # noqa: ANN001
    """Line breaks, overlong labels, duplicates and empty labels are refused by the service."""
    org = make_org()
    for label, message in [("Two\nlines", "line break"), ("x" * 121, "at most 120"),
                           ("   ", "needs a label"),
                           ("position FILLED internally", "already has"),
                           ("No reason given", "already has")]:
        with pytest.raises(Exception, match=message):
            service.add_reason(db, org, label, by=None)
    reason, warnings = service.add_reason(db, org, "Not a culture fit", by=None)
    assert reason.id and warnings and "culture fit" in warnings[0]  # a warning, not refused


# --- choosing ------------------------------------------------------------------------------------

def test_a_manager_sets_one_candidates_reason_and_it_is_audited(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """The row's form records the reason, with an audit event naming its id and label."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    apps = _apps(db, position)
    reason = _reason(db, manager.organization, "Position filled internally")
    page = client.get(f"/positions/{position.id}/rejection-reasons")
    assert page.status_code == 200 and "Daniel Okafor" in page.text
    assert "Maya Chen" not in page.text and "Ana Lima" not in page.text  # hire and pending
    response = client.post(f"/applications/{apps['Daniel'].id}/rejection-reason",
                           data={"reason": str(reason.id)})
    assert response.status_code == 302
    db.expire_all()
    assert apps["Daniel"].rejection_reason_id == reason.id
    [event] = _events(db, "application.rejection_reason")
    assert event.subject_type == "application" and event.subject_id == apps["Daniel"].id
    assert event.payload == {"reason_id": reason.id, "label": "Position filled internally",
                             "position_id": position.id}
    assert event.actor_id == manager.id
    # "No reason given" clears it again, also audited.
    client.post(f"/applications/{apps['Daniel'].id}/rejection-reason", data={"reason": "none"})
    db.expire_all()
    assert apps["Daniel"].rejection_reason_id is None
    assert _events(db, "application.rejection_reason")[-1].payload["reason_id"] is None


def test_a_hire_a_pending_candidate_and_a_deactivated_reason_are_refused(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """Only a declined candidate has a reason, and only an offered reason can be chosen."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    apps = _apps(db, position)
    reason = _reason(db, manager.organization, "Position filled internally")
    for name in ("Maya", "Ana"):
        response = client.post(f"/applications/{apps[name].id}/rejection-reason",
                               data={"reason": str(reason.id)})
        assert "only a declined candidate has a rejection reason" in \
            client.get(response.location).text
    service.set_reason_active(db, reason, False, by=None)
    db.commit()
    response = client.post(f"/applications/{apps['Daniel'].id}/rejection-reason",
                           data={"reason": str(reason.id)})
    assert "Choose a reason from the list" in client.get(response.location).text
    db.expire_all()
    assert {a.rejection_reason_id for a in _apps(db, position).values()} == {None}
    assert _events(db, "application.rejection_reason") == []


def test_a_reason_is_set_for_the_ticked_candidates_at_once(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """The bulk form records one reason for each ticked candidate, one audit event each."""
    manager = login("manager")
    position = make_position(org=manager.organization, csv=SMALL)
    apps = _apps(db, position)
    reason = _reason(db, manager.organization, "Withdrew or stopped responding")
    page = client.get(f"/positions/{position.id}/rejection-reasons")
    assert 'form="bulk" name="application"' in page.text and "Set reason" in page.text
    ticked = [apps["Priya"].id, apps["Tom"].id]
    response = client.post(f"/positions/{position.id}/rejection-reasons/set",
                           data={"application": [str(i) for i in ticked],
                                 "reason": str(reason.id)})
    assert "recorded for 2 candidates" in client.get(response.location).text
    db.expire_all()
    assert [apps[n].rejection_reason_id for n in ("Priya", "Tom", "Daniel")] == [
        reason.id, reason.id, None]
    events = _events(db, "application.rejection_reason")
    assert sorted(e.subject_id for e in events) == sorted(ticked)
    assert {e.payload["label"] for e in events} == {"Withdrew or stopped responding"}
    waiting = client.get(f"/positions/{position.id}/rejection-reasons?missing=1")
    assert "Daniel Okafor" in waiting.text and "Priya Raman" not in waiting.text
    assert "Without a reason (1)" in waiting.text

    # A hire among the ticked refuses the whole choice.
    response = client.post(f"/positions/{position.id}/rejection-reasons/set", data={
        "application": [str(apps["Daniel"].id), str(apps["Maya"].id)], "reason": "none"})
    assert "Nothing was changed" in client.get(response.location).text
    db.expire_all()
    assert apps["Maya"].rejection_reason_id is None and apps["Priya"].rejection_reason_id
    # Another position's candidate is not this position's: 404.
    other = make_position(org=manager.organization, csv=SMALL, title="Dock Lead")
    stranger = _apps(db, other)["Tom"]
    assert client.post(f"/positions/{position.id}/rejection-reasons/set", data={
        "application": [str(stranger.id)], "reason": "none"}).status_code == 404


# --- never in a letter ---------------------------------------------------------------------------

def test_the_reason_is_never_in_a_letter_its_checks_or_the_api(
        client: FlaskClient, db, make_org, make_member, make_position,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rendered letter, what its checks are given and the API's letters never hold it."""
    org = make_org()
    member = make_member("manager", org=org)
    position = make_position(org=org, csv=SMALL)
    label = "Zebra procurement calendar mismatch"
    reason, _ = service.add_reason(db, org, label, by=None)
    service.choose_reason(db, [a for a in _apps(db, position).values()
                               if a.outcome == "declined"], reason, by=member)
    db.commit()

    given: list[object] = []
    real = checks.check_batch

    def spy(letters, facts):  # noqa: ANN001, ANN202
        given.extend([*letters, facts])
        return real(letters, facts)

    monkeypatch.setattr(checks, "check_batch", spy)
    letters = refresh_letters(db, position)
    assert len(letters) == 3 and all("Dear" in letter.text for letter in letters)
    letter_findings(position, letters)
    assert given, "the checks were not run"
    contexts = [context_for(letter.application) for letter in letters]
    for thing in [*letters, *given, *contexts]:
        text = repr(thing) if not hasattr(thing, "html") else \
            f"{thing.subject}{thing.text}{thing.html}"
        assert label not in text and "Zebra" not in text

    _, secret = create_token(db, org, "ats", "read")
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    listed = client.get(f"/api/v1/positions/{position.id}/letters", headers=headers)
    assert listed.status_code == 200 and len(listed.json["data"]) == 3
    one = client.get(f"/api/v1/letters/{letters[0].id}", headers=headers)
    assert one.status_code == 200
    for response in (listed, one):
        assert label not in response.text and "rejection_reason" not in response.text


# --- reports -------------------------------------------------------------------------------------

def _counts(report: service.Report) -> dict[str, dict[str, int]]:
    return {row.label: {**row.counts, "total": row.total} for row in report.rows
            if row.total or row.reason_id is None}


def test_the_reports_count_by_reason_and_stage(client: FlaskClient, db, login,  # noqa: ANN001
                                               make_position: Callable) -> None:
    """Per position and per organization, with "no reason given" and deactivated reasons kept."""
    manager = login("manager")
    org = manager.organization
    first = make_position(org=org, csv=SMALL)
    second = make_position(org=org, csv=SMALL, title="Dock Lead")
    filled = _reason(db, org, "Position filled internally")
    salary = _reason(db, org, "Salary or terms could not be agreed")
    one, two = _apps(db, first), _apps(db, second)
    service.choose_reason(db, [one["Daniel"], one["Tom"]], filled, by=manager)
    service.choose_reason(db, [two["Priya"]], salary, by=manager)
    service.set_reason_active(db, salary, False, by=manager)  # still counted
    db.commit()

    zero = {"applied": 0, "screened": 0, "interviewed": 0}
    assert _counts(service.reason_report(db, org.id, first)) == {
        "Position filled internally": {**zero, "applied": 1, "interviewed": 1, "total": 2},
        "No reason given": {**zero, "screened": 1, "total": 1}}
    whole = service.reason_report(db, org.id)
    assert _counts(whole) == {
        "Position filled internally": {**zero, "applied": 1, "interviewed": 1, "total": 2},
        "Salary or terms could not be agreed": {**zero, "screened": 1, "total": 1},
        "No reason given": {**zero, "applied": 1, "screened": 1, "interviewed": 1,
                            "total": 3}}
    assert whole.totals.total == 6  # declined only: no hire, no pending candidate
    assert [r.active for r in whole.rows if r.label.startswith("Salary")] == [False]
    assert service.NO_REASON == whole.rows[-1].label

    page = client.get(f"/positions/{first.id}/rejection-reasons")
    assert page.status_code == 200 and "No reason given" in page.text
    report = client.get("/rejection-reasons")
    assert report.status_code == 200
    assert "Dock Lead" in report.text and "no longer offered" in report.text


def test_a_candidate_who_is_no_longer_declined_is_not_counted(
        db, make_org, make_member, make_position: Callable) -> None:  # noqa: ANN001
    """A reinstated or hired candidate leaves the report and its reason is not shown."""
    from recruiter.services.outcomes import change_outcome

    org = make_org()
    manager = make_member("manager", org=org)
    position = make_position(org=org, csv=SMALL)
    apps = _apps(db, position)
    filled = _reason(db, org, "Position filled internally")
    service.choose_reason(db, [apps["Daniel"], apps["Tom"]], filled, by=manager)
    change_outcome(db, apps["Daniel"], "pending", by=manager, confirmed=True)
    db.commit()
    row = next(r for r in service.reason_report(db, org.id, position).rows if r.label ==
               "Position filled internally")
    assert row.total == 1
    shown, total = service.declined_page(db, position, 1, 50)
    assert apps["Daniel"] not in shown and total == 2


def test_an_auditor_reads_the_reports_but_changes_nothing(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """Both report pages and their CSVs are an auditor's; choosing a reason is not."""
    auditor = login("auditor")
    position = make_position(org=auditor.organization, csv=SMALL)
    daniel = _apps(db, position)["Daniel"]
    service.choose_reason(db, [daniel], _reason(db, auditor.organization,
                                                "Position filled internally"), by=None)
    db.commit()
    page = client.get(f"/positions/{position.id}/rejection-reasons")
    assert page.status_code == 200
    assert "Position filled internally" in page.text and "Set reason" not in page.text
    assert "<select" not in page.text and "Download CSV" in page.text
    assert client.get("/rejection-reasons").status_code == 200
    assert client.post(f"/applications/{daniel.id}/rejection-reason",
                       data={"reason": "none"}).status_code == 403
    assert client.post(f"/positions/{position.id}/rejection-reasons/set", data={
        "application": [str(daniel.id)], "reason": "none"}).status_code == 403
    for url in ("/rejection-reasons.csv", f"/positions/{position.id}/rejection-reasons.csv"):
        taken = client.post(url)
        assert taken.status_code == 200 and "Position filled internally" in taken.text
    db.expire_all()
    assert daniel.rejection_reason is not None


def test_the_csv_exports_escape_formulas_and_are_audited(
        client: FlaskClient, db, login, make_position: Callable) -> None:  # noqa: ANN001
    """Both CSVs hold the counts; a label that starts like a formula gets a leading '."""
    manager = login("manager")
    org = manager.organization
    position = make_position(org=org, csv=SMALL)
    risky, _ = service.add_reason(db, org, "=HYPERLINK(\"http://x.example\",\"filled\")",
                                  by=None)
    dash, _ = service.add_reason(db, org, "-Budget withdrawn", by=None)
    apps = _apps(db, position)
    service.choose_reason(db, [apps["Daniel"], apps["Tom"]], risky, by=None)
    service.choose_reason(db, [apps["Priya"]], dash, by=None)
    db.commit()
    assert client.get(f"/positions/{position.id}/rejection-reasons.csv").status_code == 405
    for url in (f"/positions/{position.id}/rejection-reasons.csv", "/rejection-reasons.csv"):
        response = client.post(url)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert rows[0] == ["reason", "offered", "applied", "screened", "interviewed", "total"]
        by_label = {row[0]: row[1:] for row in rows[1:]}
        assert by_label["'=HYPERLINK(\"http://x.example\",\"filled\")"] == [
            "yes", "1", "0", "1", "2"]
        assert by_label["'-Budget withdrawn"] == ["yes", "0", "1", "0", "1"]
        assert by_label["No reason given"] == ["", "0", "0", "0", "0"]
        assert by_label["Total"] == ["", "1", "1", "1", "3"]
        assert not [row for row in rows if row[0].startswith(("=", "+", "-", "@"))]
    events = _events(db, "export.rejection_reasons")
    assert [e.payload["position_id"] for e in events] == [position.id, None]


# --- organizations -------------------------------------------------------------------------------

def test_another_organizations_ids_are_404s(client: FlaskClient, db, login, make_org,  # noqa: ANN001
                                            make_position: Callable) -> None:
    """Reasons, candidates and positions of organization A are 404s to B's admin."""
    org_a = make_org("Alpha Freight")
    position_a = make_position(org=org_a, csv=SMALL)
    daniel_a = _apps(db, position_a)["Daniel"]
    reason_a = _reason(db, org_a, "Position filled internally")
    admin_b = login("admin", org=make_org("Beta Analytics"))
    position_b = make_position(org=admin_b.organization, csv=SMALL, title="Dock Lead")
    tom_b = _apps(db, position_b)["Tom"]
    refused = [
        client.post("/organization/rejection-reasons/change",
                    data={"reason_id": reason_a.id, "change": "deactivate"}),
        client.post(f"/applications/{daniel_a.id}/rejection-reason", data={"reason": "none"}),
        client.post(f"/applications/{tom_b.id}/rejection-reason",
                    data={"reason": str(reason_a.id)}),
        client.post(f"/positions/{position_b.id}/rejection-reasons/set",
                    data={"application": [str(daniel_a.id)], "reason": "none"}),
        client.get(f"/positions/{position_a.id}/rejection-reasons"),
        client.post(f"/positions/{position_a.id}/rejection-reasons.csv"),
    ]
    # B's own reason list does not offer A's reason, so the choice is refused as not offered.
    assert [r.status_code for r in refused] == [404, 404, 302, 404, 404, 404]
    db.expire_all()
    assert reason_a.active and daniel_a.rejection_reason_id is None
    assert tom_b.rejection_reason_id is None
    with pytest.raises(Exception, match="No such rejection reason"):
        service.get_reason(db, admin_b.organization_id, reason_a.id)
    with pytest.raises(Exception, match="No such rejection reason"):
        service.choose_reason(db, [tom_b], reason_a, by=None)
    report = client.get("/rejection-reasons")
    assert "Operations Coordinator" not in report.text  # A's position
