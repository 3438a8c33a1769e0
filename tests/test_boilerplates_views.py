"""Boilerplates: the list, the editor, versions, template errors and the live preview."""

from __future__ import annotations

import re

from conftest import PASSWORD
from markupsafe import escape
from sqlalchemy import func, select

from recruiter.models import (
    Application,
    Boilerplate,
    BoilerplateVersion,
    Candidate,
    Letter,
    Organization,
)
from recruiter.services.accounts import create_member
from recruiter.services.boilerplates import get_boilerplate

JSON = {"Accept": "application/json"}


def _shipped(db, org_id: int, name: str = "interviewed") -> Boilerplate:  # noqa: ANN001
    return db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org_id,
                                               Boilerplate.name == name))


def _versions(db, bp: Boilerplate) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(BoilerplateVersion).where(
        BoilerplateVersion.boilerplate_id == bp.id))


def _declined(db, position, first_name: str = "Daniel") -> Application:  # noqa: ANN001
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name))


def test_shipped_boilerplates_are_listed_for_a_new_organization(client, db):
    """An organization that never had the shipped letters gets them on the list page."""
    org = Organization(name="Brand New Co")
    db.add(org)
    db.flush()
    member = create_member(db, org, email="new@example.com", role="admin", password=PASSWORD)
    db.commit()
    assert client.post("/login", data={"email": member.email,
                                       "password": PASSWORD}).status_code == 302
    page = client.get("/boilerplates")
    assert page.status_code == 200
    assert "Thank you for interviewing" in page.text
    assert "Thank you for applying" in page.text
    assert page.text.count("badge-shipped") == 2
    assert len(db.scalars(select(Boilerplate).where(
        Boilerplate.organization_id == org.id)).all()) == 2


def test_editor_shows_fields_preview_and_history(client, db, login, make_position):
    """The editor has the merge fields, a preview for the first declined candidate, versions."""
    member = login("admin")
    position = make_position(org=member.organization)
    bp = _shipped(db, member.organization_id)
    page = client.get(f"/boilerplates/{bp.id}")
    assert page.status_code == 200
    text = page.text
    assert 'data-field="candidate.first_name"' in text
    assert 'textarea class="mono"' in text or 'class="mono"' in text
    first = db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Application.outcome == "declined")
        .order_by(Candidate.last_name, Candidate.first_name))
    assert re.search(rf'<option selected value="{first.id}">{escape(first.candidate.full_name)}<',
                     text)
    assert escape(first.note) in text  # the preview renders their note
    assert f"For {escape(first.candidate.full_name)}, Operations Coordinator" in text
    assert "English version history" in text and "shipped with recruiter" in text
    assert "editor.js" in text


def test_save_creates_a_version_and_letters_record_it(client, db, login, make_position):
    """Saving makes the next version, an unchanged save makes none, letters use the new one."""
    member = login("admin")
    bp = _shipped(db, member.organization_id)
    shipped = _versions(db, bp)  # one per shipped language; numbers run across languages
    position = make_position(org=member.organization)
    position.boilerplate = bp
    db.commit()
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    numbers = {letter.boilerplate_version.number for letter in db.scalars(select(Letter))}
    assert numbers == {bp.current.number}

    subject = bp.current.subject
    body = bp.current.body.replace("Warm regards,", "With warm regards,")
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": subject, "body": body.replace("\n", "\r\n"), "save": "1",
        "position": position.id})
    assert response.status_code == 302, response.text
    db.expire_all()
    bp = get_boilerplate(db, member.organization_id, bp.id)
    assert bp.current.number == shipped + 1 and bp.current.body == body
    assert bp.current.language == "en" and bp.current.created_by_id == member.id
    assert f"Saved version {shipped + 1} in English" in client.get(response.location).text

    again = client.post(f"/boilerplates/{bp.id}", data={
        "subject": subject, "body": body, "save": "1"})
    assert again.status_code == 302
    assert _versions(db, bp) == shipped + 1

    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    db.expire_all()
    letters = db.scalars(select(Letter)).all()
    assert letters and {letter.boilerplate_version.number for letter in letters} == {
        shipped + 1}
    assert all("With warm regards," in letter.text for letter in letters)

    old = client.get(f"/boilerplates/{bp.id}?version=1")
    assert old.status_code == 200
    assert "You are reading English version 1" in old.text
    assert 'data-testid="source-body"' in old.text and "<textarea" not in old.text


def test_syntax_error_is_shown_inline_with_its_line_and_nothing_is_saved(client, db, login,
                                                                        make_position):
    """An unclosed {{ note shows "line N" beside the editor; the text is kept, no version."""
    member = login("admin")
    make_position(org=member.organization)
    bp = _shipped(db, member.organization_id)
    body = "Dear {{ candidate.first_name }},\n\nThanks.\n\n{{ note "
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": "Your application", "body": body, "save": "1"})
    assert response.status_code == 422
    assert 'id="template-errors"' in response.text
    errors = response.text[response.text.index('id="template-errors"'):]
    assert "line 5" in errors[:2000]
    assert 'data-line="5"' in errors
    assert "Thanks.\n\n{{ note </textarea>" in response.text  # the person's text, as they wrote it
    assert _versions(db, bp) == len(bp.languages)  # the shipped ones only


def test_unknown_field_is_refused(client, db, login, make_position):
    """A field no letter provides is named with its line, and nothing is saved."""
    member = login("admin")
    make_position(org=member.organization)
    bp = _shipped(db, member.organization_id)
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": "Hello", "body": "Dear {{ candidate.first_name }},\n{{ salary }}", "save": "1"})
    assert response.status_code == 422
    assert "unknown merge field \u201csalary\u201d" in response.text
    assert "Body, line 2" in response.text
    assert _versions(db, bp) == len(bp.languages)  # the shipped ones only


def test_preview_json_uses_the_chosen_candidate_and_the_new_text(client, db, login,
                                                                  make_position):
    """The live preview renders the unsaved text for the chosen candidate, with their note."""
    member = login("admin")
    position = make_position(org=member.organization)
    bp = _shipped(db, member.organization_id)
    chosen = _declined(db, position, "Zoë")
    response = client.post(f"/boilerplates/{bp.id}/preview", headers=JSON, data={
        "subject": "News for {{ candidate.first_name }}",
        "body": "Dear {{ candidate.first_name }},\n\nA brand new sentence.\n\n{{ note }}",
        "position": position.id, "application": chosen.id})
    assert response.status_code == 200
    data = response.get_json()
    assert data["errors"] == []
    assert data["subject"] == "News for Zoë"
    assert "A brand new sentence." in data["text"]
    assert chosen.note in data["text"]
    assert "stranded travellers" in data["html"]
    assert data["application_id"] == chosen.id
    assert _versions(db, bp) == len(bp.languages)  # the shipped ones only

    broken = client.post(f"/boilerplates/{bp.id}/preview", headers=JSON, data={
        "subject": "Hi", "body": "Line one\n{% if note %}\nno end", "position": position.id,
        "with_candidates": "1"})
    data = broken.get_json()
    assert data["errors"] and data["errors"][0]["line"]
    assert "line" in data["errors"][0]["message"]
    assert len(data["candidates"]) == sum(1 for a in position.applications if a.gets_letter)


def test_no_javascript_preview_button_rerenders_with_the_preview(client, db, login,
                                                                 make_position):
    """Without JavaScript, "Preview" posts the form and shows the rendered letter."""
    member = login("admin")
    position = make_position(org=member.organization)
    bp = _shipped(db, member.organization_id)
    chosen = _declined(db, position)
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": "Hello", "body": "Preview me, {{ candidate.first_name }}.",
        "preview": "1", "position": position.id, "application": chosen.id})
    assert response.status_code == 200
    assert "Preview me, Daniel." in response.text
    assert _versions(db, bp) == len(bp.languages)  # the shipped ones only


def test_create_copies_an_existing_boilerplate(client, db, login):
    """A new boilerplate starts as a copy, at version 1, and is not marked shipped."""
    member = login("admin")
    source = _shipped(db, member.organization_id)
    response = client.post("/boilerplates/new", data={"title": "Warehouse roles",
                                                      "copy_from": source.id})
    assert response.status_code == 302
    new = db.scalar(select(Boilerplate).where(Boilerplate.title == "Warehouse roles"))
    assert new is not None and not new.shipped
    assert new.current.number == 1 and new.current.body == source.current.body
    assert response.location.endswith(f"/boilerplates/{new.id}")


def test_only_admins_edit_and_other_organizations_are_hidden(client, db, login, make_org):
    """Managers read and preview nothing they could save; another org's boilerplate is 404."""
    member = login("manager")
    bp = _shipped(db, member.organization_id)
    page = client.get(f"/boilerplates/{bp.id}")
    assert page.status_code == 200 and "<textarea" not in page.text
    assert client.post(f"/boilerplates/{bp.id}", data={
        "subject": "x", "body": "y", "save": "1"}).status_code == 403
    assert client.post(f"/boilerplates/{bp.id}/preview", data={
        "subject": "x", "body": "y"}).status_code == 403
    other = _shipped(db, make_org("Other Employer Ltd").id)
    assert client.get(f"/boilerplates/{other.id}").status_code == 404
