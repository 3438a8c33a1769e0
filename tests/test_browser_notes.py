"""The notes page's live length gauge in real headless Chromium (issue 16, point 2).

Uses test_browser.py's live server and browser; the gauge's server-rendered figures are
tested without a browser in test_personal_half.py.
"""

from __future__ import annotations

import re

import pytest
from test_browser import (  # noqa: F401 - the fixtures
    DIFFERENTIATOR,
    MANAGER,
    TITLE,
    VANCOUVER,
    Server,
    browser,
    new_page,
    server,
    sign_in,
)

from recruiter.extensions import db as _db

MEDIAN = 15  # words: the median of the demo's written notes


def _position(live: Server) -> int:
    from recruiter.models import Organization
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    with live.app.app_context():
        org = _db.session.query(Organization).one()
        position = create_position(_db.session, org, title=TITLE, location="Vancouver, BC",
                                   differentiator=DIFFERENTIATOR)
        import_rows(_db.session, position, accepted_rows(parse_candidates(VANCOUVER.read_bytes())))
        _db.session.commit()
        position_id = position.id
        _db.session.remove()
    return position_id


@pytest.mark.browser
def test_the_length_gauge_follows_the_typing(browser, server: Server) -> None:  # noqa: ANN001, F811
    """Words and hint change as one types; the CSP allows the script; focus stays visible."""
    from playwright.sync_api import expect

    position_id = _position(server)
    page = new_page(browser)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/notes")
    card = page.locator("li.note-card", has=page.get_by_role("heading", name="Fatima Haddad"))
    gauge = card.get_by_test_id("note-gauge")
    text = gauge.locator(".note-gauge-text")
    expect(text).to_have_attribute("aria-live", "polite")
    expect(text).to_contain_text(f"0 words · batch median {MEDIAN}")
    expect(text).to_contain_text("No note yet")

    area = card.get_by_label("Note for Fatima Haddad")
    area.click()
    page.keyboard.type("Your scheduling was careful.")
    expect(gauge.locator("meter")).to_have_attribute("value", "4")
    expect(text).to_have_text(re.compile(rf"4 words · batch median {MEDIAN} · Shorter than "
                                         r"most: this letter will feel colder\."))
    page.keyboard.type(" Your rota for a 24-hour depot, and how you explained its trade-offs, "
                       "showed real care.")
    expect(text).to_have_text(f"21 words · batch median {MEDIAN}")
    expect(area).to_be_focused()
    outline = area.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + "
                            "getComputedStyle(el).outlineWidth")
    assert outline.split()[0] != "none" and outline.split()[1] != "0px", outline
    assert not errors, errors  # no CSP refusals, no script errors
    page.context.close()
