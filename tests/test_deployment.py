"""The README's deployment notes: the web command they give runs recruiter as they say.

The command is read from the notes' table, so a change there is tested as written.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from live_serve import free_port

ROOT = Path(__file__).resolve().parent.parent


def web_command() -> list[str]:
    """The ``gunicorn …`` command in the web row of the README's deployment table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    notes = text[text.index("## Deployment notes"):]
    row = next(line for line in notes.splitlines() if line.startswith("| web |"))
    command = re.search(r"`(gunicorn [^`]+)`", row)
    assert command, row
    return shlex.split(command.group(1))


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def threads(pid: int) -> int:
    """How many threads the process runs."""
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_the_web_command_runs_two_single_threaded_processes_per_core(tmp_path: Path) -> None:
    """On a host of one core (N = 1): two sync workers that serve the app, never threads."""
    command = [arg.replace("2N", "2") for arg in web_command()]
    assert "--threads" not in command, "the notes explain why processes, not threads"
    port = free_port()
    env = {**os.environ, "RECRUITER_INSTANCE_PATH": str(tmp_path / "instance"),
           "RECRUITER_DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
           "RECRUITER_SECRET_KEY": "deployment-test-secret",
           "RECRUITER_MAIL_URL": (tmp_path / "outbox").as_uri(),
           "RECRUITER_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}"}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not answer in 60 s:\n{log.read_text()}")
                time.sleep(0.2)
        with urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
            assert b'name="password"' in response.read()
        workers = children(process.pid)
        assert len(workers) == 2, log.read_text()
        # gunicorn's sync worker: one thread serving, as the notes promise.
        assert [threads(worker) for worker in workers] == [1, 1]
        assert "--timeout" in command and command[command.index("--timeout") + 1] == "120"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
