"""Where people set texts per language: differentiator, sender's title, boilerplates, candidates."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from recruiter.models import Application, AuditEvent, Candidate, Organization, Position
from recruiter.services.tokens import create_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

HEADER = "first_name,last_name,email,stage,outcome,language\n"
ROWS = ("Maya,Chen,maya@example.com,interviewed,hired,en\n"
        "Robin,Tremblay,robin@example.org,applied,declined,fr-CA\n"
        "Lucía,García,lucia@example.org,applied,declined,es\n")


@pytest.fixture
def position(make_org, make_position):  # noqa: ANN001, ANN201
    """An English-speaking organization's position with French and Spanish candidates."""
    org = make_org(locale="en_CA")
    return make_position(org=org, csv=(HEADER + ROWS).encode())


def _events(db, action: str) -> list[AuditEvent]:  # noqa: ANN001
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.id)))


# 1. The differentiator page

def test_the_page_asks_for_each_candidate_language_and_hints_at_the_missing(
        client, db, login, position) -> None:  # noqa: ANN001
    """A field per other language of the candidates, named, and a warning while one is empty."""
    login("manager", org=db.get(Organization, position.organization_id))
    page = client.get(f"/positions/{position.id}/differentiator")
    assert page.status_code == 200
    assert "Differentiator in French" in page.text and "Differentiator in Spanish" in page.text
    assert "Differentiator in English" not in page.text  # the organization's: the main one
    assert 'name="in_fr"' in page.text and 'name="in_es"' in page.text
    assert "No differentiator yet in French or Spanish, which some candidates read" in page.text


def test_saving_per_language_is_audited_and_an_empty_field_removes_it(
        client, db, login, position) -> None:  # noqa: ANN001
    """Each language is saved folded to one line and audited; emptying it removes it."""
    member = login("manager", org=db.get(Organization, position.organization_id))
    response = client.post(f"/positions/{position.id}/differentiator", data={
        "differentiator": position.differentiator,
        "in_fr": "une expérience concrète\r\n des opérations aériennes", "in_es": ""})
    assert response.status_code == 302
    db.expire_all()
    saved = db.get(Position, position.id)
    assert saved.differentiator_in == {"fr": "une expérience concrète des opérations aériennes"}
    [event] = _events(db, "differentiator.saved")
    assert event.payload["language"] == "fr" and event.actor_id == member.id
    page = client.get(response.location)
    assert "No differentiator yet in Spanish," in page.text
    assert "une expérience concrète des opérations aériennes" in page.text
    client.post(f"/positions/{position.id}/differentiator", data={
        "differentiator": position.differentiator, "in_fr": "", "in_es": ""})
    db.expire_all()
    assert db.get(Position, position.id).differentiator_in == {}
    assert _events(db, "differentiator.saved")[-1].payload["removed"] is True


def test_a_too_long_or_unsafe_translation_saves_nothing(client, db, login, position) -> None:  # noqa: ANN001
    """The main differentiator's rules hold per language; one refusal saves neither."""
    login("manager", org=db.get(Organization, position.organization_id))
    long = client.post(f"/positions/{position.id}/differentiator", data={
        "differentiator": "something new", "in_fr": "x" * 301})
    assert long.status_code == 200 and "Field cannot be longer than 300" in long.text
    unsafe = client.post(f"/positions/{position.id}/differentiator", data={
        "differentiator": "something new", "in_es": "experiencia \u202eoculta"})
    assert unsafe.status_code == 200
    assert "differentiator in Spanish contains the invisible direction control" in unsafe.text
    db.expire_all()
    saved = db.get(Position, position.id)
    assert (saved.differentiator, saved.differentiator_in) == (position.differentiator, {})


def test_a_position_of_one_language_shows_only_the_main_field(client, db, login,  # noqa: ANN001
                                                               make_position) -> None:
    """Without candidates in other languages, the page is as it was."""
    made = make_position()
    login("manager", org=db.get(Organization, made.organization_id))
    page = client.get(f"/positions/{made.id}/differentiator")
    assert "Differentiator in" not in page.text and "No differentiator yet in" not in page.text


# 2. The sender's title per language

def test_the_settings_page_sets_the_title_per_shipped_language(client, db, login,  # noqa: ANN001
                                                               make_org) -> None:
    """French, Spanish and German fields beside the English title; audited; empty removes."""
    org = make_org(locale="en_CA")
    admin = login("admin", org=org)
    page = client.get("/organization")
    for name in ("French", "Spanish", "German"):
        assert f"Their title in {name}" in page.text
    assert "Their title in English" not in page.text
    form = {"name": org.name, "address": org.address, "sender_name": "Jordan Reyes",
            "sender_title": "Operations Manager", "sender_email": org.sender_email,
            "timezone": org.timezone, "locale": "en_CA", "send_rate_per_minute": "120",
            "title_in_fr": "Directeur des opérations", "title_in_es": "Director de operaciones",
            "title_in_de": ""}
    assert client.post("/organization", data=form).status_code == 302
    db.expire_all()
    assert db.get(Organization, org.id).sender_title_in == {
        "fr": "Directeur des opérations", "es": "Director de operaciones"}
    [event] = _events(db, "organization.changed")
    assert event.payload == {"fields": ["sender_title_in.es", "sender_title_in.fr"]}
    assert event.actor_id == admin.id
    assert 'value="Directeur des opérations"' in client.get("/organization").text
    assert client.post("/organization", data={**form, "title_in_es": ""}).status_code == 302
    db.expire_all()
    assert db.get(Organization, org.id).sender_title_in == {"fr": "Directeur des opérations"}


def test_a_bad_title_is_shown_beside_its_field_and_nothing_is_saved(client, db, login,  # noqa: ANN001
                                                                    make_org) -> None:
    """All or nothing: a refused title leaves every setting as it was."""
    org = make_org(locale="en_CA")
    login("admin", org=org)
    response = client.post("/organization", data={
        "name": org.name, "address": org.address, "sender_name": "Someone Else",
        "sender_title": "Operations Manager", "sender_email": org.sender_email,
        "timezone": org.timezone, "locale": "en_CA", "send_rate_per_minute": "120",
        "title_in_fr": "x" * 201})
    assert response.status_code == 200
    assert "Field cannot be longer than 200 characters." in response.text
    db.expire_all()
    saved = db.get(Organization, org.id)
    assert (saved.sender_name, saved.sender_title_in) == ("Jordan Reyes", {})


def test_a_french_organization_is_asked_for_english_instead(client, db, login,  # noqa: ANN001
                                                            make_org) -> None:
    """The organization's own language has no second field."""
    login("admin", org=make_org(locale="fr_CA"))
    page = client.get("/organization")
    assert "Their title in English" in page.text and "Their title in French" not in page.text


def test_cli_sets_shows_and_removes_titles_per_language(db, runner, make_org) -> None:  # noqa: ANN001
    """--sender-title-in is repeatable, printed by show, audited; an empty text removes it."""
    org = make_org(locale="en_CA")
    result = runner.invoke(args=["org", "set", "--sender-title-in", "fr", "Directeur",
                                 "--sender-title-in", "de-AT", "Leiter"])
    assert (result.exit_code, result.output) == (
        0, "Changed: sender_title_in.de, sender_title_in.fr.\n")
    shown = runner.invoke(args=["org", "show"]).output.splitlines()
    i = shown.index("sender_title: Operations Manager")
    assert shown[i + 1:i + 3] == ["sender_title_in.de: Leiter", "sender_title_in.fr: Directeur"]
    assert _events(db, "organization.changed")[-1].payload == {
        "fields": ["sender_title_in.de", "sender_title_in.fr"]}
    removed = runner.invoke(args=["org", "set", "--sender-title-in", "de", ""])
    assert (removed.exit_code, removed.output) == (0, "Changed: sender_title_in.de.\n")
    db.expire_all()
    assert db.get(Organization, org.id).sender_title_in == {"fr": "Directeur"}


@pytest.mark.parametrize(("pair", "message"), [
    (("zz-!!", "Titre"), "'zz-!!' is not a language tag"),
    (("qq", "Titre"), "The language 'qq' is unknown"),
    (("en", "Manager"), "English is the organization's own language"),
    (("fr", "x" * 201), "The sender title in French is longer than 200 characters."),
])
def test_cli_refuses_a_bad_title_and_changes_nothing(db, runner, make_org, pair: tuple,  # noqa: ANN001
                                                     message: str) -> None:
    """One bad pair among good values: one clear line, exit 1, the row as it was."""
    org = make_org(locale="en_CA")
    result = runner.invoke(args=["org", "set", "--sender-name", "Someone Else",
                                 "--sender-title-in", "es", "Director",
                                 "--sender-title-in", *pair])
    assert result.exit_code == 1 and message in result.output, result.output
    db.expire_all()
    saved = db.get(Organization, org.id)
    assert (saved.sender_name, saved.sender_title_in) == ("Jordan Reyes", {})


def test_cli_refuses_a_line_break_in_a_title(db, runner, make_org) -> None:  # noqa: ANN001
    """The pair's text is one line, as every other option's."""
    make_org()
    result = runner.invoke(args=["org", "set", "--sender-title-in", "fr", "Directeur\nX"])
    assert result.exit_code == 2 and "line break" in result.output


# 5. The API

@pytest.fixture
def api(db, client, position):  # noqa: ANN001, ANN201
    """A write token of the position's organization."""
    _, secret = create_token(db, db.get(Organization, position.organization_id), "ATS", "write")
    db.commit()

    def call(method: str, path: str, **kwargs):  # noqa: ANN003, ANN202
        return client.open("/api/v1" + path, method=method,
                           headers={"Authorization": f"Bearer {secret}"}, **kwargs)

    return call


def test_api_reads_and_patches_the_differentiator_per_language(api, db, position) -> None:  # noqa: ANN001
    """PATCH merges languages by primary subtag, an empty text removes one; GET shows them."""
    path = f"/positions/{position.id}"
    assert api("GET", path).get_json()["differentiator_in"] == {}
    changed = api("PATCH", path, json={"differentiator_in": {"fr-CA": "une expérience",
                                                             "es": "experiencia"}})
    assert changed.status_code == 200, changed.text
    assert changed.get_json()["differentiator_in"] == {"es": "experiencia",
                                                       "fr": "une expérience"}
    again = api("PATCH", path, json={"differentiator_in": {"es": ""}})
    assert again.get_json()["differentiator_in"] == {"fr": "une expérience"}
    assert [e.payload["language"] for e in _events(db, "differentiator.saved")] == [
        "es", "fr", "es"]


@pytest.mark.parametrize("body", [
    {"differentiator_in": {"not a tag": "x"}},
    {"differentiator_in": {"qq": "x"}},
    {"differentiator_in": {"fr": "x" * 301}},
    {"differentiator_in": {"fr": "deux\nlignes"}},
    {"differentiator_in": {"en": "the organization's own"}},
    {"differentiator_in": ["fr", "x"]},
])
def test_api_refuses_bad_languages_and_texts(api, db, position, body: dict) -> None:  # noqa: ANN001
    """Keys are language tags, not the organization's own; values follow the main rules."""
    response = api("PATCH", f"/positions/{position.id}", json=body)
    assert response.status_code == 422, response.text
    db.expire_all()
    assert db.get(Position, position.id).differentiator_in == {}


def test_api_shows_the_organizations_titles_per_language(api, db, position) -> None:  # noqa: ANN001
    """GET /organization has sender_title_in."""
    org = db.get(Organization, position.organization_id)
    org.sender_title_in = {"fr": "Directeur"}
    db.commit()
    assert api("GET", "/organization").get_json()["sender_title_in"] == {"fr": "Directeur"}


def test_the_openapi_document_describes_the_languages(client) -> None:  # noqa: ANN001
    """The new fields are in the schema the fuzzer reads."""
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "differentiator_in" in schemas["PositionOut"]["properties"]
    assert "differentiator_in" in schemas["PositionChange"]["properties"]
    assert "sender_title_in" in schemas["OrganizationOut"]["properties"]


# 4. The candidate's language

def _candidate(db, position, email: str) -> Candidate:  # noqa: ANN001
    return db.scalars(select(Candidate).join(Application).where(
        Application.position_id == position.id, Candidate.email == email)).one()


def test_the_candidate_form_offers_languages_by_name_and_keeps_the_stored_one(
        client, db, login, position) -> None:  # noqa: ANN001
    """A select of languages by name with the stored tag; a bad tag is refused; saved."""
    login("manager", org=db.get(Organization, position.organization_id))
    robin = _candidate(db, position, "robin@example.org")
    application = db.scalar(select(Application).where(Application.candidate_id == robin.id))
    page = client.get(f"/applications/{application.id}/edit")
    assert 'id="language" name="language"' in page.text
    assert '<option selected value="fr-CA">French (fr-CA)</option>' in page.text
    assert '<option value="de">German</option>' in page.text
    form = {"first_name": "Robin", "last_name": "Tremblay", "email": "robin@example.org",
            "stage": "applied", "channel": "auto"}
    bad = client.post(f"/applications/{application.id}/edit",
                      data={**form, "language": "not a language"})
    assert bad.status_code == 200 and "is not a language tag" in bad.text
    unknown = client.post(f"/applications/{application.id}/edit", data={**form, "language": "qq"})
    assert unknown.status_code == 200 and "The language &#39;qq&#39; is unknown" in unknown.text
    saved = client.post(f"/applications/{application.id}/edit", data={**form, "language": "de"})
    assert saved.status_code == 302
    db.expire_all()
    assert db.get(Candidate, robin.id).language == "de"


def test_a_new_candidate_starts_in_the_organizations_language(client, db, login,  # noqa: ANN001
                                                              position) -> None:
    """The add form preselects the organization's language."""
    login("manager", org=db.get(Organization, position.organization_id))
    page = client.get(f"/positions/{position.id}/candidates/new")
    assert '<option selected value="en">English</option>' in page.text


def test_the_candidate_list_shows_each_language(client, db, login, position) -> None:  # noqa: ANN001
    """The position's page names each candidate's language under their name."""
    login("manager", org=db.get(Organization, position.organization_id))
    page = client.get(f"/positions/{position.id}").text
    assert 'robin@example.org · <span title="Language: fr-CA">French</span>' in page
    assert 'lucia@example.org · <span title="Language: es">Spanish</span>' in page


# 3. The boilerplate editor

def _interviewed(db, org_id: int):  # noqa: ANN001, ANN202
    from recruiter.models import Boilerplate
    return db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org_id,
                                               Boilerplate.name == "interviewed"))


def test_the_editor_offers_each_language_with_its_versions(client, db, login, position) -> None:  # noqa: ANN001
    """The selector names the shipped languages and how many versions each has."""
    login("admin", org=db.get(Organization, position.organization_id))
    bp = _interviewed(db, position.organization_id)
    french = bp.version_in("fr")
    page = client.get(f"/boilerplates/{bp.id}?lang=fr")
    assert page.status_code == 200
    for name in ("English", "French", "Spanish", "German"):
        assert f">{name}<span" in page.text
    assert 'aria-current="page" hreflang="fr"' in page.text
    assert "French version history" in page.text
    assert "Save as French version" in page.text and 'name="language" type="hidden" value="fr"' \
        in page.text
    assert escape(french.subject) in page.text
    assert "in French</p>" in page.text  # the preview says its language


def test_saving_in_a_language_makes_a_version_in_it(client, db, login, position) -> None:  # noqa: ANN001
    """save_version gets the chosen language; the English line is untouched."""
    member = login("admin", org=db.get(Organization, position.organization_id))
    bp = _interviewed(db, position.organization_id)
    english, french = bp.version_in("en"), bp.version_in("fr")
    body = french.body + "\n\nÀ bientôt."
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": french.subject, "body": body, "language": "fr", "save": "1"})
    assert response.status_code == 302, response.text
    assert "lang=fr" in response.location
    db.expire_all()
    bp = _interviewed(db, position.organization_id)
    assert bp.version_in("fr").body == body and bp.version_in("fr").created_by_id == member.id
    assert bp.version_in("en").id == english.id
    page = client.get(response.location).text
    assert "in French" in page and "À bientôt." in page


def test_a_language_without_a_version_starts_from_the_organizations_text(
        client, db, login, position) -> None:  # noqa: ANN001
    """Italian (asked for by URL) is not offered; a shipped one without versions is explained."""
    login("admin", org=db.get(Organization, position.organization_id))
    bp = _interviewed(db, position.organization_id)
    assert "Save as English version" in client.get(f"/boilerplates/{bp.id}?lang=it").text
    custom = client.post("/boilerplates/new", data={"title": "Warehouse roles",
                                                    "copy_from": bp.id})
    assert custom.status_code == 302
    from recruiter.models import Boilerplate
    new = db.scalar(select(Boilerplate).where(Boilerplate.title == "Warehouse roles"))
    assert new.languages == bp.languages  # each language's newest text is copied
    assert new.version_in("fr").body == bp.version_in("fr").body


def test_the_preview_renders_in_the_chosen_language(client, db, login, position) -> None:  # noqa: ANN001
    """The JSON preview takes the language from the URL and dates the letter in it."""
    login("admin", org=db.get(Organization, position.organization_id))
    bp = _interviewed(db, position.organization_id)
    source = {"subject": "Date", "body": "{{ date }}", "position": position.id}
    french = client.post(f"/boilerplates/{bp.id}/preview?lang=fr", data=source).get_json()
    english = client.post(f"/boilerplates/{bp.id}/preview?lang=en", data=source).get_json()
    assert french["errors"] == [] and french["text"] != english["text"]


def test_a_translation_is_checked_in_its_own_language(client, db, login, position) -> None:  # noqa: ANN001
    """A translation that names the hire is flagged on the page, with its language."""
    login("manager", org=db.get(Organization, position.organization_id))
    client.post(f"/positions/{position.id}/differentiator", data={
        "differentiator": position.differentiator, "in_fr": "l'expérience de Maya Chen"})
    page = client.get(f"/positions/{position.id}/differentiator").text
    assert "In French: " in page


def test_switching_the_organization_to_french_keeps_the_french_title_unused(
        client, db, login, make_org) -> None:  # noqa: ANN001
    """The French field is no error when French becomes the organization's; English appears."""
    org = make_org(locale="en_CA", sender_title_in={"fr": "Directeur"})
    login("admin", org=org)
    form = {"name": org.name, "address": org.address, "sender_name": "Jordan Reyes",
            "sender_title": "Directeur des opérations", "sender_email": org.sender_email,
            "timezone": org.timezone, "locale": "fr_CA", "send_rate_per_minute": "120",
            "title_in_fr": "Directeur", "title_in_en": "Operations Manager"}
    response = client.post("/organization", data=form)
    assert response.status_code == 302, response.text
    page = client.get("/organization").text
    assert "Their title in English" in page and "Their title in French" not in page
    assert client.post("/organization", data=form).status_code == 302  # now with English
    db.expire_all()
    assert db.get(Organization, org.id).sender_title_in == {
        "en": "Operations Manager", "fr": "Directeur"}
    assert 'value="Operations Manager"' in client.get("/organization").text
