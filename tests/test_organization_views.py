"""The organization settings page: letterhead, sender, time zone and sending rate."""

from __future__ import annotations

from sqlalchemy import select

from recruiter.models import AuditEvent, Organization

GOOD = {
    "name": "Harbour Air Logistics",
    "address": "1055 West Hastings Street\r\nVancouver BC  V6E 2E9\r\n",  # as browsers send it
    "sender_name": "Jordan Reyes", "sender_title": "Operations Manager",
    "sender_email": "careers@harbourair.example.com", "timezone": "America/Vancouver",
    "locale": "en_CA", "send_rate_per_minute": "60",
}


def test_admin_changes_the_sender_and_rate_and_it_is_audited(client, db, login) -> None:  # noqa: ANN001
    admin = login("admin")
    page = client.get("/organization")
    assert page.status_code == 200
    assert 'value="hiring@harbourair.example.com"' in page.text  # the current values
    response = client.post("/organization", data=GOOD)
    assert response.status_code == 302
    assert "Saved." in client.get(response.location).text
    db.expire_all()
    org = db.get(Organization, admin.organization_id)
    assert (org.sender_email, org.send_rate_per_minute, org.timezone, org.locale) == (
        "careers@harbourair.example.com", 60, "America/Vancouver", "en_CA")
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "organization.changed")).one()
    assert event.payload == {"fields": ["locale", "send_rate_per_minute", "sender_email",
                                        "timezone"]}
    assert event.actor_id == admin.id


def test_bad_values_name_their_field_and_nothing_is_saved(client, db, login) -> None:  # noqa: ANN001
    admin = login("admin")
    bad = {**GOOD, "sender_email": "not an address", "timezone": "Mars/Olympus",
           "locale": "xx_QQ_nonsense", "send_rate_per_minute": "0"}
    response = client.post("/organization", data=bad)
    assert response.status_code == 200
    assert "Invalid email address" in response.text
    assert "Enter a time zone such as America/Vancouver" in response.text
    assert "Enter a locale such as en_CA" in response.text
    assert "Choose between 1 and 10000." in response.text
    db.expire_all()
    org = db.get(Organization, admin.organization_id)
    assert (org.sender_email, org.send_rate_per_minute) == ("hiring@harbourair.example.com", 120)


def test_another_organizations_name_is_refused(client, db, login, make_org) -> None:  # noqa: ANN001
    make_org("Pacific Coastal Freight")
    login("admin")
    response = client.post("/organization", data={**GOOD, "name": "Pacific Coastal Freight"})
    assert response.status_code == 200
    assert "Another organization has this name." in response.text


def test_only_admins_see_and_change_the_settings(client, login, make_org) -> None:  # noqa: ANN001
    org = make_org()
    for role in ("manager", "auditor"):
        login(role, org=org)
        assert client.get("/organization").status_code == 403
        assert client.post("/organization", data=GOOD).status_code == 403
        assert 'href="/organization"' not in client.get("/positions").text
        client.post("/logout")
    login("admin", org=org)
    assert 'href="/organization"' in client.get("/positions").text
