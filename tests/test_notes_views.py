"""The notes page: progress, saving with and without JavaScript, conflicts and access."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD
from flask import g
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from recruiter.models import Application, Candidate

JSON = {"Accept": "application/json"}


def _declined(db, position, first_name: str = "Daniel") -> Application:  # noqa: ANN001
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name))


def _as(client: FlaskClient, method: str, url: str, **kwargs):  # noqa: ANN003, ANN202
    """One request from ``client``, whoever the previous request was signed in as."""
    g.pop("_login_user", None)  # the tests share one app context, and Flask-Login caches on g
    return client.open(url, method=method, **kwargs)


def _signed_in(app, member) -> FlaskClient:  # noqa: ANN001
    client = app.test_client()
    response = _as(client, "POST", "/login", data={"email": member.email,
                                                   "password": PASSWORD})
    assert response.status_code == 302
    return client


def _revision(html: str, application_id: int) -> int:
    card = html[html.index(f'id="a-{application_id}"'):]
    return int(re.search(r'name="base_revision" value="(\d+)"', card).group(1))


def test_page_lists_declined_candidates_by_name_with_progress(client, login, make_position):
    """Every candidate who gets a letter is listed in name order, with "N of M written"."""
    member = login("manager")
    position = make_position(org=member.organization)
    written = sum(1 for a in position.applications if a.gets_letter and a.note)
    total = sum(1 for a in position.applications if a.gets_letter)
    response = client.get(f"/positions/{position.id}/notes")
    assert response.status_code == 200
    page = response.text
    assert re.search(rf"<strong data-written>{written}</strong> of <span data-total>{total}"
                     r"</span> written", page)
    assert page.count('class="card note-card') == total
    hire = next(a for a in position.applications if a.outcome == "hired")
    assert f'id="a-{hire.id}"' not in page
    names = [a.candidate for a in position.applications if a.gets_letter]
    names.sort(key=lambda c: (c.last_name, c.first_name))
    positions_in_page = [page.index(f">{escape(c.full_name)}</h2>") for c in names]
    assert positions_in_page == sorted(positions_in_page)
    assert 'name="base_revision"' in page and "notes.js" in page


def test_page_is_paginated(app, client, login, make_position):
    """Big positions are split into pages; progress still counts every candidate."""
    app.config["NOTES_PER_PAGE"] = 10
    member = login("manager")
    position = make_position(org=member.organization)
    total = sum(1 for a in position.applications if a.gets_letter)
    first = client.get(f"/positions/{position.id}/notes").text
    last = client.get(f"/positions/{position.id}/notes?page=3").text
    assert first.count('class="card note-card') == 10
    assert last.count('class="card note-card') == total - 20
    assert f"<span data-total>{total}</span>" in last
    assert "Page 3 of 3" in last


def test_save_with_a_plain_form_redirects_to_the_card(client, db, login, make_position):
    """Without JavaScript a save posts the form and comes back to the same card."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _declined(db, position)
    response = client.post(f"/applications/{application.id}/note", data={
        "note": "  Your roster rebuild for the night shift was excellent.\r\n", "base_revision":
        application.note_revision})
    assert response.status_code == 302
    assert response.location.endswith(f"#a-{application.id}")
    assert f"saved={application.id}" in response.location
    db.refresh(application)
    assert application.note == "Your roster rebuild for the night shift was excellent."
    assert application.note_updated_by_id == member.id
    page = client.get(response.location).text
    assert "Saved the note for Daniel Okafor." in page  # nothing for the letter checks
    assert re.search(r'class="note-status is-saved"[^>]*>Saved<', page)


def test_save_as_json_reports_revision_and_progress(client, db, login, make_position):
    """Autosave gets the new revision and the progress back as JSON."""
    member = login("manager")
    position = make_position(org=member.organization)
    empty = next(a for a in position.applications if a.gets_letter and not a.note)
    written = sum(1 for a in position.applications if a.gets_letter and a.note)
    base = empty.note_revision
    response = client.post(f"/applications/{empty.id}/note", headers=JSON, data={
        "note": "Clear, warm cover letter.", "base_revision": base})
    assert response.status_code == 200
    body = response.get_json()
    assert body["revision"] == base + 1
    assert body["note"] == "Clear, warm cover letter."
    assert body["progress_written"] == written + 1
    assert body["progress_total"] == sum(1 for a in position.applications if a.gets_letter)


def test_note_conflict_shows_both_versions_and_keep_mine_wins(app, db, make_member,
                                                              make_org, make_position):
    """Two managers edit one note: the second save is refused with both versions, not lost."""
    org = make_org()
    first = make_member("manager", org=org, email="first@example.com")
    second = make_member("manager", org=org, email="second@example.com")
    first.name, second.name = "Priya First", "Sam Second"
    db.commit()
    position = make_position(org=org)
    application = _declined(db, position)
    one, two = _signed_in(app, first), _signed_in(app, second)
    url = f"/positions/{position.id}/notes"
    base_one = _revision(_as(one, "GET", url).text, application.id)
    base_two = _revision(_as(two, "GET", url).text, application.id)
    assert base_one == base_two

    saved = _as(one, "POST", f"/applications/{application.id}/note", headers=JSON,
                data={"note": "First manager's note.", "base_revision": base_one})
    assert saved.status_code == 200
    refused = _as(two, "POST", f"/applications/{application.id}/note", headers=JSON,
                  data={"note": "Second manager's note.", "base_revision": base_two})
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["yours"] == "Second manager's note."
    assert body["theirs"]["note"] == "First manager's note."
    assert body["theirs"]["revision"] == saved.get_json()["revision"]
    assert body["theirs"]["updated_by"] == "Priya First"
    assert body["theirs"]["updated_at"]
    assert body["error"]
    db.expire_all()
    assert db.get(Application, application.id).note == "First manager's note."

    kept = _as(two, "POST", f"/applications/{application.id}/note", headers=JSON,
               data={"note": "Second manager's note.",
                     "base_revision": body["theirs"]["revision"]})
    assert kept.status_code == 200
    db.expire_all()
    stored = db.get(Application, application.id)
    assert stored.note == "Second manager's note."
    assert stored.note_updated_by_id == second.id


def test_note_conflict_without_javascript_renders_both_versions(client, db, login,
                                                                make_position):
    """A plain form post that conflicts gets the page back (409) with both versions."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _declined(db, position)
    stale = application.note_revision
    assert client.post(f"/applications/{application.id}/note", data={
        "note": "Saved first.", "base_revision": stale}).status_code == 302
    response = client.post(f"/applications/{application.id}/note", data={
        "note": "Typed <b>second</b>.", "base_revision": stale})
    assert response.status_code == 409
    page = response.text
    assert "Someone else saved this note" in page
    assert "Saved first." in page
    assert "Typed &lt;b&gt;second&lt;/b&gt;." in page
    assert "Keep mine" in page and "Use theirs" in page
    assert _revision(page, application.id) == stale + 1
    db.expire_all()
    assert db.get(Application, application.id).note == "Saved first."


def test_invalid_note_is_refused_and_kept(client, db, login, make_position):
    """A note over the limit is refused with a reason, and the text stays in the form."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _declined(db, position)
    before = application.note
    long_note = "x" * 5001
    response = client.post(f"/applications/{application.id}/note", headers=JSON, data={
        "note": long_note, "base_revision": application.note_revision})
    assert response.status_code == 422
    assert "5,000" in response.get_json()["error"]
    page = client.post(f"/applications/{application.id}/note", data={
        "note": long_note, "base_revision": application.note_revision})
    assert page.status_code == 422
    assert long_note in page.text
    field = page.text.split(f'id="note-{application.id}"')[1].split("</div>")[0]
    assert 'aria-invalid="true"' in field and "5,000" in field  # the box says what is wrong
    described = field.split('aria-describedby="')[1].split('"')[0].split()
    assert f"note-{application.id}-error" in described  # with the length gauge, the guidance
    db.expire_all()
    assert db.get(Application, application.id).note == before


def test_another_organizations_application_is_not_found(client, db, login, make_org,
                                                        make_position):
    """Neither the page nor the save reveal another organization's candidates."""
    login("manager")
    other = make_position(org=make_org("Other Employer Ltd"))
    application = _declined(db, other)
    assert client.get(f"/positions/{other.id}/notes").status_code == 404
    response = client.post(f"/applications/{application.id}/note", headers=JSON, data={
        "note": "Sneaky.", "base_revision": application.note_revision})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Application, application.id).note != "Sneaky."


def test_auditor_reads_but_cannot_save(client, db, login, make_position):
    """An auditor sees the notes read-only and gets 403 on a save."""
    member = login("auditor")
    position = make_position(org=member.organization)
    application = _declined(db, position)
    page = client.get(f"/positions/{position.id}/notes")
    assert page.status_code == 200
    assert "<textarea" not in page.text and "notes.js" not in page.text
    assert application.note in page.text
    response = client.post(f"/applications/{application.id}/note", data={
        "note": "Changed.", "base_revision": application.note_revision})
    assert response.status_code == 403


@pytest.mark.parametrize("outcome", ["hired", "withdrawn"])
def test_empty_state_when_nobody_gets_a_letter(client, db, login, make_position, outcome):
    """A position without declined candidates says what to do next."""
    member = login("manager")
    csv = ("first_name,last_name,email,stage,outcome,note\n"
           f"Ana,Solo,ana@example.com,interviewed,{outcome},\n").encode()
    position = make_position(org=member.organization, csv=csv)
    page = client.get(f"/positions/{position.id}/notes").text
    assert "No one to write to yet" in page


def test_autosave_sends_the_csrf_token_from_the_meta_tag(app, client, db, login,
                                                         make_position):
    """With CSRF on, a JSON save needs the token that base.html puts in a meta tag."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = _declined(db, position)
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"/positions/{position.id}/notes").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    data = {"note": "Saved with the header.", "base_revision": application.note_revision}
    url = f"/applications/{application.id}/note"
    assert client.post(url, headers=JSON, data=data).status_code == 400
    response = client.post(url, headers={**JSON, "X-CSRFToken": token}, data=data)
    assert response.status_code == 200, response.text
    db.expire_all()
    assert db.get(Application, application.id).note == "Saved with the header."
