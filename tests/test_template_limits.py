"""Bounded template work: operators, loops and worker limits stop hostile templates early."""

from __future__ import annotations

import gc
import http.cookiejar
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from recruiter import create_app
from recruiter.errors import TemplateError
from recruiter.extensions import db as _db
from recruiter.models import Boilerplate
from recruiter.services import rendering, workers
from recruiter.services.boilerplates import save_version
from recruiter.services.languages import SHIPPED
from recruiter.services.rendering import Boilerplate as Source
from recruiter.services.rendering import render_letter, render_untrusted
from recruiter.views.boilerplates import SAMPLE

PASSWORD = "correct horse battery staple"
HOSTILE = {
    "power chain": "{% set a = 9**64 %}{% set b = a**64 %}{% set c = b**64 %}"
                   "{% set d = c**64 %}{{1}}",
    "nested loops": "{% for a in range(1000) %}{% for b in range(1000) %}"
                    "{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    "doubling": "{% set s = 'x' * 50000 %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}",
    "huge repetition": "{{ 'x' * 10**9 }}",
    "join of a huge range": "{{ range(10**9)|join(',') }}",
    "join of repeated text": "{% set s = 'x' * 90000 %}{{ ([s] * 1000)|join }}",
    "list printed whole": "{% set s = 'x' * 90000 %}{{ [s] * 1000 }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "percent width": "{{ '%999999999s' % 1 }}",
    "percent repeated": "{% set s = 'x' * 90000 %}{{ ('%s' * 1000) % (([s] * 1000)|list) }}",
    "center": "{{ 'x'.center(10**9) }}",
    "replace method": "{% set s = 'a' * 90000 %}{{ s.replace('a', s) }}",
    "recursive loop": "{% for x in range(1000) recursive %}{% if loop.depth < 4 %}"
                      "{{ loop(range(1000)) }}{% endif %}{% endfor %}",
    "loops over a long list": "{% set l = [1] * 90000 %}{% for a in l %}{% for b in l %}"
                              "{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_template_is_refused_before_the_work(body: str) -> None:
    """Each hostile template is refused by the sandbox in well under its time budget."""
    started = time.monotonic()
    with pytest.raises(TemplateError):
        render_letter(Source("Subject", body), SAMPLE, preview=True)
    assert time.monotonic() - started < 1.5


def test_ordinary_templates_still_render() -> None:
    """Concatenation, loops, formatting, joins and small powers work as before."""
    body = ("Dear {{ candidate.first_name ~ '!' }} {% for i in range(3) %}{{ loop.index }}"
            "{% endfor %} {{ '%s-%03d' % ('a', 7) }} {{ 'a{}b'.format(2) }} "
            "{{ [1, 2]|join(', ') }} {{ 9**64 > 0 }} {{ 'ab' * 3 }} {{ 'x'.center(5)|trim }}")
    text = render_letter(Source("Hi", body), SAMPLE, preview=True).text
    assert text == "Dear Alex! 123 a-007 a2b 1, 2 True ababab x\n"


def test_loop_budget_names_the_limit() -> None:
    """Loops that run past the iteration budget say so, whatever they iterate."""
    body = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match="loops ran more than 100,000 times"):
        render_letter(Source("Hi", body), SAMPLE)


def test_power_is_bounded_by_bit_length() -> None:
    """9**64 is allowed, but raising it to the 64th again is refused as too large."""
    assert render_letter(Source("Hi", "{{ (9**64) % 10 }}"), SAMPLE).text == "1\n"
    with pytest.raises(TemplateError, match="too large"):
        render_letter(Source("Hi", "{{ (9**64)**64 }}"), SAMPLE)


def test_unbounded_string_methods_are_refused() -> None:
    """A string method whose result cannot be bounded (translate) is not available."""
    with pytest.raises(TemplateError, match="'translate' is not available"):
        render_letter(Source("Hi", "{{ 'x'.translate({}) }}"), SAMPLE)


def test_untrusted_render_matches_in_process_render() -> None:
    """A preview rendered in a limited worker gives the same letter as rendering in-process."""
    source = Source("Hello {{ candidate.first_name }}", "Dear {{ candidate.first_name }},")
    assert render_untrusted(source, SAMPLE) == render_letter(source, SAMPLE, preview=True)


def test_untrusted_render_keeps_the_error_line() -> None:
    """A template error from the worker comes back with its message and line number."""
    with pytest.raises(TemplateError, match="by zero") as caught:
        render_untrusted(Source("Hi", "line\n{{ 1 // 0 }}"), SAMPLE)
    assert caught.value.lineno == 2


def test_worker_is_killed_at_its_cpu_limit() -> None:
    """Work that burns CPU in one C call is stopped by RLIMIT_CPU within seconds."""
    started = time.monotonic()
    outcome = workers.run_limited(sum, range(10**15), cpu_seconds=1,
                                  memory_bytes=64 << 20, timeout=30)
    assert outcome == ("time", None)
    assert time.monotonic() - started < 10


def test_worker_is_stopped_at_its_memory_limit() -> None:
    """An allocation past RLIMIT_AS fails in the worker and is reported as memory."""
    outcome = workers.run_limited(bytearray, 1 << 30, cpu_seconds=5,
                                  memory_bytes=128 << 20, timeout=30)
    assert outcome == ("memory", None)


def test_worker_is_killed_at_its_wall_clock_limit() -> None:
    """A task that outlives its wall-clock timeout is killed; the next task still runs."""
    started = time.monotonic()
    assert workers.run_limited(time.sleep, 60, cpu_seconds=5, memory_bytes=64 << 20,
                               timeout=1) == ("time", None)
    assert time.monotonic() - started < 8
    assert workers.run_limited(len, "four", cpu_seconds=5, memory_bytes=64 << 20,
                               timeout=30) == ("ok", 4)


def test_untrusted_overrun_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker overrun becomes the TemplateError "This template takes too long to render"."""
    monkeypatch.setattr(rendering, "GUARD_TIMEOUT", 0.0)
    with pytest.raises(TemplateError, match="^This template takes too long to render"):
        render_untrusted(Source("Hi", "Hello"), SAMPLE)


@pytest.mark.parametrize("with_candidates", [False, True])
def test_hostile_version_cannot_be_saved(db, make_org, make_position,  # noqa: ANN001
                                         with_candidates: bool) -> None:
    """save_version refuses a hostile template, with or without candidates that use it."""
    org = make_org()
    if with_candidates:
        make_position(org=org)
    bp = db.scalars(select(Boilerplate).where(Boilerplate.organization_id == org.id)).first()
    started = time.monotonic()
    with pytest.raises(TemplateError):
        save_version(db, bp, subject="Hi", body=HOSTILE["nested loops"], by=None)
    assert time.monotonic() - started < 10
    assert len(bp.versions) == len(SHIPPED)  # the shipped ones, one per language


@dataclass
class Live:
    """A live server and an admin signed in to it."""

    url: str
    opener: urllib.request.OpenerDirector
    boilerplate_id: int


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """The app on a fresh SQLite file, served by a threaded werkzeug server on loopback."""
    from recruiter.services.accounts import create_member, create_organization

    monkeypatch.setenv("RECRUITER_INSTANCE_PATH", str(tmp_path / "instance"))
    url = f"sqlite:///{tmp_path / 'live.db'}"
    app: Flask = create_app({
        "TESTING": True, "SECRET_KEY": "limits-test-secret", "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False, "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url,
        "MAIL_URL": (tmp_path / "outbox").as_uri(),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}", "QUEUE_IMMEDIATE": True,
        "RATELIMIT_ENABLED": False})
    with app.app_context():
        _db.create_all()
        org = create_organization(_db.session, "Harbour Air Logistics", sender_name="Jordan",
                                  sender_title="Manager", sender_email="hr@example.com",
                                  address="1 Main St")
        create_member(_db.session, org, email="admin@example.com", role="admin",
                      password=PASSWORD, name="Admin")
        _db.session.commit()
        bp_id = _db.session.scalars(select(Boilerplate.id).where(
            Boilerplate.organization_id == org.id)).first()
        _db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="live-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    opener.open(base + "/login", urllib.parse.urlencode(
        {"email": "admin@example.com", "password": PASSWORD}).encode(), timeout=30).read()
    try:
        yield Live(base, opener, bp_id)
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        with app.app_context():
            _db.engine.dispose()


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_hostile_previews_leave_the_live_server_responsive(live: Live) -> None:
    """While hostile previews run, /healthz answers within 200 ms and memory stays bounded."""
    # Within every operator limit, yet seconds of CPU: the worker's limits stop this one.
    heavy = ("{% set s = 'x' * 99000 %}{% for a in range(1000) %}{% for b in range(99) %}"
             "{{ s.upper()|length > 0 }}{% endfor %}{% endfor %}")
    assert live.opener.open(live.url + "/healthz", timeout=30).status == 200
    rss_before = _rss_mb()
    latencies: list[float] = []
    done = threading.Event()
    # The server runs in this test process, which has kept the objects of every test before
    # it (about a million late in a whole-suite run): a full garbage collection over them
    # pauses every thread for 1.0 to 1.5 s, and one fell in this test's polling once. That
    # pause is the test process's own, so its old objects are set aside for the measurement.
    gc.collect()
    gc.freeze()

    def poll() -> None:
        while not done.is_set():
            started = time.monotonic()
            with urllib.request.urlopen(live.url + "/healthz", timeout=30) as response:
                assert response.status == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)

    poller = threading.Thread(target=poll, name="healthz-poller", daemon=True)
    poller.start()
    answers = {}
    try:
        for name, body in {**HOSTILE, "CPU-heavy": heavy}.items():
            started = time.monotonic()
            request = urllib.request.Request(
                f"{live.url}/boilerplates/{live.boilerplate_id}/preview",
                data=urllib.parse.urlencode({"subject": "Hi", "body": body}).encode(),
                headers={"Accept": "application/json"})
            with live.opener.open(request, timeout=60) as response:
                payload = json.loads(response.read())
            answers[name] = (time.monotonic() - started, payload["errors"])
    finally:
        done.set()
        poller.join(timeout=30)
        gc.unfreeze()
    for name, (seconds, errors) in answers.items():
        assert errors and errors[-1]["message"], name
        assert seconds < 10, (name, seconds)
    assert latencies and max(latencies) < 0.2, max(latencies)
    assert _rss_mb() - rss_before < 200
