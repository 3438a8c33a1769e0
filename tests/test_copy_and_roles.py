"""Copy and roles (issue 17, point 7).

Counts agree with nouns, a kind 403, no offers an auditor cannot take, the focus after a wrong
password, a P.S. after the signature, and honest save messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import PASSWORD
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from test_rendering import context
from test_security import (  # noqa: F401  (org_a is a fixture used here)
    AUDITOR_GETS,
    READ_ONLY_POSTS,
    SIGN_IN_OUT,
    World,
    _open,
    _requests,
    _signed_in,
    org_a,
)
from werkzeug.exceptions import MethodNotAllowed, NotFound

from recruiter.plural import plural
from recruiter.services.letters import refresh_letters
from recruiter.services.rendering import Boilerplate, render_letter

ROOT = Path(__file__).resolve().parent.parent
BODIES = sorted((ROOT / "letters").glob("*/*/body.md"))
PS = "P.S. We kept your portfolio link on file, with your permission."

ONE_DECLINED = (
    b"first_name,last_name,email,address_line1,address_line2,city,region,postal_code,country,"
    b"stage,outcome,note\n"
    b"Maya,Chen,maya.chen@example.com,1840 West 4th Avenue,,Vancouver,BC,V6J 1M1,Canada,"
    b"interviewed,hired,Eight years running ground operations.\n"
    b"Quentin,Abernathy,quentin.abernathy@example.org,455 Granville Street,,Vancouver,BC,"
    b"V6C 1T1,Canada,interviewed,declined,Your dock safety audit stood out to the panel.\n")


# --- plurals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "expected"), [(0, "0 letters"), (1, "1 letter"),
                                                 (2, "2 letters")])
def test_plural_agrees_with_the_count(app: Flask, count: int, expected: str) -> None:
    assert plural(count, "letter", "letters") == expected
    with app.test_request_context():
        assert render_template_string('{{ plural(n, "letter", "letters") }}',
                                      n=count) == expected
    assert plural(count, "is", "are", with_count=False) == ("is" if count == 1 else "are")


def test_one_letter_is_one_letter_on_the_letters_page(client: FlaskClient, db,  # noqa: ANN001
                                                      login: Callable,
                                                      make_position: Callable) -> None:
    member = login("manager")
    position = make_position(org=member.organization, csv=ONE_DECLINED)
    refresh_letters(db, position)
    db.commit()
    page = client.get(f"/positions/{position.id}/letters").text
    counts = re.search(r'data-testid="letter-counts">([^<]*)<', page).group(1)
    assert counts.startswith("1 letter ·") and "1 letters" not in page
    shown = client.get(f"/positions/{position.id}").text
    assert "2 applicants" in shown
    response = client.post(f"/positions/{position.id}/letters/approve",
                           data={"expected_count": "1", "acknowledge": "y"},
                           follow_redirects=True)
    assert "Approved 1 letter." in response.text, response.text
    assert "1 letters" not in response.text


def test_two_letters_keep_the_plural(client: FlaskClient, db, login: Callable,  # noqa: ANN001
                                     make_position: Callable) -> None:
    member = login("manager")
    position = make_position(org=member.organization)
    refresh_letters(db, position)
    db.commit()
    page = client.get(f"/positions/{position.id}/letters").text
    assert re.search(r'data-testid="letter-counts">\d+ letters ·', page)


# --- a kind 403 ------------------------------------------------------------------------------

def test_the_403_page_says_which_role_may(client: FlaskClient, login: Callable) -> None:
    login("auditor")
    response = client.get("/members")
    assert response.status_code == 403
    assert ("This page is for admins. You are signed in as an auditor of Harbour Air "
            "Logistics; ask an admin if you need it.") in response.text
    assert "server" not in response.text and "read-protected" not in response.text


def test_the_403_page_for_an_editing_page(client: FlaskClient, login: Callable,
                                          make_position: Callable) -> None:
    member = login("auditor")
    position = make_position(org=member.organization)
    response = client.get(f"/positions/{position.id}/differentiator")
    assert response.status_code == 403
    assert "This page is for managers and admins. You are signed in as an auditor" \
        in response.text


# --- nothing offered that an auditor cannot do -----------------------------------------------

class _PostForms(HTMLParser):
    """The actions of every form that posts (a button's formaction counts too)."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.actions: list[str] = []
        self.links: list[str] = []
        self._posting = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._posting = values.get("method", "get").lower() == "post"
            if self._posting:
                self.actions.append((values.get("action") or self.page_url).split("#")[0])
        elif tag == "a" and values.get("href", "").startswith("/"):
            self.links.append(values["href"].split("#")[0])
        elif tag in ("button", "input") and self._posting and values.get("formaction"):
            self.actions.append(values["formaction"].split("#")[0])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._posting = False


def test_an_auditor_is_offered_no_form_it_would_be_refused(
        app: Flask, org_a: World) -> None:  # noqa: F811  (the fixture imported above)
    """No page an auditor reads offers a form or link that would be refused.

    Forms may post only to sign-out and the read-only exports.
    """
    client = _signed_in(app, org_a.members["auditor"])
    adapter = app.url_map.bind("localhost")
    offered: dict[str, set[str]] = {}
    links: dict[str, tuple[str, str]] = {}  # one link per endpoint: (url, the page it is on)
    pages = 0
    for ids in (org_a.ids, org_a.sent_ids):
        for rule, method, url in _requests(app, ids):
            if method != "GET" or "POST" in (rule.methods or ()) or \
                    AUDITOR_GETS.get(rule.endpoint, 200) != 200:
                continue
            response = _open(client, "GET", url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            pages += 1
            parser = _PostForms(url.split("?")[0])
            parser.feed(response.text)
            for action in parser.actions:
                try:
                    endpoint, _ = adapter.match(action.split("?")[0], method="POST")
                except (MethodNotAllowed, NotFound):
                    endpoint = f"(no route) {action}"
                offered.setdefault(endpoint, set()).add(rule.endpoint)
            for link in parser.links:
                try:
                    endpoint, _ = adapter.match(link.split("?")[0], method="GET")
                except (MethodNotAllowed, NotFound):
                    continue
                links.setdefault(endpoint, (link, rule.endpoint))
    assert pages > 15
    allowed = SIGN_IN_OUT | set(READ_ONLY_POSTS)
    refused = {endpoint: sorted(on) for endpoint, on in offered.items()
               if endpoint not in allowed}
    assert not refused, f"an auditor is offered forms it gets a 403 on: {refused}"
    forbidden = {endpoint: where for endpoint, where in links.items()
                 if _open(client, "GET", where[0]).status_code == 403}
    assert not forbidden, f"an auditor is shown links it gets a 403 on: {forbidden}"


# --- focus after a wrong password ------------------------------------------------------------

def test_a_wrong_password_puts_the_focus_on_the_password(client: FlaskClient,
                                                          make_member: Callable) -> None:
    member = make_member("manager")
    first = client.get("/login").text
    assert re.search(r'<input[^>]*autofocus[^>]*name="email"|<input[^>]*name="email"[^>]*'
                     r'autofocus', first)
    response = client.post("/login", data={"email": member.email, "password": "wrong one"})
    assert response.status_code == 401
    email = re.search(r'<input[^>]*name="email"[^>]*>', response.text).group()
    password = re.search(r'<input[^>]*name="password"[^>]*>', response.text).group()
    assert "autofocus" in password and "autofocus" not in email
    assert 'role="alert"' in response.text  # the error is announced at once
    assert "That email and password do not match" in response.text
    assert PASSWORD not in response.text


# --- a P.S. after the signature --------------------------------------------------------------

@pytest.mark.parametrize("path", BODIES, ids=lambda p: f"{p.parent.parent.name}-{p.parent.name}")
@pytest.mark.parametrize("title", ["Operations Manager", ""], ids=["title", "no-title"])
def test_a_ps_after_the_signature_stays_its_own_paragraph(path: Path, title: str) -> None:
    """As typed in the editor: the shipped text, a blank line, then the P.S."""
    assert len(BODIES) == 8
    source = path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + PS
    letter = render_letter(Boilerplate("Subject", source), context(sender_title=title))
    signed = "Jordan Reyes" + (f"\n{title}" if title else "")
    assert f"{signed}\n\n{PS}\n" in letter.text
    assert f"<p>{PS}</p>" in letter.html
    if title:
        assert re.search(r"Jordan Reyes<br ?/?>\nOperations Manager</p>", letter.html)
    unsigned = render_letter(Boilerplate("Subject", path.read_text(encoding="utf-8")),
                             context(sender_title=title))
    assert unsigned.text.endswith(f"{signed}\n")  # and without one, nothing trails


# --- the differentiator's save message -------------------------------------------------------

def test_a_differentiator_saved_with_a_warning_is_amber(client: FlaskClient, login: Callable,
                                                         make_position: Callable) -> None:
    member = login("manager")
    position = make_position(org=member.organization)
    url = f"/positions/{position.id}/differentiator"
    client.get(url)  # shows, and so clears, the welcome of the sign-in
    response = client.post(url, data={"differentiator": "hands-on aviation operations "
                                      "experience, which she used every day"},
                           follow_redirects=True)
    assert "Differentiator saved, with 1 warning." in response.text
    assert 'class="flash flash-warning"' in response.text
    assert "flash-success" not in response.text
    response = client.post(url, data={"differentiator": "hands-on aviation operations "
                                      "experience"}, follow_redirects=True)
    assert '<p class="flash flash-success">Differentiator saved.</p>' in response.text


def test_a_refused_differentiator_flashes_no_success(client: FlaskClient, login: Callable,
                                                      make_position: Callable) -> None:
    member = login("manager")
    position = make_position(org=member.organization)
    client.get(f"/positions/{position.id}/differentiator")  # clears the sign-in's welcome
    response = client.post(f"/positions/{position.id}/differentiator",
                           data={"differentiator": "x" * 5000})
    assert response.status_code == 200
    assert 'class="error"' in response.text  # the refusal, under the box
    assert "Differentiator saved" not in response.text and "flash-success" not in response.text
