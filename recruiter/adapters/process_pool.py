"""The process ids behind a ``ProcessPoolExecutor`` and the multiprocessing fork server.

The standard library does not say which processes a pool runs, yet the benches read each
worker's and the fork server's memory and CPU time from ``/proc``. Relies on
``ProcessPoolExecutor._processes`` (a dict keyed by pid) and
``multiprocessing.forkserver._forkserver._forkserver_pid``, both private; checked against
CPython 3.11 and 3.12 (pyproject's ``requires-python = ">=3.11"``). If either changes, the
function returns no pid (the benches then report less, never wrongly), and
``tests/test_adapters.py`` fails to say so.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

CHECKED_VERSIONS = "CPython 3.11, 3.12"


def worker_pids(executor: ProcessPoolExecutor | None) -> list[int]:
    """The pool's live worker processes' ids, or [] if they cannot be read."""
    processes = getattr(executor, "_processes", None)
    if not isinstance(processes, dict):
        return []
    return [pid for pid in processes if isinstance(pid, int)]


def forkserver_pid() -> int | None:
    """The fork server's process id, if this process started one."""
    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None
