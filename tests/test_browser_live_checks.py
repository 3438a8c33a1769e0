"""The letter checks while writing, in real headless Chromium (issue 17, point 1).

Uses test_browser.py's live server (CSRF on) and browser. The endpoint's findings are tested
without a browser in test_live_checks.py.
"""

from __future__ import annotations

import re

import pytest
from test_browser import (  # noqa: F401 - the fixtures
    MANAGER,
    SHOTS,
    Server,
    browser,
    new_page,
    server,
    sign_in,
)
from test_browser_notes import _position

from recruiter.extensions import db as _db

RISKY = "Thank you for coming in. In the end we wanted someone younger"
BLOCKS = "Saved, with 1 error: this letter cannot be approved until it changes"


def _note_of(live: Server, name: str) -> str:
    from recruiter.models import Application, Candidate

    with live.app.app_context():
        first, last = name.split()
        note = _db.session.query(Application.note).join(Candidate).filter(
            Candidate.first_name == first, Candidate.last_name == last).scalar()
        _db.session.remove()
    return note


def _watch(page) -> list[str]:  # noqa: ANN001
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.mark.browser
def test_a_risky_note_shows_its_finding_while_typing(browser, server: Server) -> None:  # noqa: ANN001, F811
    """The finding appears under the box before any save; then the save says what it found."""
    from playwright.sync_api import expect

    position_id = _position(server)
    page = new_page(browser)
    errors = _watch(page)
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/notes")
    saves: list[str] = []
    page.route(re.compile(r"/applications/\d+/note$"),  # hold every save back for now
               lambda route: (saves.append(route.request.url), route.abort()))
    card = page.locator("li.note-card", has=page.get_by_role("heading", name="Fatima Haddad"))
    area = card.get_by_label("Note for Fatima Haddad")
    findings = card.get_by_test_id("live-findings")
    expect(findings).to_have_attribute("aria-live", "polite")
    expect(findings).to_be_hidden()  # empty until there is something to say

    area.click()
    page.keyboard.type(RISKY, delay=15)
    expect(findings).to_contain_text("1 error")
    expect(findings.locator("li.finding-error")).to_contain_text("“younger”: Mentions age")
    expect(findings.locator("mark.finding-span.error")).to_have_text("younger")
    expect(area).to_be_focused()  # the check never takes the focus
    assert _note_of(server, "Fatima Haddad") == ""  # nothing was saved to show it

    # Fixed as one types: the finding goes, and the area says so.
    page.keyboard.press("Control+A")
    page.keyboard.type("Your rota for a 24-hour depot, and how you explained its trade-offs, "
                       "showed real care.")
    expect(findings).to_have_text("The letter checks find nothing here now.")

    # Saving works as before, and says what the checks found.
    page.unroute(re.compile(r"/applications/\d+/note$"))
    page.keyboard.press("Control+A")
    page.keyboard.type(RISKY)
    status = card.locator(".note-status")
    expect(status).to_have_text(BLOCKS)
    expect(status).to_have_class(re.compile(r"\bis-flagged\b"))
    assert _note_of(server, "Fatima Haddad") == RISKY
    expect(findings.locator("mark.finding-span.error")).to_have_text("younger")
    area.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(SHOTS / "34-notes-live-findings.png"))
    held = [e for e in errors if "net::ERR_FAILED" in e]  # the saves held back above
    assert len(held) <= len(saves)
    assert not [e for e in errors if e not in held], errors  # no CSP refusals, script errors
    page.context.close()


@pytest.mark.browser
def test_the_differentiator_page_checks_as_one_types(browser, server: Server) -> None:  # noqa: ANN001, F811
    from playwright.sync_api import expect

    position_id = _position(server)
    page = new_page(browser)
    errors = _watch(page)
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/differentiator")
    box = page.get_by_label("What set the person you hired apart")
    findings = page.get_by_test_id("live-findings")
    box.fill("")
    box.press_sequentially("a recent graduate like Maya Chen", delay=15)
    expect(findings.locator("mark.finding-span.error").first).to_have_text("recent graduate")
    expect(findings).to_contain_text("2 errors")
    expect(box).to_be_focused()
    assert not errors, errors
    page.context.close()
