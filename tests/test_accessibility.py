"""Every page at a laptop's and a phone's width: axe-core finds nothing, nothing scrolls sideways.

The pages are found in the app's URL map, so a page added later is checked without anyone
remembering to list it: each GET route is visited signed in as an admin and as an auditor
(who meets the kind 403 page where they may not go), with its parameters filled from a seeded
Vancouver demo (a position with drafts, one approved letter, and a position whose letters
were sent). Pages reached only by a form (the import preview, the outcome confirmation, a
failed sign-in, the error pages) are visited too. Downloads and JSON are listed in EXCLUDED.

axe-core comes from the npm registry (tests/axe/package-lock.json; .ci/install runs
``npm ci``), is injected into every frame, and runs the WCAG 2.1 A/AA and best-practice rules.
Needs Debian's chromium at RECRUITER_TEST_CHROMIUM, like test_browser.py.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest
from accessibility_site import (  # noqa: F401 - site is the fixture
    ADMIN,
    ROOT,
    VANCOUVER,
    Site,
    sign_in,
    site,
)
from werkzeug.routing import Rule

from recruiter import create_app

AXE_WIDTHS = (1280, 320)  # axe at a laptop's width and the narrowest phone
WIDTHS = (1280, 390, 320)  # no sideways scroll at any of these
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

# GET routes that are not pages a person reads in the browser, with the reason.
EXCLUDED = {
    "static": "stylesheets, scripts and the icon",
    "main.health": "a load balancer's plain-text probe",
    "main.index": "redirects to the positions (or sign-in) page, both checked",
    "letters.pdf": "a PDF download",
    "letters.download_post": "a PDF download",
    "audit.pdf": "a PDF download",
    "audit.source": "the frozen message as a download",
    "sending.failures": "a CSV download",
    "sending.progress": "JSON for the sending page's progress bar",
    "documents.original": "a candidate's CV or cover letter as uploaded, a download",
    "documents.text": "a CV's or cover letter's extracted text, as plain text",
}
# The JSON API: every api.* endpoint is excluded except its HTML reference page.
API_PAGES = {"api.reference"}
# An email as its iframe shows it: a letter, not a page, so it has no landmarks or h1 to find.
FRAMES = {"letters.email", "audit.email"}
PAGE_RULES = ("landmark-one-main", "page-has-heading-one", "region")
# Routes whose parameters are filled from the position whose letters were sent.
SENT_ROUTES = {"sending.show", "audit.position", "audit.letter", "audit.email"}


def _routes() -> list[Rule]:
    """The app's GET routes, found in a throwaway instance folder."""
    saved = os.environ.get("RECRUITER_INSTANCE_PATH")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["RECRUITER_INSTANCE_PATH"] = folder
        try:
            app = create_app({"TESTING": True, "SECRET_KEY": "routes",
                              "DATABASE_URL": "sqlite://", "QUEUE_URL": "memory://"})
        finally:
            if saved is None:
                os.environ.pop("RECRUITER_INSTANCE_PATH", None)
            else:
                os.environ["RECRUITER_INSTANCE_PATH"] = saved
        return sorted((r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())),
                      key=lambda r: r.rule)


def _checked(rule: Rule) -> bool:
    if rule.endpoint in EXCLUDED:
        return False
    return not rule.endpoint.startswith("api.") or rule.endpoint in API_PAGES


ROUTES = list({r.endpoint: r for r in reversed(_routes()) if _checked(r)}.values())[::-1]
# Pages reached by a form or a state, not by a GET route of their own.
STATES = ("signed-out:login", "signed-out:login-failed", "signed-out:404",
          "admin:import-preview", "admin:outcome-confirm", "admin:form-errors")
PAGES = [f"{role}:{r.endpoint}" for role in ("admin", "auditor") for r in ROUTES] + list(STATES)


def _path(live: Site, rule: Rule) -> str:
    ids = {**live.ids, **(live.sent if rule.endpoint in SENT_ROUTES else {})}
    ids.update(rule.defaults or {})
    missing = [name for name in rule.arguments if name not in ids]
    assert not missing, (f"{rule.rule} ({rule.endpoint}) has parameters this test cannot fill "
                         f"({', '.join(missing)}): seed them in _seed, or list the route in "
                         "EXCLUDED with the reason")
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(ids[m.group(1)]), rule.rule)


def _open(live: Site, name: str) -> object:
    """The tab showing page ``name``, loaded once for all widths."""
    role, what = name.split(":", 1)
    page = live.pages[role]
    if live.current.get(role) == name:
        return page
    page.set_viewport_size({"width": 1280, "height": 900})
    if what == "login":
        page.goto(live.url + "/login")
    elif what == "login-failed":
        sign_in(page, live.url, ADMIN, "not the password")
    elif what == "404":
        page.goto(live.url + "/positions/999999")
    elif what == "import-preview":
        page.goto(f"{live.url}/positions/{live.ids['position_id']}/import")
        page.get_by_label("Candidate CSV").set_input_files(str(VANCOUVER))
        page.get_by_role("button", name="Preview import").click()
        page.wait_for_load_state()
    elif what == "outcome-confirm":
        page.goto(f"{live.url}/positions/{live.ids['position_id']}")
        page.get_by_role("row").filter(has_text="hired").get_by_role(
            "button", name=re.compile("declin", re.I)).first.click()
        page.wait_for_load_state()
    elif what == "form-errors":
        page.goto(live.url + "/positions/new")
        page.get_by_role("button", name="Open position").click()
        page.wait_for_load_state()
    else:
        rule = next(r for r in ROUTES if r.endpoint == what)
        response = page.goto(live.url + _path(live, rule))
        assert response is not None
        allowed = (200, 403) if role == "auditor" else (200,)
        assert response.status in allowed, f"{name} answered {response.status}"
        assert "text/html" in response.headers.get("content-type", ""), (
            f"{name} is not an HTML page: list it in EXCLUDED")
    live.current[role] = name
    return page


def _violations(page, off: tuple[str, ...] = ()) -> list[dict]:  # noqa: ANN001
    """axe-core's violations on the page (and in its frames), with ``off`` rules left out."""
    rules = {rule: {"enabled": False} for rule in off}
    return page.evaluate("""async ([tags, rules]) => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, rules});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary,
                                      html: n.html.slice(0, 160)}))}));
    }""", [TAGS, rules])


def _readable(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:6]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {node['html']}\n      {summary}")
        if len(v["nodes"]) > 6:
            lines.append(f"    ...and {len(v['nodes']) - 6} more")
    return "\n".join(lines)


def test_every_get_route_is_visited_or_excluded() -> None:
    """A page added later is checked here without being listed; the exclusions still exist."""
    endpoints = {r.endpoint for r in _routes()}
    assert set(EXCLUDED) <= endpoints, set(EXCLUDED) - endpoints
    assert API_PAGES <= endpoints
    assert {r.endpoint for r in ROUTES} == {e for e in endpoints if e not in EXCLUDED
                                           and (not e.startswith("api.") or e in API_PAGES)}
    fillable = {"position_id", "letter_id", "application_id", "endpoint_id", "boilerplate_id"}
    for rule in ROUTES:
        unfilled = set(rule.arguments) - fillable - set(rule.defaults or {})
        assert not unfilled, f"{rule.rule}: seed {unfilled} in _seed or exclude it"


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_page_is_accessible_and_fits(site: Site, name: str, width: int) -> None:  # noqa: F811
    """No axe-core violation at 1280 and 320 px; no sideways scroll at 1280, 390 and 320 px."""
    page = _open(site, name)
    page.set_viewport_size({"width": width, "height": 800})
    wide = page.evaluate("""() => {
        const right = e => {
            const r = e.getBoundingClientRect();
            return r.width ? Math.max(r.right, r.left + e.scrollWidth) : 0;
        };
        const over = [...document.querySelectorAll('body *')]
            .filter(e => right(e) > window.innerWidth + 1).slice(0, 5)
            .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(right(e))}px`);
        return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, over};
    }""")
    problems = []
    if wide["scroll"] > wide["inner"]:
        problems.append(f"scrolls sideways: {wide['scroll']} px wide in a {wide['inner']} px "
                        f"window; too wide: {', '.join(wide['over'])}")
    if width in AXE_WIDTHS:
        found = _violations(page, PAGE_RULES if name.split(":")[1] in FRAMES else ())
        if found:
            problems.append(f"axe-core found {len(found)} violations:\n{_readable(found)}")
    assert not problems, f"{name} at {width} px ({page.url}):\n" + "\n".join(problems)


@pytest.mark.browser
def test_phone_menu_folds_and_opens(site: Site) -> None:  # noqa: F811
    """At 320 px the menu hides behind "Menu" until pressed; Escape folds it again."""
    from playwright.sync_api import expect

    page = site.pages["admin"]
    page.set_viewport_size({"width": 320, "height": 700})
    page.goto(site.url + "/positions")
    site.current["admin"] = ""
    toggle = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Audit")).to_be_visible()
    box = nav.get_by_role("link", name="Audit").bounding_box()
    assert box and box["x"] + box["width"] <= 320
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(toggle).to_be_hidden()  # a laptop shows the menu as a bar
    expect(nav.get_by_role("link", name="Audit")).to_be_visible()


@pytest.mark.browser
def test_review_at_phone_width(site: Site) -> None:  # noqa: F811
    """The letter review at 390 px: the approval is on the first screen; a screenshot for docs."""
    from playwright.sync_api import expect

    page = site.pages["admin"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/letters/{site.ids['letter_id'] + 1}")
    site.current["admin"] = ""
    expect(page.get_by_role("heading", name=re.compile("^Letter to "))).to_be_visible()
    expect(page.get_by_role("button", name="Approve and next")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    email = page.frame_locator('iframe[title="Email preview"]')
    expect(email.get_by_text(re.compile("^Dear "))).to_be_visible()
    expect(page.locator('iframe[title="PDF preview"]')).to_be_hidden()  # the link instead
    expect(page.get_by_role("link", name="Open the PDF")).to_be_visible()
    # As tall as the page, so that the frames paint what a person scrolling would see.
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size({"width": 390,
                            "height": page.evaluate("document.documentElement.scrollHeight")})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "36-review-phone.png"))


@pytest.mark.browser
def test_phone_menu_without_the_script(site: Site) -> None:  # noqa: F811
    """Without JavaScript the whole menu shows at 320 px, one link a line, nothing cut off."""
    from playwright.sync_api import expect

    browser = site.pages["admin"].context.browser
    context = browser.new_context(viewport={"width": 320, "height": 700},
                                  java_script_enabled=False)
    page = context.new_page()
    sign_in(page, site.url, ADMIN)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Positions", "Boilerplates", "Members", "Settings", "Audit"):
        link = nav.get_by_role("link", name=name)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box and box["x"] + box["width"] <= 320, name
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    context.close()

