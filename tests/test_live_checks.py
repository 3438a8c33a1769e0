"""Issue 17, point 1: the letter checks while writing a note or the differentiator.

The endpoints (recruiter/views/live_checks.py) answer with the findings the letters page
would show for the text, with spans; a save says "Saved, with 2 warnings". The browser side
is in test_browser_live_checks.py.
"""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD
from sqlalchemy import select

from recruiter.models import Application, Candidate
from recruiter.services import approval
from recruiter.services.letters import refresh_letters

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")

JSON = {"Accept": "application/json"}
YOUNGER = "we wanted someone younger"
CSRF_ON = {"WTF_CSRF_ENABLED": True}
THROTTLED = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}


def _application(db, position, first_name: str) -> Application:  # noqa: ANN001
    return db.scalars(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name)).one()


def _check(client, position, application, text: str):  # noqa: ANN001, ANN202
    return client.post(f"/positions/{position.id}/checks/note",
                       json={"text": text, "application_id": application.id})


def _by_id(body: dict) -> dict[str, dict]:
    return {f["id"]: f for f in body["findings"]}


@pytest.fixture
def daniel(db, login, make_position):  # noqa: ANN001, ANN201
    """A manager's position (the Vancouver demo) and Daniel Okafor, who gets a letter."""
    member = login("manager")
    position = make_position(org=member.organization)
    return position, _application(db, position, "Daniel")


# --- The endpoint's findings -------------------------------------------------------------

def test_a_protected_characteristic_is_an_error_with_its_span(client, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    response = _check(client, position, application, YOUNGER)
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    found = _by_id(body)["protected-characteristic"]
    assert found["severity"] == "error" and found["category"] == "age"
    assert YOUNGER[found["start"]:found["end"]] == "younger" == found["words"]
    assert "Mentions age" in found["message"]
    assert body["errors"] >= 1 and body["severity"] == "error" and body["language"] == "en"
    assert "error" in body["summary"]


def test_culture_fit_is_a_warning(client, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    text = "Your interview went well but you were not a culture fit for the team."
    body = _check(client, position, application, text).get_json()
    found = _by_id(body)["challenge-phrase"]
    assert found["severity"] == "warning" and found["words"] == "culture fit"
    assert text[found["start"]:found["end"]] == "culture fit"
    assert body["errors"] == 0 and body["severity"] == "warning"


def test_a_one_word_note_is_too_short(client, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    body = _check(client, position, application, "Great.").get_json()
    assert [f["id"] for f in body["findings"]] == ["short-note"]
    assert body["findings"][0]["message"].startswith("The note is 1 word long")
    assert body["summary"] == "1 warning"


def test_a_note_copied_from_another_candidate_is_a_near_duplicate(client, db, daniel) -> None:  # noqa: ANN001
    """The batch's own detector: Zoë's saved note, one word changed, for Daniel."""
    position, application = daniel
    zoe = _application(db, position, "Zoë")
    copied = zoe.note.replace("whole panel", "entire panel")
    found = _by_id(_check(client, position, application, copied).get_json())
    assert "Zoë Lefebvre" in found["duplicate-note"]["message"]
    assert found["duplicate-note"]["severity"] == "warning"
    own = _by_id(_check(client, position, application, application.note).get_json())
    assert "duplicate-note" not in own  # his own saved note is not a copy of itself


def test_a_french_candidate_is_checked_with_the_french_words(client, db, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    text = "Nous cherchions quelqu'un de plus jeune pour ce poste."
    english = _check(client, position, application, text).get_json()
    assert "protected-characteristic" not in _by_id(english)
    application.candidate.language = "fr"
    db.commit()
    body = _check(client, position, application, text).get_json()
    assert body["language"] == "fr"
    found = _by_id(body)["protected-characteristic"]
    assert found["severity"] == "error" and found["words"] == "plus jeune"


def test_the_live_findings_are_the_letters_findings(client, db, daniel) -> None:  # noqa: ANN001
    """Saved and rendered, the letter carries every finding the note got while typing."""
    position, application = daniel
    text = "You were not a culture fit and we wanted someone younger."
    live = {f["id"] for f in _check(client, position, application, text).get_json()["findings"]}
    assert {"protected-characteristic", "challenge-phrase"} <= live
    application.note = text
    db.commit()
    letters = {letter.application_id: letter for letter in refresh_letters(db, position)}
    letter = letters[application.id]
    in_letter = {f.check for f in approval.letter_findings(position, [letter])[letter.id]}
    assert live <= in_letter


def test_checking_saves_nothing(client, db, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    before = (application.note, application.note_revision)
    assert _check(client, position, application, YOUNGER).status_code == 200
    db.refresh(application)
    assert (application.note, application.note_revision) == before


def test_the_differentiator_endpoint_runs_the_differentiator_checks(client, db, daniel) -> None:  # noqa: ANN001
    position, _ = daniel
    url = f"/positions/{position.id}/checks/differentiator"
    body = client.post(url, json={"text": "a younger energy, like Maya Chen"}).get_json()
    found = _by_id(body)
    assert found["differentiator-hire-characteristic"]["severity"] == "error"
    assert found["differentiator-names-hire"]["words"] == "Maya Chen"
    clean = client.post(url, json={"text": "hands-on aviation operations experience"})
    assert clean.get_json()["findings"] == [] and clean.get_json()["summary"] == ""
    # A translation's box is checked with its language's words, once candidates read it.
    _application(db, position, "Zoë").candidate.language = "fr"
    db.commit()
    french = client.post(url, json={"text": "quelqu'un de plus jeune", "language": "fr"})
    assert french.get_json()["language"] == "fr"
    assert "differentiator-hire-characteristic" in _by_id(french.get_json())
    unknown = client.post(url, json={"text": "x", "language": "tlh"}).get_json()
    assert unknown["language"] == "en"  # a language the page does not offer: the org's


def test_a_request_without_text_or_candidate_is_refused(client, db, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    url = f"/positions/{position.id}/checks/note"
    assert client.post(url, json={"application_id": application.id}).status_code == 400
    missing = client.post(url, json={"text": "Hello"})
    assert missing.status_code == 400 and "application_id" in missing.get_json()["error"]
    long = client.post(url, json={"text": "x" * 20_000, "application_id": application.id})
    assert long.status_code == 413


# --- Access ------------------------------------------------------------------------------

def test_another_organizations_position_or_candidate_is_404(client, db, login, make_org,
                                                            make_position) -> None:  # noqa: ANN001
    theirs = make_position(org=make_org("Beta Analytics"))  # another organization's
    their_daniel = _application(db, theirs, "Daniel")
    member = login("manager")
    ours = make_position(org=member.organization)
    assert _check(client, theirs, their_daniel, YOUNGER).status_code == 404
    assert _check(client, ours, their_daniel, YOUNGER).status_code == 404
    assert client.post(f"/positions/{theirs.id}/checks/differentiator",
                       json={"text": YOUNGER}).status_code == 404
    other_position = make_position(org=member.organization, title="Dock Lead")
    assert _check(client, ours, _application(db, other_position, "Daniel"),
                  YOUNGER).status_code == 404  # a candidate of another position


def test_an_auditor_gets_403(client, db, login, make_position) -> None:  # noqa: ANN001
    member = login("auditor")
    position = make_position(org=member.organization)
    application = _application(db, position, "Daniel")
    assert _check(client, position, application, YOUNGER).status_code == 403
    assert client.post(f"/positions/{position.id}/checks/differentiator",
                       json={"text": YOUNGER}).status_code == 403


@pytest.mark.parametrize("app", [CSRF_ON], indirect=True, ids=["csrf"])
def test_the_csrf_token_is_required_in_the_header(app, client, db, make_member,
                                                  make_position) -> None:  # noqa: ANN001
    member = make_member("manager")
    position = make_position(org=member.organization)
    application = _application(db, position, "Daniel")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text)
    client.post("/login", data={"email": member.email, "password": PASSWORD,
                                "csrf_token": token.group(1)})
    page = client.get(f"/positions/{position.id}/notes").text
    assert "live_checks.js" in page and 'data-testid="live-findings"' in page
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    url = f"/positions/{position.id}/checks/note"
    data = {"text": YOUNGER, "application_id": application.id}
    refused = client.post(url, json=data)
    assert refused.status_code == 400 and "CSRF" in refused.text
    answered = client.post(url, json=data, headers={"X-CSRFToken": meta})
    assert answered.status_code == 200 and answered.get_json()["errors"] == 1


@pytest.mark.parametrize("app", [THROTTLED], indirect=True, ids=["throttled"])
def test_checks_are_rate_limited_per_member(client, daniel) -> None:  # noqa: ANN001
    from recruiter.views.live_checks import RATE

    position, _ = daniel
    allowed = int(RATE.split()[0])
    url = f"/positions/{position.id}/checks/differentiator"
    statuses = [client.post(url, json={"text": "a"}).status_code for _ in range(allowed + 1)]
    assert statuses[:allowed] == [200] * allowed and statuses[-1] == 429


# --- The save says what the checks found -------------------------------------------------

def test_autosave_says_saved_with_warnings(client, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    url = f"/applications/{application.id}/note"
    body = client.post(url, headers=JSON, data={
        "note": "Not a culture fit.", "base_revision": application.note_revision}).get_json()
    assert body["message"] == "Saved, with 2 warnings"  # a known trigger, and too short
    assert {f["id"] for f in body["findings"]} == {"challenge-phrase", "short-note"}
    body = client.post(url, headers=JSON, data={
        "note": YOUNGER, "base_revision": body["revision"]}).get_json()
    assert body["message"] == ("Saved, with 1 error and 1 warning: this letter cannot be "
                               "approved until it changes")
    assert body["severity"] == "error"
    good = "Your rebuilt shift roster cut overtime by a fifth, and you explained it clearly."
    body = client.post(url, headers=JSON, data={
        "note": good, "base_revision": body["revision"]}).get_json()
    assert body["message"] == "Saved" and body["findings"] == []


def test_a_plain_form_save_flashes_the_findings_and_shows_them_under_the_box(
        client, daniel) -> None:  # noqa: ANN001
    position, application = daniel
    response = client.post(f"/applications/{application.id}/note", data={
        "note": "We wanted someone younger for this role, sorry about that.",
        "base_revision": application.note_revision})
    assert response.status_code == 302
    page = client.get(response.location).text
    assert ("Saved the note for Daniel Okafor, with 1 error: this letter cannot be approved "
            "until it changes. 27 of 29 written.") in page
    assert 'class="flash flash-warning"' in page
    card = page[page.index(f'id="a-{application.id}"'):]
    card = card[:card.index("</form>")]
    area = card[card.index('data-testid="live-findings"'):]
    assert "protected-characteristic" in area and "“younger”: Mentions age" in area
    assert ("The letter checks, on the saved note:</strong> 1 error: this letter cannot be "
            "approved until it changes.") in area
    assert re.search(r'class="note-status is-warning"[^>]*>Saved, with 1 error: this letter '
                     r"cannot be approved until it changes<", card)
    assert f'aria-describedby="note-{application.id}-gauge note-{application.id}-findings' \
        in card
