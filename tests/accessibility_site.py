"""The live site that test_accessibility.py walks: a server, a seeded demo and a tab per person.

One server and one browser for the whole module: the Vancouver demo as two positions (one
with drafts and one approved letter, one whose letters were approved and sent through the
inline queue), an admin, an auditor and a webhook endpoint. Every tab carries axe-core from
tests/axe (npm), injected into every frame before the page's own scripts.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from recruiter import create_app
from recruiter.extensions import db as _db

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VANCOUVER = ROOT / "recruiter" / "demo" / "vancouver.csv"
CHROMIUM = os.environ.get("RECRUITER_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
ADMIN = "robin.fraser@harbourair.example.com"
AUDITOR = "sam.okoye@harbourair.example.com"
TIMEOUT_MS = 30_000


@dataclass
class Site:
    """The live server, the ids that fill route parameters, and one tab per person."""

    url: str
    ids: dict[str, int]
    sent: dict[str, int]
    pages: dict[str, object] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)


def _token(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _post(client, url: str, data: dict, *, on: str) -> None:  # noqa: ANN001
    """Post a form as the browser does: with the CSRF token of the page it sits on."""
    page = client.get(on)
    response = client.post(url, data={"csrf_token": _token(page.text), **data})
    assert response.status_code in (200, 302), (url, response.status_code, response.text[:500])


def _seed(app) -> tuple[dict[str, int], dict[str, int]]:  # noqa: ANN001
    """Two positions of the demo: one with drafts (one approved), one whose letters were sent."""
    from sqlalchemy import select

    from recruiter.models import Application, Boilerplate, Candidate, Letter
    from recruiter.services.accounts import create_member, create_organization
    from recruiter.services.importing import accepted_rows, parse_candidates
    from recruiter.services.letters import refresh_letters
    from recruiter.services.positions import create_position, import_rows
    from recruiter.services.webhooks.endpoints import add_endpoint

    rows = VANCOUVER.read_text(encoding="utf-8").splitlines()
    small = "\n".join([rows[0], *[r for r in rows if r.startswith(("Maya,", "Daniel,", "Zoë,",
                                                                   "Arjun,"))]]).encode()
    with app.app_context():
        session = _db.session
        org = create_organization(
            session, "Harbour Air Logistics", sender_name="Jordan Reyes",
            sender_title="Operations Manager", sender_email="hiring@harbourair.example.com",
            address="1055 West Hastings Street\nVancouver BC  V6E 2E9",
            timezone="America/Vancouver")
        create_member(session, org, email=ADMIN, role="admin", password=PASSWORD,
                      name="Robin Fraser")
        create_member(session, org, email=AUDITOR, role="auditor", password=PASSWORD,
                      name="Sam Okoye")
        drafts = create_position(session, org, title="Operations Coordinator",
                                 location="Vancouver, BC",
                                 differentiator="hands-on aviation operations experience")
        import_rows(session, drafts, accepted_rows(parse_candidates(VANCOUVER.read_bytes())))
        sent = create_position(session, org, title="Ramp Agent", location="Richmond, BC",
                               differentiator="years of airside experience")
        import_rows(session, sent, accepted_rows(parse_candidates(small)))
        org.webhooks_allow_private = True  # the endpoint is on loopback: nothing resolves here
        endpoint = add_endpoint(session, org, "http://127.0.0.1:9/recruiter-hook",
                                events=["letter.sent"], description="Our ATS")
        letters = refresh_letters(session, drafts)
        refresh_letters(session, sent)
        session.commit()
        declined = session.scalars(
            select(Application.id).join(Candidate).where(
                Application.position_id == drafts.id, Application.outcome == "declined")
            .order_by(Candidate.last_name)).first()
        ids = {"position_id": drafts.id, "letter_id": letters[0].id,
               "application_id": declined, "endpoint_id": endpoint.id,
               "boilerplate_id": session.scalars(select(Boilerplate.id).where(
                   Boilerplate.organization_id == org.id).order_by(Boilerplate.id)).first()}
        sent_id = sent.id
        session.remove()

    client = app.test_client()
    _post(client, "/login", {"email": ADMIN, "password": PASSWORD}, on="/login")
    _post(client, f"/letters/{letters[0].id}/approve",
          {"acknowledge": "y"}, on=f"/letters/{letters[0].id}")
    page = client.get(f"/positions/{sent_id}/letters")
    count = re.search(r"about to approve (\d+)", page.text)
    _post(client, f"/positions/{sent_id}/letters/approve",
          {"expected_count": count.group(1) if count else "3", "acknowledge": "y",
           "without_note": re.findall(r'name="without_note" value="(\d+)"', page.text)},
          on=f"/positions/{sent_id}/letters")
    _post(client, f"/positions/{sent_id}/send", {"send_at": ""},
          on=f"/positions/{sent_id}/letters")
    with app.app_context():
        first = _db.session.scalars(select(Letter.id).join(Application).where(
            Application.position_id == sent_id, Letter.status == "sent")).first()
        _db.session.remove()
    assert first, "the seeded batch sent no letter"
    return ids, {"position_id": sent_id, "letter_id": first}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One live server, one browser, and a signed-out, an admin's and an auditor's tab."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed: run .ci/install")
    if not AXE.exists():
        pytest.skip(f"axe-core is missing at {AXE.relative_to(ROOT)}: run .ci/install "
                    "(npm ci --prefix tests/axe)")
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("accessibility")
    saved = os.environ.get("RECRUITER_INSTANCE_PATH")
    os.environ["RECRUITER_INSTANCE_PATH"] = str(tmp / "instance")
    url = f"sqlite:///{tmp / 'site.db'}"
    app = create_app({
        "TESTING": True, "SECRET_KEY": "accessibility-secret", "WTF_CSRF_ENABLED": True,
        "SESSION_COOKIE_SECURE": False, "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url,
        "MAIL_URL": (tmp / "outbox").as_uri(), "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
        "QUEUE_IMMEDIATE": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        _db.create_all()
    ids, sent = _seed(app)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="a11y-server", daemon=True)
    thread.start()
    live = Site(url=f"http://127.0.0.1:{httpd.server_port}", ids=ids, sent=sent)
    axe = AXE.read_text(encoding="utf-8")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            for role, email in (("signed-out", None), ("admin", ADMIN), ("auditor", AUDITOR)):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                context.add_init_script(script=axe)  # in every frame, whatever the CSP says
                page = context.new_page()
                if email:
                    sign_in(page, live.url, email)
                live.pages[role] = page
            yield live
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        with app.app_context():
            _db.engine.dispose()
        if saved is None:
            os.environ.pop("RECRUITER_INSTANCE_PATH", None)
        else:
            os.environ["RECRUITER_INSTANCE_PATH"] = saved


def sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:  # noqa: ANN001
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
