"""Ten letters reviewed from the keyboard alone in real headless Chromium (issue 17, point 3).

Uses test_browser.py's live server (real CSRF) and browser. A opens nothing new: it presses
the page's own "Approve and next" button, so the same request works without the script
(test_review_speed.py posts it directly).
"""

from __future__ import annotations

import re

import pytest
from test_browser import (  # noqa: F401 - the fixtures
    MANAGER,
    Server,
    browser,
    flash,
    new_page,
    server,
    sign_in,
)
from test_browser_notes import _position

REVIEWED = 10


def _names(live: Server, position_id: int) -> list[tuple[str, bool]]:
    """The letters in the list's order: the candidate's name, and whether the note is empty."""
    from recruiter.extensions import db as _db
    from recruiter.models import Position
    from recruiter.services import letters as letters_service

    with live.app.app_context():
        position = _db.session.get(Position, position_id)
        letters = letters_service.refresh_letters(_db.session, position)
        _db.session.commit()
        found = [(x.application.candidate.full_name, not x.application.note) for x in letters]
        _db.session.remove()
    return found


def _focus(page, selector: str, presses: int = 80) -> None:  # noqa: ANN001
    """Press Tab until the element at ``selector`` has the keyboard focus."""
    for _ in range(presses):
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.browser
def test_ten_letters_reviewed_from_the_keyboard(browser, server: Server) -> None:  # noqa: ANN001, F811
    """A approves and moves on, a warning's box is pointed out first; J and K move; no errors."""
    from playwright.sync_api import expect

    position_id = _position(server)
    letters = _names(server, position_id)
    page = new_page(browser)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/letters")
    _focus(page, '[data-testid="letters"] tbody tr:first-child a')
    page.keyboard.press("Enter")

    for i, (name, empty_note) in enumerate(letters[:REVIEWED]):
        heading = page.get_by_role("heading", name=f"Letter to {name}", exact=True)
        expect(heading).to_be_visible()
        keys = page.get_by_test_id("review-keys")
        expect(keys).to_be_visible()  # review.js has run: it shows the keys it handles
        expect(keys).to_contain_text("Press A to approve and go to the next letter")
        url = page.url
        if empty_note:  # a warning: A points at the acknowledgement instead of posting
            box = page.get_by_label("I have read the warnings and this letter can go as it is")
            page.keyboard.press("a")
            expect(box).to_be_focused()
            assert page.url == url
            page.keyboard.press("Space")
            expect(box).to_be_checked()
        page.keyboard.press("a")
        following = letters[i + 1][0]
        expect(page.get_by_role("heading", name=f"Letter to {following}",
                                exact=True)).to_be_visible()
        expect(flash(page)).to_have_text(f"Approved the letter to {name}.")

    # K goes back to the last letter approved, J forward again.
    expect(page.get_by_test_id("review-keys")).to_be_visible()
    page.keyboard.press("k")
    expect(page.get_by_role("heading", name=f"Letter to {letters[REVIEWED - 1][0]}",
                            exact=True)).to_be_visible()
    expect(page.get_by_test_id("letter-life")).to_have_text("approved")
    expect(page.get_by_test_id("review-keys")).to_have_text(
        "Press J for the next letter and K for the previous one.")
    expect(page.get_by_test_id("review-keys")).to_be_visible()
    page.keyboard.press("j")
    expect(page.get_by_role("heading", name=f"Letter to {letters[REVIEWED][0]}",
                            exact=True)).to_be_visible()
    # The approval comes before the previews, within the first screen.
    approve = page.get_by_role("button", name="Approve and next")
    expect(approve).to_be_in_viewport()
    box = approve.bounding_box()
    preview = page.locator('iframe[title="Email preview"]').bounding_box()
    assert box and preview and box["y"] < preview["y"]

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Letters").click()
    expect(page.get_by_test_id("letter-counts")).to_contain_text(
        f"29 letters · {REVIEWED} approved · {29 - REVIEWED} draft")
    filters = page.get_by_role("navigation", name="Show letters")
    expect(filters.get_by_role("link", name=re.compile(r"^Approved"))).to_contain_text(
        str(REVIEWED))
    statuses = page.get_by_test_id("letters").locator("tbody tr .status")
    expect(statuses).to_have_text(["approved"] * REVIEWED + ["draft"] * (29 - REVIEWED))
    expect(page.get_by_test_id("approve-count")).to_contain_text(
        f"You are about to approve {29 - REVIEWED} letters ({REVIEWED} are approved already).")
    assert not errors, errors  # no CSP refusals, no script errors
    page.context.close()


@pytest.mark.browser
def test_the_shortcuts_leave_typing_alone(browser, server: Server) -> None:  # noqa: ANN001, F811
    """Typing "a" in the paragraph box types it; without the script the hint stays hidden."""
    from playwright.sync_api import expect

    position_id = _position(server)
    first = _names(server, position_id)[0][0]
    page = new_page(browser)
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/letters")
    page.get_by_test_id("letters").get_by_role("link", name=first, exact=True).click()
    area = page.get_by_label("Personal paragraph for this letter only")
    area.click()
    page.keyboard.type("a j k")
    expect(area).to_have_value("a j k")
    expect(page.get_by_role("heading", name=f"Letter to {first}", exact=True)).to_be_visible()
    page.context.close()

    plain = new_page(browser, java_script_enabled=False)
    sign_in(plain, server.url, MANAGER[0])
    plain.goto(f"{server.url}/positions/{position_id}/letters")
    plain.get_by_test_id("letters").get_by_role("link", name=first, exact=True).click()
    expect(plain.get_by_test_id("review-keys")).to_be_hidden()
    plain.get_by_role("button", name="Approve and next").click()
    expect(flash(plain)).to_have_text(f"Approved the letter to {first}.")
    expect(plain.get_by_role("heading", name=re.compile("^Letter to "))).not_to_have_text(
        f"Letter to {first}")
    plain.context.close()
