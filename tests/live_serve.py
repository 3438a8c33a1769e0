"""`recruiter serve` as a real process on a free loopback port, for tests that need one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    """The running server: its process, address, environment and log."""

    process: subprocess.Popen
    base: str
    env: dict[str, str]
    log: Path

    @property
    def login(self) -> tuple[str, str]:
        """The demo's email and password, as serve printed them to the instance folder."""
        email, password = (Path(self.env["RECRUITER_INSTANCE_PATH"]) / "demo-login.txt"
                           ).read_text().split()[:2]
        return email, password


@contextmanager
def serving(tmp_path: Path) -> Iterator[Served]:
    """Start `recruiter serve` on a fresh instance, wait for the demo, kill it afterwards."""
    port = free_port()
    env = {**os.environ, "RECRUITER_INSTANCE_PATH": str(tmp_path / "instance")}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "recruiter:create_app", "serve", "--port",
             str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(process, f"http://127.0.0.1:{port}", env, log)
    try:
        login_file = tmp_path / "instance" / "demo-login.txt"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urlopen(served.base + "/healthz", timeout=2) as ready:
                    if login_file.exists() and ready.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.3)
        else:
            raise AssertionError(f"serve did not come up in 90 s:\n{log.read_text()}")
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
