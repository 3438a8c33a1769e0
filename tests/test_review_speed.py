"""Review at speed (issue 17, point 3): approve and next, filters and search, errors first.

Through the Flask test client; the keyboard review in a real browser is in
test_browser_review.py.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from test_api_letters import Api, api  # noqa: F401 - the API's fixture
from test_sending import _quick  # noqa: F401 - the light password hashes

from recruiter.models import Application, Candidate, Letter
from recruiter.services.review_list import folded

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:flask_limiter")


def _letters(db, position) -> dict[str, Letter]:  # noqa: ANN001
    """The position's letters by the candidate's full name (the list renders them first)."""
    rows = db.execute(select(Letter, Candidate).join(Application, Application.id ==
                                                     Letter.application_id)
                      .join(Candidate).where(Application.position_id == position.id)).all()
    return {c.full_name: x for x, c in rows}


def _review(client, db, login, make_position):  # noqa: ANN001, ANN202
    """A manager's Vancouver position with its 29 letters rendered, by name."""
    member = login("manager")
    position = make_position(org=member.organization)
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    return position, _letters(db, position)


def _order(client, position) -> list[int]:  # noqa: ANN001
    """The letter ids in the list's order (by last name), as the list links them."""
    page = client.get(f"/positions/{position.id}/letters").text
    return [int(i) for i in re.findall(r'<th scope="row"><a href="/letters/(\d+)"', page)]


def _approve(client, letter: Letter, *, then: str | None = "next", query: str = "",  # noqa: ANN001
             **data: str):
    body = {"seen": letter.content_hash, **data, **({"then": then} if then else {})}
    return client.post(f"/letters/{letter.id}/approve{query}", data=body)


def _target(response) -> tuple[str, dict[str, list[str]]]:  # noqa: ANN001
    """Where a redirect goes: the path and its query arguments."""
    assert response.status_code == 302, response.text
    url = urlsplit(response.headers["Location"])
    return url.path, parse_qs(url.query)


def test_approve_and_next_goes_to_the_next_letter_to_review(client, db, login,
                                                            make_position) -> None:  # noqa: ANN001
    """In list order, skipping approved letters, round to the top, then back to the list."""
    position, by_name = _review(client, db, login, make_position)
    order = _order(client, position)
    assert len(order) == 29
    ids = {x.id: x for x in by_name.values()}
    first, second, third = (ids[i] for i in order[:3])
    assert _target(_approve(client, first)) == (f"/letters/{second.id}", {})
    assert db.get(Letter, first.id).status == "approved"
    # From the third letter, the next is the fourth; the second (skipped) comes round later.
    assert _target(_approve(client, third)) == (f"/letters/{order[3]}", {})
    for i in order[3:]:
        letter = ids[i]
        ack = {} if letter.application.note else {"acknowledge": "y"}
        path, _ = _target(_approve(client, letter, **ack))
    assert path == f"/letters/{second.id}"  # round to the one still waiting at the top
    response = _approve(client, second)
    assert _target(response) == (f"/positions/{position.id}/letters", {})
    page = client.get(response.headers["Location"]).text
    assert "No letter is left to review." in page and "29 approved · 0 draft" in page


def test_approve_and_next_keeps_the_filter_and_the_search(client, db, login,
                                                          make_position) -> None:  # noqa: ANN001
    """With ?show=warnings the next letter is the next one with warnings; none left: the list."""
    position, by_name = _review(client, db, login, make_position)
    fatima, ananya = by_name["Fatima Haddad"], by_name["Ananya Iyer"]
    refused = _approve(client, fatima, query="?show=warnings")  # the warning not acknowledged
    assert _target(refused) == (f"/letters/{fatima.id}", {"show": ["warnings"]})
    response = _approve(client, fatima, query="?show=warnings", acknowledge="y")
    assert _target(response) == (f"/letters/{ananya.id}", {"show": ["warnings"]})
    page = client.get(response.headers["Location"]).text
    assert "2 of 2 with warnings" in page
    assert f'href="/letters/{fatima.id}?show=warnings" rel="prev"' in page
    response = _approve(client, ananya, query="?show=warnings", acknowledge="y")
    assert _target(response) == (f"/positions/{position.id}/letters", {"show": ["warnings"]})
    assert "No letter is left to review in this view." in client.get(
        response.headers["Location"]).text
    # A search: the next letter to review among those whose name or email has "an".
    grace, order = by_name["Grace Kim"], _order(client, position)
    found = sorted((x for n, x in by_name.items() if x.status == "draft" and "an" in folded(
        f"{n} {x.application.candidate.email or ''}")), key=lambda x: order.index(x.id))
    response = _approve(client, found[0], query="?q=AN")
    assert _target(response) == (f"/letters/{found[1].id}", {"q": ["AN"]})
    # "Approve this letter" still goes back to the list, the filter kept.
    assert _target(_approve(client, grace, then=None, query="?show=open")) == (
        f"/positions/{position.id}/letters", {"show": ["open"]})


def _filter_counts(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(
        r'data-filter="(\w+)">[^<]*<span class="filter-count">(\d+)</span>', page)}


def _listed(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/letters/\d+[^"]*">([^<]+)</a>', page)


def test_filters_and_search_with_their_counts(client, db, login, make_position) -> None:  # noqa: ANN001
    """Each filter lists its letters, counted under the search, which ignores case and accents."""
    position, by_name = _review(client, db, login, make_position)
    url = f"/positions/{position.id}/letters"
    client.post(f"/letters/{by_name['Grace Kim'].id}/approve")
    page = client.get(url).text
    assert _filter_counts(page) == {"all": 29, "errors": 0, "warnings": 2, "open": 28,
                                    "approved": 1}
    assert 'aria-current="page" data-filter="all"' in page
    assert _listed(client.get(url + "?show=warnings").text) == ["Fatima Haddad", "Ananya Iyer"]
    assert _listed(client.get(url + "?show=approved").text) == ["Grace Kim"]
    assert "Grace Kim" not in _listed(client.get(url + "?show=open").text)
    assert len(_listed(client.get(url + "?show=open").text)) == 28
    # Case and accents: "NGUYEN" finds Nguyễn Thị Lan, "sofia ramirez" Sofía Ramírez (by the
    # name: her email has a dot between the names).
    assert _listed(client.get(url + "?q=NGUYEN").text) == ["Nguyễn Thị Lan"]
    assert _listed(client.get(url + "?q=sofia+ramirez").text) == ["Sofía Ramírez"]
    assert _listed(client.get(url + "?q=CHLOE").text) == ["Chloé Dubois"]
    by_email = by_name["Daniel Okafor"].application.candidate.email
    assert _listed(client.get(url, query_string={"q": by_email.upper()}).text) == [
        "Daniel Okafor"]
    # Search and filter compose, and the counts follow the search.
    page = client.get(url + "?q=fatima&show=warnings").text
    assert _listed(page) == ["Fatima Haddad"]
    assert _filter_counts(page) == {"all": 1, "errors": 0, "warnings": 1, "open": 1,
                                    "approved": 0}
    assert 'name="show" value="warnings"' in page and 'value="fatima"' in page


def test_filters_page_and_say_kindly_when_nothing_matches(app, client, db, login,
                                                          make_position) -> None:  # noqa: ANN001
    """The pager keeps the filter; an empty result says so and offers the whole list."""
    app.config["LETTERS_PER_PAGE"] = 1
    position, by_name = _review(client, db, login, make_position)
    url = f"/positions/{position.id}/letters"
    first = client.get(url + "?show=warnings").text
    assert _listed(first) == ["Fatima Haddad"] and "Page 1 of 2" in first
    assert re.search(r'href="[^"]*show=warnings[^"]*page=2|href="[^"]*page=2[^"]*show=warnings',
                     first)
    assert _listed(client.get(url + "?show=warnings&page=2").text) == ["Ananya Iyer"]
    response = client.get(url + "?q=Zebedee")
    assert response.status_code == 200
    assert "No letters to show here" in response.text
    assert "No letter goes to a candidate whose name or email contains <q>Zebedee</q>" in \
        response.text and "Show all 29 letters" in response.text
    assert "No letter has errors" in client.get(url + "?show=errors").text
    assert "<h2>Approve the batch</h2>" in response.text  # the batch is still the whole list


def test_errors_come_before_warnings(client, db, login, make_position) -> None:  # noqa: ANN001
    """A letter whose first words raise a warning and later ones an error lists the error first."""
    position, by_name = _review(client, db, login, make_position)
    daniel = by_name["Daniel Okafor"].application
    client.post(f"/applications/{daniel.id}/note", data={
        "note": "You seemed overqualified, and Maya Chen had the aviation experience.",
        "base_revision": daniel.note_revision})
    page = client.get(f"/positions/{position.id}/letters?show=errors").text
    assert _listed(page) == ["Daniel Okafor"]
    row = page.split(">Daniel Okafor</a>")[1].split("</tr>")[0]
    assert row.index("badge-error") < row.index("badge-warning")
    first = row.split('class="muted small">')[1]
    assert "overqualified" not in first.split("</span>")[0].lower()  # the error's words
    letter = client.get(f"/letters/{by_name['Daniel Okafor'].id}").text
    findings = re.findall(r'class="finding finding-(\w+)"', letter)
    assert findings and findings == sorted(findings, key=lambda s: s != "error")
    assert findings[0] == "error" and "warning" in findings


def test_the_letter_page_puts_the_approval_above_the_previews(client, db, login,
                                                              make_position) -> None:  # noqa: ANN001
    """Approve and next, its shortcut announced, before the email and PDF previews."""
    _, by_name = _review(client, db, login, make_position)
    page = client.get(f"/letters/{by_name['Fatima Haddad'].id}").text
    assert page.index('data-testid="approval"') < page.index('title="Email preview"')
    assert 'value="next" data-shortcut="approve-next" aria-keyshortcuts="a"' in page
    assert "Press <kbd>A</kbd> to approve and go to the next letter" in page
    assert "Approve this letter" in page and 'src="/static/review.js"' in page
    assert "<script>" not in page  # no inline script: the CSP allows only 'self'


def test_the_prompt_counts_the_letters_it_approves_now(client, db, login,
                                                       make_position) -> None:  # noqa: ANN001
    """12 approved already: the prompt says 17, a refused try keeps what was typed and ticked."""
    position, by_name = _review(client, db, login, make_position)
    ordered = sorted(by_name.values(), key=lambda x: x.id)
    plain = [x for x in ordered if x.application.note][:12]
    for letter in plain:
        _approve(client, letter, then=None)
    url = f"/positions/{position.id}/letters"
    page = client.get(url).text
    assert ("You are about to approve <strong>17</strong> letters (12 are approved already)."
            in page)
    fatima, ananya = by_name["Fatima Haddad"], by_name["Ananya Iyer"]
    refused = client.post(url + "/approve?show=open", data={
        "expected_count": "29", "acknowledge": "y", "without_note": str(fatima.id)})
    assert refused.status_code == 422
    assert "You confirmed 29 letters but there are 17 to approve (12 approved already)" in \
        refused.text
    assert re.search(r'name="expected_count"[^>]*value="29"', refused.text)
    assert f'value="{fatima.id}" checked' in refused.text
    assert f'value="{ananya.id}" checked' not in refused.text
    assert _listed(refused.text) == _listed(client.get(url + "?show=open").text)  # kept
    empty = client.post(url + "/approve", data={"expected_count": "", "without_note": "x"})
    assert empty.status_code == 422 and "Type the number of letters to approve now" in \
        empty.text
    response = client.post(url + "/approve?show=open", data={
        "expected_count": "17", "acknowledge": "y",
        "without_note": [str(fatima.id), str(ananya.id)]})
    assert _target(response) == (url, {"show": ["open"]})
    assert "Approved all 17 letters." in client.get(response.headers["Location"]).text
    assert {db.get(Letter, x.id).status for x in ordered} == {"approved"}


def test_the_api_counts_the_letters_it_approves_now_too(api: Api, db) -> None:  # noqa: ANN001, F811
    """`expected_count` is the drafts: one approved on its own leaves two to confirm."""
    plain = next(x for x in api.letters() if not x["warnings"] and not x["errors"])
    assert api.call("POST", f"/letters/{plain['id']}/approve", json={}).status_code == 200
    checks = sorted({f["check"] for x in api.letters() for f in x["findings"]
                     if f["severity"] == "warning"})
    path = f"/positions/{api.position.id}/letters/approve"
    wrong = api.call("POST", path, json={"expected_count": 3, "acknowledged": checks})
    assert wrong.status_code == 422
    assert "there are 2 to approve (1 approved already)" in wrong.json["detail"]
    ok = api.call("POST", path, json={"expected_count": 2, "acknowledged": checks})
    assert ok.status_code == 200 and ok.json == {"approved": 2, "cancelled": 0}
    spec = api.client.get("/api/v1/openapi.json").json
    described = spec["components"]["schemas"]["ApproveAllIn"]["properties"]["expected_count"]
    assert "approves now" in described["description"]


def test_the_count_is_the_drafts_on_every_path(db, make_member,
                                               make_position) -> None:  # noqa: ANN001
    """The open letters' number is refused on every path, the command line's included."""
    from recruiter.errors import RecruiterError
    from recruiter.services import approval
    from recruiter.services import letters as letters_service

    member = make_member("manager")
    position = make_position(org=member.organization)
    letters = letters_service.refresh_letters(db, position)
    plain = next(x for x in letters if x.application.note)
    approval.approve_letter(db, plain, [], member, acknowledge=True)
    db.commit()
    for without_note in ([], None):
        with pytest.raises(RecruiterError, match=r"there are 28 to approve \(1 approved"):
            approval.approve_all(db, position, member, expected_count=29,
                                 acknowledge_warnings=True, without_note=without_note)
        db.rollback()
    assert approval.approve_all(db, position, member, expected_count=28,
                                acknowledge_warnings=True) == 28
