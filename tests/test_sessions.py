"""Sessions that end, password changes and resets, and members that cannot be enumerated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import PASSWORD
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from recruiter.models import Member

NEW_PASSWORD = "a brand new passphrase"


def _signed_in(app: Flask, member: Member, password: str = PASSWORD) -> FlaskClient:
    """A new client signed in as ``member``."""
    client = app.test_client()
    response = client.post("/login", data={"email": member.email, "password": password})
    assert response.status_code == 302, response.text
    return client


def _is_signed_in(client: FlaskClient) -> bool:
    """Whether the client's session still opens a members-only page."""
    return client.get("/positions").status_code == 200


def _copy(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another client holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(cookie.key, cookie.value)
    return thief


def test_a_cookie_copied_before_logout_stops_working(app: Flask, make_member: Callable) -> None:
    """Logout ends the session everywhere: a copy of the cookie is signed out as well."""
    client = _signed_in(app, make_member("manager"))
    thief = _copy(client, app)
    assert _is_signed_in(thief)
    assert client.post("/logout").status_code == 302
    assert not _is_signed_in(thief)
    assert not _is_signed_in(client)


def test_a_password_change_ends_other_sessions_and_keeps_this_one(
        app: Flask, make_member: Callable, db) -> None:  # noqa: ANN001
    """After a password change, the other session is signed out, this one is not."""
    member = make_member("manager")
    here, elsewhere = _signed_in(app, member), _signed_in(app, member)
    response = here.post("/account/password", data={
        "current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert response.status_code == 302
    assert _is_signed_in(here)
    assert not _is_signed_in(elsewhere)
    assert app.test_client().post("/login", data={
        "email": member.email, "password": PASSWORD}).status_code == 401
    _signed_in(app, member, NEW_PASSWORD)


@pytest.mark.parametrize("data, message", [
    ({"current": "not it at all", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
     "The current password is not right."),
    ({"current": PASSWORD, "new": "short one", "repeat": "short one"}, "12 to 1,000 characters"),
    ({"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD + "!"},
     "The two new passwords differ."),
])
def test_a_password_change_is_refused_with_a_reason(
        app: Flask, make_member: Callable, data: dict, message: str) -> None:
    """A wrong current password, a short or mistyped new one change nothing."""
    member = make_member("manager")
    client = _signed_in(app, member)
    response = client.post("/account/password", data=data)
    assert response.status_code == 200
    assert message in response.text
    _signed_in(app, member)


def test_a_role_change_ends_the_members_sessions(app: Flask, make_member: Callable) -> None:
    """A member whose role an admin changes must sign in again, with the new rights."""
    admin = make_member("admin")
    member = make_member("manager", org=admin.organization)
    theirs, admins = _signed_in(app, member), _signed_in(app, admin)
    response = admins.post(f"/members/{member.id}", data={"role": "auditor", "active": "1"})
    assert response.status_code == 302
    assert not _is_signed_in(theirs)
    assert _is_signed_in(admins)


def test_saving_an_unchanged_role_keeps_the_session(app: Flask, make_member: Callable) -> None:
    """Saving the same role and access leaves the member signed in."""
    admin = make_member("admin")
    member = make_member("manager", org=admin.organization)
    theirs, admins = _signed_in(app, member), _signed_in(app, admin)
    admins.post(f"/members/{member.id}", data={"role": "manager", "active": "1"})
    assert _is_signed_in(theirs)


def test_an_admin_signs_a_member_out_everywhere(app: Flask, make_member: Callable,
                                                db) -> None:  # noqa: ANN001
    """"Sign out everywhere" ends the member's sessions and is in the audit trail."""
    admin = make_member("admin")
    member = make_member("manager", org=admin.organization)
    theirs, admins = _signed_in(app, member), _signed_in(app, admin)
    page = admins.get("/members").text
    assert f"/members/{member.id}/sessions" in page and "Sign out everywhere" in page
    assert admins.post(f"/members/{member.id}/sessions").status_code == 302
    assert not _is_signed_in(theirs)
    _signed_in(app, member)  # the password still works


def test_a_forced_reset_sends_the_member_to_the_password_page(
        app: Flask, make_member: Callable, db) -> None:  # noqa: ANN001
    """After a forced reset the member signs in, must choose a password, then goes on."""
    admin = make_member("admin")
    member = make_member("manager", org=admin.organization)
    theirs = _signed_in(app, member)
    _signed_in(app, admin).post(f"/members/{member.id}/sessions", data={"reset": "1"})
    assert not _is_signed_in(theirs)
    client = app.test_client()
    response = client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert response.headers["Location"].endswith("/account/password")
    assert client.get("/positions").headers["Location"].endswith("/account/password")
    assert "asked you to choose a new password" in client.get("/account/password").text
    client.post("/account/password", data={
        "current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert _is_signed_in(client)
    db.expire_all()
    assert db.get(Member, member.id).must_change_password is False


def test_another_organizations_admin_cannot_sign_a_member_out(
        app: Flask, make_member: Callable, make_org: Callable) -> None:
    """Sign-out and reset of a member of another organization are a 404."""
    member = make_member("manager")
    stranger = make_member("admin", org=make_org("Elsewhere Ltd"))
    theirs = _signed_in(app, member)
    response = _signed_in(app, stranger).post(f"/members/{member.id}/sessions",
                                              data={"reset": "1"})
    assert response.status_code == 404
    assert _is_signed_in(theirs)


def test_a_session_from_before_versions_has_ended(app: Flask, make_member: Callable) -> None:
    """A cookie holding a bare member id (signed before this release) is signed out."""
    member = make_member("manager")
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(member.id)
        session["_fresh"] = True
    assert not _is_signed_in(client)


def test_adding_an_email_of_another_organization_reveals_nothing(
        app: Flask, make_member: Callable, make_org: Callable, db) -> None:  # noqa: ANN001
    """The refusal for another organization's member reads exactly as for one's own member."""
    admin = make_member("admin")
    colleague = make_member("manager", org=admin.organization)
    outsider = make_member("manager", org=make_org("Secret Competitor Inc"))
    client = _signed_in(app, admin)
    pages = []
    for email in (colleague.email, outsider.email):
        response = client.post("/members", data={"email": email.upper(), "role": "manager",
                                                  "password": "a first password", "name": ""})
        assert response.status_code == 200
        pages.append(_flash(response.text).replace(email, "EMAIL"))
    assert pages[0] == pages[1]
    assert "already exists" not in pages[1] and "Secret Competitor" not in pages[1]
    count = db.scalar(select(func.count()).select_from(Member).where(
        func.lower(Member.email) == outsider.email))
    assert count == 1


def _flash(page: str) -> str:
    """The last flashed message of a page."""
    start = page.rindex('class="flash')
    return page[start:page.index("</", start)]
