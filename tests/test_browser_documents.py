"""The CV ZIP import in real headless Chromium (issue 17, point 2): upload, preview, confirm.

Uses test_browser.py's live server (CSRF on) and browser, and the Vancouver demo's candidates.
Saves docs/screenshots/35-notes-cv-live-findings.png: a CV beside a note with a live finding.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401 - the fixtures
    MANAGER,
    SHOTS,
    Server,
    browser,
    flash,
    new_page,
    server,
    sign_in,
)
from test_browser_notes import _position
from test_documents import make_docx, make_zip

PREVIEW_SHOT = os.environ.get("RECRUITER_TEST_PREVIEW_SHOT")  # a look at the preview, by hand
RISKY = "Thank you for coming in. In the end we wanted someone younger"
ZOE_CV = "Zoë Lefebvre\nHotel night manager\n" + "".join(
    f"{year}: calmed a lobby of stranded travellers, rebooked {year % 40} rooms.\n"
    for year in range(1990, 2030)) + "References on request."
HADDAD_CV = ("Fatima Haddad — Operations Coordinator\n\n"
             "Experience\n"
             "Dispatch lead, Fraser Valley Freight (2021–2025): planned 40 daily routes; cut late "
             "deliveries from 9% to 3% by rebuilding the dispatch board.\n"
             "Shift supervisor, YVR cargo terminal (2018–2021): ran a team of 12 across three "
             "shifts; wrote the handover checklist still in use.\n\n"
             "Education\nDiploma in Supply Chain Management, BCIT (2018)\n\n"
             "Skills\nRoute planning · Dangerous-goods awareness (IATA) · Excel and Power BI · "
             "Arabic, French and English")


def _cv_pdf(text: str) -> bytes:
    from weasyprint import HTML

    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return HTML(string=f"<body style='font: 11pt sans-serif'>{paragraphs}</body>").write_pdf()


@pytest.mark.browser
def test_a_zip_of_cvs_is_previewed_saved_and_read_beside_the_note(
        browser, server: Server, tmp_path: Path) -> None:  # noqa: ANN001, F811
    """Preview says who gets which file and why one is left out; then the CV sits by the note."""
    from playwright.sync_api import expect

    position_id = _position(server)
    archive = tmp_path / "cvs.zip"
    archive.write_bytes(make_zip({
        "CVs/haddad-fatima-cv.pdf": _cv_pdf(HADDAD_CV),
        "CVs/Daniel Okafor - Cover letter.docx": make_docx(
            "Dear hiring team,", "I rebuilt the shift roster of a 24-hour depot."),
        "CVs/zoe.lefebvre@example.net.txt": ZOE_CV.encode(),
        "CVs/scan-0042.pdf": _cv_pdf("Unknown"),
        "__MACOSX/CVs/._haddad-fatima-cv.pdf": b"\x00\x05\x16\x07",
    }))
    page = new_page(browser)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}/notes")
    page.get_by_role("link", name="Add CVs from a ZIP").click()
    page.get_by_label("ZIP of CVs and cover letters").set_input_files(archive)
    page.get_by_role("button", name="Preview the matching").click()

    expect(page.get_by_role("heading", name="Check the matching")).to_be_visible()
    expect(page.get_by_test_id("zip-summary")).to_have_text(
        "4 files in the ZIP: 3 matched, 1 left out.")
    matched = page.get_by_test_id("zip-matched").locator("tbody tr")
    expect(matched).to_have_count(3)
    expect(matched.filter(has_text="haddad-fatima-cv.pdf")).to_contain_text(
        "Fatima Haddad CV Matched by the name in the file name.")
    expect(matched.filter(has_text="Cover letter.docx")).to_contain_text(
        "Daniel Okafor Cover letter")
    expect(matched.filter(has_text="zoe.lefebvre")).to_contain_text(
        "Zoë Lefebvre CV Matched by the email in the file name.")
    expect(page.get_by_test_id("zip-left-out")).to_contain_text(
        "CVs/scan-0042.pdf No match: No candidate of this position has the name or email")
    if PREVIEW_SHOT:
        page.screenshot(path=PREVIEW_SHOT, full_page=True)
    page.get_by_role("button", name="Save 3 documents").click()

    expect(flash(page)).to_contain_text("Saved 3 documents beside the notes.")
    card = page.locator("li.note-card", has=page.get_by_role("heading", name="Fatima Haddad"))
    cv = card.get_by_role("region", name="CV of Fatima Haddad")
    expect(cv).to_contain_text("cut late deliveries from 9% to 3%")
    expect(card.get_by_role("link", name=re.compile("Download the original"))).to_have_attribute(
        "href", re.compile(r"/applications/\d+/cv$"))
    cv.focus()
    expect(cv).to_be_focused()  # a scrollable region the keyboard can reach and scroll

    # A long text shows its start; the rest comes into the same region on request.
    zoe = page.locator("li.note-card", has=page.get_by_role("heading", name="Zoë Lefebvre"))
    region = zoe.get_by_role("region", name="CV of Zoë Lefebvre")
    expect(region).not_to_contain_text("References on request.")
    region.get_by_role("link", name=re.compile("Read the whole text")).click()
    expect(region).to_contain_text("References on request.")
    expect(region).to_be_focused()

    # Writing beside it: the live checks still speak up while typing.
    area = card.get_by_label("Note for Fatima Haddad")
    area.click()
    page.keyboard.type(RISKY, delay=10)
    findings = card.get_by_test_id("live-findings")
    expect(findings.locator("mark.finding-span.error")).to_have_text("younger")
    expect(card.locator(".note-status")).to_contain_text("Saved, with 1 error")  # autosaved
    card.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(SHOTS / "35-notes-cv-live-findings.png"))

    # On a phone the card stacks: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not errors, errors  # no CSP refusals, no script errors
    page.context.close()
