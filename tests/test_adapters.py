"""Library internals behind one door: each adapter's reliance still holds, and it keeps its promise.

A failure in a ``*_still_*`` test means a library upgrade changed what an adapter relies on.
Letters stay correct (each adapter falls back to the public path), only slower: update the
adapter for the new version and its pin in pyproject.toml, or drop the adapter.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import logging
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.generator import Generator
from multiprocessing import forkserver

import pytest
import weasyprint
from weasyprint import HTML
from weasyprint import html as weasyprint_html

from recruiter.adapters import collector, mime_boundary, process_pool, weasyprint_ua
from recruiter.services import pdf_layout
from recruiter.services.mail import Envelope, Mail, build_message, build_messages
from recruiter.services.pdf import PdfLetter, render_pdfs, render_print_bundle

PINNED = f"pinned weasyprint>=70,<71, checked on {weasyprint_ua.CHECKED_VERSION}"


def letters() -> list[PdfLetter]:
    base = PdfLetter(
        key="a", organization_name="Harbour Air Logistics",
        organization_address=("1055 West Hastings Street", "Vancouver BC  V6E 2E9"),
        date="22 November 2026", recipient=("Zoë Lefebvre", "3120 Kingsway"),
        subject="Your application", sender_name="Jordan Reyes",
        body_html="<p>Dear Zoë,</p><p>Thank you for your time.</p>")
    long = "".join(f"<p>Paragraph {i}: thank you for the care you put into it.</p>"
                   for i in range(40))
    return [base, dataclasses.replace(base, key="b", body_html=long),
            dataclasses.replace(base, key="c", language="ar", subject="شكرا لك",
                                recipient=("محمد عبد الله العلي", "الرياض"),
                                body_html="<p>عزيزي محمد،</p><p>نشكرك على اهتمامك.</p>")]


# --- weasyprint_ua ----------------------------------------------------------------------------

def test_weasyprint_ua_still_has_the_hook_and_rules_it_trims() -> None:
    """WeasyPrint still has the private hook, the UA source and exactly the 21 rules trimmed."""
    where = f"recruiter/adapters/weasyprint_ua.py ({PINNED}; installed {weasyprint.__version__})"
    hook = getattr(HTML, "_ua_stylesheets", None)
    assert callable(hook), f"{where}: HTML._ua_stylesheets is gone"
    assert list(inspect.signature(hook).parameters) == ["self", "forms"], \
        f"{where}: HTML._ua_stylesheets changed its signature"
    assert isinstance(getattr(weasyprint_html, "UA", None), str), \
        f"{where}: weasyprint.html.UA is no longer the stylesheet's source"
    assert HTML(string="<p>x</p>")._ua_stylesheets() == [weasyprint_html.UA_STYLESHEET], \
        f"{where}: the hook no longer returns weasyprint.html.UA_STYLESHEET"  # noqa: SLF001
    found = len(weasyprint_ua.UNUSED_RULES.findall(weasyprint_html.UA))
    assert found == weasyprint_ua.UNUSED_RULE_COUNT, \
        f"{where}: the UA stylesheet has {found} of the {weasyprint_ua.UNUSED_RULE_COUNT} " \
        "rules it trims"
    assert weasyprint_ua.trimmed_stylesheet() is not None, f"{where}: trimming fell back"
    trimmed = weasyprint_ua.LetterHTML(string="<p>x</p>")._ua_stylesheets()  # noqa: SLF001
    assert trimmed == [weasyprint_ua.trimmed_stylesheet()], f"{where}: the swap is not in use"


def test_weasyprint_ua_trims_only_margin_boxes_and_footnotes() -> None:
    """Every rule trimmed is a page-margin box or a footnote/note pseudo-element."""
    for rule in weasyprint_ua.UNUSED_RULES.findall(weasyprint_html.UA):
        assert re.match(r"\s*(@(top|bottom|left|right)-|::(footnote|note)-)", rule), rule


def test_weasyprint_ua_pdfs_are_byte_identical_to_the_public_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Letters (one page, three pages, Arabic) and a duplex bundle: the same bytes either way.

    Archival PDFs carry their creation time: both runs get the same one.
    """
    monkeypatch.setattr(pdf_layout, "_now", lambda: "2026-01-02T03:04:05Z")
    sample = letters()
    trimmed = render_pdfs(sample) + [render_print_bundle(sample, duplex=True)]
    monkeypatch.setattr(weasyprint_ua, "enabled", False)
    public = render_pdfs(sample) + [render_print_bundle(sample, duplex=True)]
    assert [len(x) for x in trimmed] == [len(x) for x in public]
    assert trimmed == public, "weasyprint_ua: the trimmed stylesheet changed the PDF bytes"


def test_weasyprint_ua_falls_back_to_the_stock_stylesheet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A WeasyPrint whose stylesheet no longer matches gets its own stylesheet, untouched."""
    weasyprint_ua.trimmed_stylesheet.cache_clear()
    monkeypatch.setattr(weasyprint_html, "UA", "p { margin: 0 }\n")
    try:
        assert weasyprint_ua.trimmed_stylesheet() is None
        sheets = weasyprint_ua.LetterHTML(string="<p>x</p>")._ua_stylesheets()  # noqa: SLF001
        assert sheets == [weasyprint_html.UA_STYLESHEET]
    finally:
        weasyprint_ua.trimmed_stylesheet.cache_clear()


# --- mime_boundary ----------------------------------------------------------------------------

PYTHON = f"Python {sys.version.split()[0]}; checked on {mime_boundary.CHECKED_VERSIONS}"
_BOUNDARY = re.compile(rb"===============\d{19}==(?:\.\d+)?")


def test_mime_boundary_still_uses_the_generators_private_classmethod() -> None:
    """``Generator._make_boundary()`` still exists, takes no argument and has the same form."""
    where = f"recruiter/adapters/mime_boundary.py ({PYTHON})"
    make = getattr(Generator, "_make_boundary", None)
    assert callable(make), f"{where}: email.generator.Generator._make_boundary is gone"
    params = inspect.signature(make).parameters
    assert list(params) == ["text"] and params["text"].default is None, \
        f"{where}: Generator._make_boundary changed its signature to {list(params)}"
    assert re.fullmatch(r"={15}\d{19}==", make()), \
        f"{where}: Generator._make_boundary() changed its boundary's form"
    assert re.fullmatch(r"={15}\d{19}==", mime_boundary.choose("text") or ""), \
        f"{where}: choose() fell back"


def test_mime_boundary_avoids_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boundary found in the text is drawn again; no usable generator means None."""
    draws = iter(["AAA", "BBB"])
    monkeypatch.setattr(Generator, "_make_boundary", classmethod(lambda cls: next(draws)))
    assert mime_boundary.choose("xx--AAA", "html") == "BBB"
    monkeypatch.setattr(Generator, "_make_boundary", classmethod(lambda cls, text: text))
    assert mime_boundary.choose("t") is None  # a changed signature: the generator picks it
    monkeypatch.delattr(Generator, "_make_boundary")
    assert mime_boundary.choose("t") is None


@pytest.mark.parametrize("enabled", [True, False], ids=["adapter", "public"])
def test_mime_boundary_messages_parse_as_build_message_does(
        monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    """Batch messages equal ``build_message``'s bytes apart from the boundary, and parse alike."""
    monkeypatch.setattr(mime_boundary, "enabled", enabled)
    envelope = Envelope("Jordan Reyes", "hiring@harbourair.example.com", "Zoë Lefebvre",
                        "zoe@example.net", "<1@harbourair.example.com>")
    text, html = "Dear Zoë,\n--===============1==\n", "<p>Dear Zoë, = 3</p>"
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # both dated alike, whatever the clock
    batch = build_messages([Mail(envelope, "Your application", text, html)], date=now)[0]
    single = build_message(envelope, subject="Your application", text=text,
                           html=html, date=now).as_bytes()
    assert _BOUNDARY.sub(b"B", batch) == _BOUNDARY.sub(b"B", single)

    def parts(raw: bytes) -> list:
        msg = message_from_bytes(raw, policy=policy.default)
        return [(p.get_content_type(), p.get_content()) for p in msg.iter_parts()]

    assert parts(batch) == parts(single)


# --- collector and process_pool ---------------------------------------------------------------

def test_collector_freeze_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``freeze_enabled`` off, ``freeze()`` leaves the collector's generations alone."""
    monkeypatch.setattr(collector, "freeze_enabled", False)
    before = gc.get_freeze_count()
    collector.freeze()
    assert gc.get_freeze_count() == before


def test_process_pool_still_exposes_its_worker_pids() -> None:
    """``ProcessPoolExecutor._processes`` still maps the live workers' pids."""
    where = f"recruiter/adapters/process_pool.py ({PYTHON})"
    with ProcessPoolExecutor(max_workers=1) as executor:
        pid = executor.submit(os.getpid).result()
        assert process_pool.worker_pids(executor) == [pid], \
            f"{where}: ProcessPoolExecutor._processes no longer maps the workers' pids"
    assert process_pool.worker_pids(None) == []
    assert hasattr(forkserver._forkserver, "_forkserver_pid"), \
        f"{where}: multiprocessing.forkserver no longer keeps its server's pid"  # noqa: SLF001


def test_weasyprint_ua_parses_without_warnings_in_the_log(caplog: pytest.LogCaptureFixture,
                                                          ) -> None:
    """WeasyPrint's complaints about its own sheet stay out of every worker's log."""
    weasyprint_ua.trimmed_stylesheet.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="weasyprint"):
            assert weasyprint_ua.trimmed_stylesheet() is not None
        assert [r.getMessage() for r in caplog.records if r.name == "weasyprint"] == []
        assert logging.getLogger("weasyprint").level != logging.ERROR  # put back as it was
    finally:
        weasyprint_ua.trimmed_stylesheet.cache_clear()
