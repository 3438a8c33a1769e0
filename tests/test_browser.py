"""The whole Vancouver flow in real headless Chromium, against a live server with real CSRF.

Each step asserts what the person sees and saves a full-page screenshot to docs/screenshots/,
which CI keeps as artifacts (the README shows two of them). Needs Debian's chromium at
RECRUITER_TEST_CHROMIUM (default /usr/bin/chromium) and poppler-utils; .ci/install adds both.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from recruiter import create_app
from recruiter.extensions import db as _db

ROOT = Path(__file__).resolve().parent.parent
VANCOUVER = ROOT / "recruiter" / "demo" / "vancouver.csv"
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("RECRUITER_TEST_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"
MANAGER = ("jordan.reyes@harbourair.example.com", "Jordan Reyes")
ADMIN = ("robin.fraser@harbourair.example.com", "Robin Fraser")
TITLE = "Operations Coordinator"
DIFFERENTIATOR = "hands-on aviation experience"
# Written from the keyboard for a candidate whose note the CSV left empty.
NOTE_FOR = "Ananya Iyer"
NOTE = ("Your volunteer work planning delivery routes for a neighbourhood meal program "
        "showed real care for detail and for the people you served.")
# Added to the "Thank you for applying" boilerplate in the editor.
ADDED = ("If you would like to hear more about this decision, just write back and the "
         "hiring manager will answer you personally.")
TIMEOUT_MS = 30_000


@dataclass
class Server:
    """A live recruiter on 127.0.0.1 and what it was seeded with."""

    url: str
    app: Flask


def squash(text: str) -> str:
    """Text with every run of whitespace as one space, for comparing wrapped output."""
    return " ".join(text.split())


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The app on a fresh SQLite file, with CSRF on, served by a threaded live server."""
    from recruiter.services.accounts import create_member, create_organization

    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "browser-test-secret",
        "WTF_CSRF_ENABLED": True,  # the real thing, as a person's browser meets it
        "SESSION_COOKIE_SECURE": False,  # plain http on loopback
        "DATABASE_URL": url,
        "SQLALCHEMY_DATABASE_URI": url,
        "MAIL_URL": (tmp_path / "outbox").as_uri(),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "QUEUE_IMMEDIATE": True,
        "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        _db.create_all()
        org = create_organization(
            _db.session, "Harbour Air Logistics", sender_name="Jordan Reyes",
            sender_title="Operations Manager", sender_email="hiring@harbourair.example.com",
            address="1055 West Hastings Street\nVancouver BC  V6E 2E9")
        create_member(_db.session, org, email=MANAGER[0], role="manager", password=PASSWORD,
                      name=MANAGER[1])
        create_member(_db.session, org, email=ADMIN[0], role="admin", password=PASSWORD,
                      name=ADMIN[1])
        _db.session.commit()
        _db.session.remove()

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield Server(url=f"http://127.0.0.1:{httpd.server_port}", app=app)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        with app.app_context():
            _db.engine.dispose()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    """Debian's headless chromium, driven by Playwright; skipped (CI: failed) when missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed: run .ci/install")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser, **options):  # noqa: ANN001, ANN003, ANN201
    """A page in a fresh context (its own cookies) at the laptop size of the screenshots."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def shot(page, name: str, *, settle_ms: int = 0) -> None:  # noqa: ANN001
    """Save a full-page screenshot as a CI artifact.

    From the top of the page, so that sticky bars sit where a person first sees them rather
    than over a card in the middle; scrolling does not move the keyboard focus. With
    ``settle_ms`` the window is first made as tall as the page and given that long to redraw,
    for frames (Chromium's PDF viewer) that repaint slowly after a resize.
    """
    page.evaluate("window.scrollTo(0, 0)")
    if settle_ms:
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if settle_ms:
        page.set_viewport_size(VIEWPORT)


def flash(page):  # noqa: ANN001, ANN201
    """The flash messages of the page."""
    return page.locator(".flashes")


def sign_in(page, base: str, email: str, *, screenshot: str | None = None) -> None:  # noqa: ANN001
    """Sign in through the form, as a person does."""
    from playwright.sync_api import expect

    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="Sign in to recruiter")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/positions$"))
    expect(flash(page)).to_contain_text("Welcome, ")


def pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    """The text of a PDF, as pdftotext reads it, with whitespace squashed."""
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                         capture_output=True, timeout=60)
    return squash(out.stdout.decode("utf-8"))


def wait_for_pdf_viewer(page, seconds: float = 10) -> None:  # noqa: ANN001
    """Give Chromium's PDF viewer time to paint, for the screenshot only (best effort).

    The viewer is an extension frame that embeds the PDF in a frame of its own; once that
    inner frame exists the page is drawn soon after.
    """
    for frame in page.frames[1:]:
        frame.wait_for_load_state("load")
    for _ in range(int(seconds * 4)):
        if sum(".pdf" in frame.url for frame in page.frames) >= 2:
            break
        page.wait_for_timeout(250)
    page.wait_for_timeout(750)


def focused_note(page) -> int:  # noqa: ANN001
    """The index of the note textarea that has the keyboard focus, or -1."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('li.note-card textarea'))
                            .indexOf(document.activeElement)""")


@pytest.mark.browser
@pytest.mark.slow
def test_vancouver_flow(browser, server: Server, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    base = server.url
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # 1. Sign in.
    sign_in(page, base, MANAGER[0], screenshot="01-sign-in")
    expect(flash(page)).to_contain_text(f"Welcome, {MANAGER[1]}.")
    expect(page.get_by_role("heading", name="No positions yet")).to_be_visible()
    shot(page, "02-positions-empty")

    # 2. Open a position and import the CSV through the upload form, with a preview first.
    page.get_by_role("link", name="Open your first position").click()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Location").fill("Vancouver, BC")
    expect(page.get_by_label("Boilerplate")).to_have_value("auto")
    shot(page, "03-open-position")
    page.get_by_role("button", name="Open position").click()
    expect(flash(page)).to_contain_text(f"Opened {TITLE}. Now import its candidates.")
    expect(page.get_by_role("heading", name="Import candidates")).to_be_visible()
    page.get_by_label("Candidate CSV").set_input_files(VANCOUVER)
    shot(page, "04-import-upload")
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_role("heading", name="Check the import")).to_be_visible()
    expect(page.get_by_test_id("import-summary")).to_have_text("30 rows read: 30 ready.")
    rows = page.get_by_test_id("import-rows").locator("tbody tr")
    expect(rows).to_have_count(30)
    expect(rows.filter(has_text="Maya Chen")).to_contain_text("hired")
    shot(page, "05-import-preview")
    page.get_by_role("button", name="Import 30 candidates").click()
    expect(flash(page)).to_have_text("Imported 30 candidates.")
    expect(page.get_by_role("heading", name=TITLE, exact=True)).to_be_visible()
    candidates = page.locator("table tbody tr")
    expect(candidates).to_have_count(30)
    shot(page, "06-position-imported")

    # 3. The hire and the differentiator. The demo CSV already marks Maya Chen as hired, so
    #    the import did it; "Mark hired" by hand is covered by the JavaScript-off test below.
    steps = page.get_by_role("list", name="Workflow")
    expect(steps).to_contain_text("Hired: Maya Chen")
    expect(candidates.filter(has_text="Maya Chen")).to_contain_text("hired")
    expect(candidates.filter(has_text="Maya Chen").get_by_role(
        "button", name="Mark hired")).to_have_count(0)
    steps.get_by_role("link", name="Differentiator").click()
    expect(page.get_by_role("heading", name="What set the hire apart")).to_be_visible()
    page.get_by_label("What set the person you hired apart").fill(DIFFERENTIATOR)
    page.get_by_role("button", name="Save differentiator").click()
    expect(flash(page)).to_have_text("Differentiator saved.")
    expect(page.get_by_label("What set the person you hired apart")).to_have_value(
        DIFFERENTIATOR)
    expect(page.locator(".guidance")).to_contain_text(DIFFERENTIATOR)  # how letters read it
    expect(page.locator(".findings .finding-error")).to_have_count(0)
    shot(page, "07-differentiator")

    # 4. A note written with the keyboard only: move between notes, type, save, reload.
    page.get_by_role("link", name="Next: write the notes →").click()
    expect(page.get_by_role("heading", name="Notes", exact=True)).to_be_visible()
    progress = page.get_by_test_id("notes-progress")
    expect(progress).to_have_text(re.compile(r"27\s+of\s+29\s+written"))
    expect(page.locator(".notes-keys")).to_be_visible()  # notes.js is running
    names = page.locator("li.note-card .note-name").all_inner_texts()
    assert len(names) == 29 and "Maya Chen" not in names
    target = names.index(NOTE_FOR)
    if focused_note(page) < 0:  # not put in a note on arrival: Tab into the first one
        for _ in range(60):
            page.keyboard.press("Tab")
            if focused_note(page) >= 0:
                break
    here = focused_note(page)
    assert here >= 0, "Tab never reached a note"
    step = 1 if target > here else -1
    while here != target:
        page.keyboard.press("Alt+ArrowDown" if step > 0 else "Alt+ArrowUp")
        here += step
        expect(page.get_by_label(f"Note for {names[here]}", exact=True)).to_be_focused()
    area = page.get_by_label(f"Note for {NOTE_FOR}", exact=True)
    expect(area).to_have_value("")
    page.keyboard.type(NOTE)
    page.keyboard.press("Control+Enter")  # save and go to the next
    card = page.locator("li.note-card").nth(target)
    expect(card.locator(".note-status")).to_have_text("Saved")
    expect(page.get_by_label(f"Note for {names[target + 1]}", exact=True)).to_be_focused()
    expect(progress).to_have_text(re.compile(r"28\s+of\s+29\s+written"))
    card.scroll_into_view_if_needed()
    shot(page, "08-notes-keyboard")
    page.reload()
    expect(area).to_have_value(NOTE)
    expect(progress).to_have_text(re.compile(r"28\s+of\s+29\s+written"))
    expect(page.locator("li.note-card").nth(target).locator(".note-meta")).to_contain_text(
        f"Last saved by {MANAGER[1]}")
    shot(page, "09-notes-reloaded")

    # 5. The boilerplate, edited by the organization's admin (managers may only read it):
    #    the live preview follows the text before anything is saved.
    admin = new_page(browser)
    admin.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(admin, base, ADMIN[0])
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Boilerplates").click()
    admin.get_by_role("link", name="Thank you for applying").click()
    expect(admin.get_by_role("heading", name="Thank you for applying")).to_be_visible()
    expect(admin.get_by_label("Position", exact=True)).to_have_value(re.compile(r"\d+"))
    admin.get_by_label("Candidate", exact=True).select_option(label=NOTE_FOR)
    preview = admin.get_by_test_id("preview-html")
    expect(admin.locator("#preview-for")).to_have_text(f"For {NOTE_FOR}, {TITLE}")
    # Choosing a candidate keeps the language the preview is written in.
    expect(admin.locator("p:has(> #preview-for)")).to_contain_text("· in English")
    expect(preview).to_contain_text(NOTE)
    expect(preview).to_contain_text(f"to a candidate with {DIFFERENTIATOR}, which was the "
                                    "deciding factor")
    expect(preview).not_to_contain_text(ADDED)
    body = admin.get_by_label("Body", exact=True)
    original = body.input_value()
    anchor = "If another opening at"
    assert anchor in original
    body.fill(original.replace(anchor, f"{ADDED}\n\n{anchor}"))
    expect(preview).to_contain_text(ADDED)  # the live preview, nothing saved yet
    expect(admin.locator("#editor-status")).to_have_text("Preview up to date")
    expect(admin.locator("#template-errors")).to_be_hidden()
    shot(admin, "10-boilerplate-live-preview")
    # Version numbers run across languages: the shipped English, French, Spanish and German
    # versions are 1 to 4, so this English edit is version 5.
    admin.get_by_role("button", name="Save as English version 5").click()
    expect(flash(admin)).to_contain_text("Saved version 5 in English.")
    expect(admin.get_by_label("Body", exact=True)).to_have_value(re.compile(re.escape(ADDED)))
    admin.context.close()

    # 6. One letter: the email and the PDF both carry this candidate's note.
    page.get_by_role("link", name="Next: review the letters →").click()
    expect(page.get_by_role("heading", name="Letters", exact=True)).to_be_visible()
    expect(page.get_by_test_id("letters").locator("tbody tr")).to_have_count(29)
    page.get_by_test_id("letters").get_by_role("link", name=NOTE_FOR, exact=True).click()
    expect(page.get_by_role("heading", name=f"Letter to {NOTE_FOR}")).to_be_visible()
    expect(page.locator(".page-head")).to_contain_text("Thank you for applying, version 5")
    expect(page.get_by_test_id("letter-text")).to_contain_text(NOTE)
    email = page.frame_locator('iframe[title="Email preview"]').locator("body")
    expect(email).to_contain_text(NOTE)
    expect(email).to_contain_text(ADDED)
    expect(email).not_to_contain_text("Maya")
    pdf_href = page.get_by_role("link", name="Open the PDF").get_attribute("href")
    response = page.request.get(base + pdf_href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = response.body()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path, "letter.pdf")
    assert squash(NOTE) in text and squash(ADDED) in text, text
    assert "Maya" not in text
    wait_for_pdf_viewer(page)
    shot(page, "11-letter-email-and-pdf", settle_ms=1500)

    # 7. Approve all 29 after confirming the count (and acknowledging warnings, if any).
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Letters").click()
    counts = page.get_by_test_id("letter-counts")
    expect(counts).to_contain_text("29 letters · 0 approved · 29 draft")
    expect(counts).not_to_contain_text("with errors")
    batch = page.locator("form", has=page.get_by_role("heading", name="Approve the batch"))
    expect(batch).to_contain_text("You are about to approve 29 letters.")
    batch.get_by_label("Number of letters to approve").fill("29")
    acknowledge = batch.get_by_label("I have read every warning and these letters can go as "
                                     "they are")
    if acknowledge.count():
        acknowledge.check()
    for box in batch.get_by_test_id("without-note").get_by_role("checkbox").all():
        box.check()  # Fatima Haddad's letter has no note: confirmed on its own
    shot(page, "12-approve-batch")
    batch.get_by_role("button", name="Approve all letters").click()
    expect(flash(page)).to_have_text("Approved all 29 letters.")
    expect(counts).to_contain_text("29 letters · 29 approved · 0 draft")
    statuses = page.get_by_test_id("letters").locator("tbody tr .status")
    expect(statuses).to_have_text(["approved"] * 29)
    shot(page, "13-letters-approved")

    # 8. The ZIP holds 29 letters: a PDF each, and an .eml for everyone with an address.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download all (ZIP)").click()
    download = info.value
    failure = download.failure()  # waits for the end of the stream
    assert failure is None, f"the ZIP download failed ({failure}): see the server log above"
    assert download.suggested_filename.endswith(".zip")
    archive_path = tmp_path / download.suggested_filename
    download.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        names_in_zip = archive.namelist()
        pdfs = [n for n in names_in_zip if n.endswith(".pdf")]
        assert len(pdfs) == 29, names_in_zip
        assert all(archive.read(n).startswith(b"%PDF") for n in pdfs)
        assert len([n for n in names_in_zip if n.endswith(".eml")]) == 28  # one goes by post
        index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8"))))
        assert len(index) == 29
        assert {row["status"] for row in index} == {"approved"}
        assert sorted(row["pdf"] for row in index) == sorted(pdfs)
        mine = next(row for row in index if row["candidate"] == NOTE_FOR)
        zipped = pdf_text(archive.read(mine["pdf"]), tmp_path, "zipped.pdf")
        assert squash(NOTE) in zipped
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Positions").click()
    row = page.locator("table tbody tr", has_text=TITLE)
    expect(row.locator("td")).to_have_text(["filled", "30", "28 of 29", "29", "0"])
    shot(page, "14-positions-summary")

    assert not errors, errors  # no script errors or failed loads along the way
    page.context.close()


@pytest.mark.browser
def test_notes_without_javascript(browser, server: Server) -> None:  # noqa: ANN001
    """With JavaScript off, marking the hire and saving a note are plain form posts."""
    from playwright.sync_api import expect

    from recruiter.models import Organization
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.positions import create_position, import_rows

    # The same 30 people, from an export taken before the decision (no outcome column): a row
    # without a status is imported as declined (issue 12), so the hire is marked by hand.
    source = list(csv.DictReader(io.StringIO(VANCOUVER.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, [k for k in source[0] if k != "outcome"],
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(source)
    with server.app.app_context():
        org = _db.session.query(Organization).one()
        position = create_position(_db.session, org, title=TITLE, location="Vancouver, BC",
                                   differentiator=DIFFERENTIATOR)
        import_rows(_db.session, position,
                    accepted_rows(parse_candidates(out.getvalue().encode("utf-8"))))
        _db.session.commit()
        position_id = position.id
        _db.session.remove()

    page = new_page(browser, java_script_enabled=False)
    sign_in(page, server.url, MANAGER[0])
    page.goto(f"{server.url}/positions/{position_id}")
    maya = page.locator("table tbody tr", has_text="Maya Chen")
    expect(maya).to_contain_text("declined")
    maya.get_by_role("button", name="Mark hired").click()
    expect(flash(page)).to_have_text("Maya Chen is marked as the hire. Write the "
                                     "differentiator next.")
    page.goto(f"{server.url}/positions/{position_id}/notes")
    progress = page.get_by_test_id("notes-progress")
    expect(progress).to_have_text(re.compile(r"27\s+of\s+29\s+written"))
    expect(page.locator(".notes-keys")).to_be_hidden()  # keyboard hints need the script
    card = page.locator("li.note-card", has=page.get_by_role("heading", name="Fatima Haddad"))
    note = "Your application showed a careful, well-organised approach to scheduling."
    card.get_by_label("Note for Fatima Haddad").fill(note)
    card.get_by_role("button", name="Save note").click()
    expect(flash(page)).to_have_text("Saved the note for Fatima Haddad. 28 of 29 written.")
    expect(page).to_have_url(re.compile(r"/notes\?.*saved=\d+.*#a-\d+$"))
    expect(card.locator(".note-status")).to_have_text("Saved")
    expect(progress).to_have_text(re.compile(r"28\s+of\s+29\s+written"))
    shot(page, "15-notes-without-javascript")
    page.goto(f"{server.url}/positions/{position_id}/notes")
    expect(page.get_by_label("Note for Fatima Haddad")).to_have_value(note)
    page.context.close()


ATS_EXPORT = (
    "Candidate Name,Email,Current Stage,Status,Notes,Note to candidate\n"
    "Maya Chen,maya@example.com,Offer,Hired,strong hire,\n"
    "Gus van der Berg,gus@example.com,Onsite Interview,Rejected,INTERNAL weak references,"
    "Your turnaround case study was the clearest we saw.\n"
    "María José de la Cruz,maria@example.com,Application Review,Not selected,"
    "INTERNAL salary too high,Your volunteer dispatch work stood out.\n"
    "Dr. Amina Yusuf,amina@example.com,Phone Screen,Parked for Q3,INTERNAL,"
    "Your safety audit experience impressed us.\n"
    "Sean O'Brien Jr.,sean@example.com,Assessment,Candidate withdrew,INTERNAL,\n")


@pytest.mark.browser
def test_ats_import_mapping_and_the_position_after_sending(browser, server: Server,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    """An ATS export mapped in the preview; after sending, the page says where each one stands.

    An unknown status is chosen by hand; no internal note appears on the position page.
    """
    from playwright.sync_api import expect
    from sqlalchemy import select

    from recruiter.models import Delivery, Member, Position
    from recruiter.queue import queue
    from recruiter.services import approval, sending
    from recruiter.services import letters as letters_service

    base = server.url
    page = new_page(browser)
    sign_in(page, base, MANAGER[0])
    page.goto(f"{base}/positions/new")
    page.get_by_label("Title").fill("Dispatch Lead")
    page.get_by_role("button", name="Open position").click()
    export = tmp_path / "ats-export.csv"
    export.write_text(ATS_EXPORT, encoding="utf-8")
    page.get_by_label("Candidate CSV").set_input_files(export)
    page.get_by_role("button", name="Preview import").click()
    columns = page.get_by_test_id("import-columns")
    expect(columns.get_by_label("Notes")).to_have_value("internal_note")
    expect(columns.get_by_label("Note to candidate")).to_have_value("note")
    expect(columns.get_by_label("Current Stage")).to_have_value("stage")
    expect(page.locator(".problems")).to_contain_text("Parked for Q3")
    page.get_by_test_id("import-values").get_by_label(re.compile("Parked for Q3")).select_option(
        "pending")
    page.get_by_role("button", name="Update preview").click()
    expect(page.get_by_test_id("import-summary")).to_have_text("5 rows read: 5 ready.")
    shot(page, "16-import-mapping-preview")
    expect(page.get_by_label("Greeting for Gus van der Berg")).to_have_value("Gus")
    expect(page.get_by_label("Greeting for María José de la Cruz")).to_have_value("María José")
    expect(page.get_by_label("Greeting for Amina Yusuf")).to_have_value("Amina")
    page.get_by_role("button", name=re.compile(r"Import 5 candidates")).click()
    expect(flash(page)).to_contain_text("Imported 5 candidates.")

    with server.app.app_context():  # approve and send as the manager would, then look
        position = _db.session.scalars(select(Position).where(
            Position.title == "Dispatch Lead")).one()
        member = _db.session.scalars(select(Member).where(Member.email == MANAGER[0])).one()
        letters = letters_service.refresh_letters(_db.session, position)
        approval.approve_all(_db.session, position, member,
                                    expected_count=len(letters), acknowledge_warnings=True)
        sending.freeze_batch(_db.session, position, member, hold_until_accepted=False)
        _db.session.commit()
        queue().enqueue(_db.session.scalars(select(Delivery.id).where(
            Delivery.state == "queued")))
        position_id = position.id
        _db.session.remove()
    page.goto(f"{base}/positions/{position_id}")
    rows = page.locator("table tbody tr")
    expect(rows.filter(has_text="Gus van der Berg")).to_contain_text("sent")
    expect(rows.filter(has_text="María José de la Cruz")).to_contain_text("sent")
    expect(rows.filter(has_text="Maya Chen")).to_contain_text("hired")
    expect(rows.filter(has_text="Amina Yusuf")).to_contain_text("pending")
    expect(rows.filter(has_text="Sean O'Brien")).to_contain_text("withdrawn")
    expect(rows.filter(has_text="Gus van der Berg").get_by_role(
        "button", name="Withdrawn")).to_have_count(0)
    shot(page, "17-position-after-sending")
    body = page.locator("body").inner_text()
    assert "INTERNAL" not in body
    page.context.close()
