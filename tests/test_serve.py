"""`recruiter serve` as a person runs it: a real process, stopped by a signal."""

from __future__ import annotations

import re
import signal
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest
from live_serve import serving


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _token(page: str) -> str:
    """The CSRF token of the first form on a page (attributes in either order)."""
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
    assert tag is not None, "no form on the page"
    return re.search(r'value="([^"]+)"', tag.group()).group(1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_its_workers_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """After a ZIP download started the PDF workers, a signal stops serve and every child."""
    with serving(tmp_path) as served:
        process, base = served.process, served.base
        email, password = served.login
        browser = build_opener(HTTPCookieProcessor(CookieJar()))

        def fetch(path: str, form: dict[str, str] | None = None) -> bytes:
            data = urlencode(form).encode() if form is not None else None
            with browser.open(base + path, data=data, timeout=300) as response:
                return response.read()

        token = _token(fetch("/login").decode())
        fetch("/login", {"email": email, "password": password, "csrf_token": token})
        token = _token(fetch("/positions/1/letters").decode())
        assert fetch("/positions/1/letters.zip", {"csrf_token": token}).startswith(b"PK")
        children = _descendants(process.pid)
        assert children, "the ZIP of 29 letters should have started the PDF workers"
        process.send_signal(sig)
        assert process.wait(timeout=30) in (0, -sig, 128 + sig), served.log.read_text()
        time.sleep(1)
        assert not [pid for pid in children if _alive(pid)]
