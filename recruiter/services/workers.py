"""One pool of worker processes per app process, for CPU-bound batch work.

Laying out PDFs and building emails for thousands of letters is CPU work that threads cannot
spread (the GIL). Both go to this pool: one worker per core, forked from a fork server that
has already imported WeasyPrint and the mail builder, so a worker starts in a fraction of a
second. Each worker parses the letter stylesheets and loads the fonts once, before its first
task. The pool starts on first use and stays for later batches.

Templates nobody has saved yet render in "limited" workers instead (``run_limited``): one task
at a time under a CPU-time and an address-space limit, killed when a task overruns.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import resource
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..adapters import collector, process_pool

PRELOAD = ["recruiter.services.pdf", "recruiter.services.mail", "recruiter.services.rendering"]

_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None  # (pid that made it, worker count)
_lock = threading.Lock()
_start_hooks: list[Callable[[], None]] = []


def count(processes: int | None = None) -> int:
    """The number of workers: ``processes``, or one per core."""
    return processes or os.cpu_count() or 1


def at_worker_start(hook: Callable[[], None]) -> None:
    """Run ``hook`` in every pool worker before its first task (a module calls this on import).

    The fork server imports the ``PRELOAD`` modules, so their hooks are registered in every
    worker it forks; this module never imports theirs.
    """
    if hook not in _start_hooks:
        _start_hooks.append(hook)


def _warm_up() -> None:
    """Warm the worker up, then freeze what it holds out of the garbage collector's sight.

    Everything alive now (modules, WeasyPrint, fonts, parsed stylesheets: about 140,000
    objects) stays for the worker's life. Frozen, it is no longer rescanned by the one
    collection after each PDF chunk (``collector.freeze``).
    """
    for hook in _start_hooks:
        hook()
    collector.freeze()


def pool(workers: int) -> ProcessPoolExecutor:
    """The pool of ``workers`` workers of the calling process, started on first use."""
    global _pool, _pool_key
    with _lock:
        key = (os.getpid(), workers)
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                        initializer=_warm_up)
            _pool_key = key
        return _pool


def run_chunks(task: Callable[[Any], list[Any]], chunks: Sequence[Any], workers: int, *,
               failure: Exception) -> list[Any]:
    """``task`` on every chunk in the pool; the chunks' results in order, as one list.

    A worker that dies breaks the whole pool: it is shut down, so the next batch starts a fresh
    one, and ``failure`` is raised with the broken pool as its cause.
    """
    try:
        results = list(pool(workers).map(task, chunks))
    except BrokenProcessPool as exc:
        shutdown()
        raise failure from exc
    return [item for part in results for item in part]


def pids() -> list[int]:
    """The worker processes' ids (for measuring their memory)."""
    return process_pool.worker_pids(_pool)


def shutdown() -> None:
    """Stop the workers, if this process started them."""
    global _pool, _pool_key
    with _lock:
        if _pool is not None and _pool_key is not None and _pool_key[0] == os.getpid():
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool = _pool_key = None


atexit.register(shutdown)


# Limited workers: each runs one task at a time under CPU-time and memory limits, and is killed
# when a task overruns. Kept between tasks: a fresh process costs a second or more (the fork
# server's child imports the main module again), a kept one a millisecond.
MAX_LIMITED_TASKS = 500  # then the worker is replaced, so nothing it leaks accumulates
_limited_idle: list[tuple[Any, Any]] = []  # (process, connection)
_limited_tasks: dict[int, int] = {}  # tasks run, by worker pid
_limited_owner: int | None = None
_limited_slots = threading.BoundedSemaphore(count())


def _serve_limited(conn: Any) -> None:
    """In the worker: run tasks one by one, each with its own CPU-time and memory limits."""
    while True:
        try:
            func, args, cpu_seconds, memory_bytes = conn.recv()
        except EOFError:  # the parent is gone
            return
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        as_hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        # Past the soft CPU limit the kernel sends SIGXCPU, which ends the process. Only soft
        # limits are lowered: an unprivileged process could never raise a hard one again.
        resource.setrlimit(resource.RLIMIT_CPU,
                           (int(used.ru_utime + used.ru_stime) + 1 + cpu_seconds, cpu_hard))
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_bytes, as_hard))
        try:
            outcome: tuple[str, Any] = ("ok", func(*args))
        except MemoryError:
            outcome = ("memory", None)
        except Exception as exc:  # noqa: BLE001 - reported to the caller, not raised here
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
        conn.send(outcome)
        if outcome[0] == "memory":
            return  # its heap may be fragmented: a fresh worker takes over


def _address_space() -> int:
    """The calling process's virtual memory size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _take_limited() -> tuple[Any, Any]:
    global _limited_owner
    with _lock:
        if _limited_owner != os.getpid():  # a forked copy must not share its parent's workers
            _limited_idle.clear()
            _limited_owner = os.getpid()
        while _limited_idle:
            process, conn = _limited_idle.pop()
            if process.is_alive():
                return process, conn
            conn.close()
    return _start_limited()


def _start_limited() -> tuple[Any, Any]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    conn, child = context.Pipe()
    process = context.Process(target=_serve_limited, args=(child,), daemon=True,
                              name="limited-worker")
    process.start()
    child.close()
    return process, conn


def _add_spare() -> None:
    worker = _start_limited()
    with _lock:
        if _limited_owner == os.getpid():
            _limited_idle.append(worker)
            return
    _stop_limited(*worker)


def _stop_limited(process: Any, conn: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(5)
    conn.close()


def run_limited(func: Callable[..., Any], *args: Any, cpu_seconds: int, memory_bytes: int,
                timeout: float) -> tuple[str, Any]:
    """``func(*args)`` in a worker process with CPU-time and memory limits.

    Returns ``("ok", result)``; ``("error", description)`` when it raised; ``("memory",
    None)`` when it ran out of its memory; ``("time", None)`` when it used up its CPU time,
    ran past ``timeout`` seconds or died (the worker is killed then); ``("busy", None)`` when
    every worker stayed taken for ``timeout`` seconds. The calling thread only waits, so the
    server's other requests go on.
    """
    if not _limited_slots.acquire(timeout=timeout):
        return "busy", None
    try:
        process, conn = _take_limited()
        try:
            conn.send((func, args, cpu_seconds, memory_bytes))
            outcome = conn.recv() if conn.poll(timeout) else ("time", None)
        except (EOFError, OSError):  # it died: killed at its CPU limit, or crashed
            process.join(5)
            crashed = process.exitcode is not None and process.exitcode > 0
            outcome = ("error", "the render worker failed") if crashed else ("time", None)
        with _lock:
            tasks = _limited_tasks[process.pid] = _limited_tasks.get(process.pid, 0) + 1
            keep = outcome[0] in ("ok", "error") and tasks < MAX_LIMITED_TASKS
            if keep:
                _limited_idle.append((process, conn))
            else:
                _limited_tasks.pop(process.pid, None)
        if not keep:
            _stop_limited(process, conn)
            # Start its successor now, so the next preview does not wait for a new process.
            threading.Thread(target=_add_spare, name="limited-spare", daemon=True).start()
        return outcome
    finally:
        _limited_slots.release()


def stop_limited() -> None:
    """Stop the idle limited workers of this process."""
    with _lock:
        idle = list(_limited_idle) if _limited_owner == os.getpid() else []
        _limited_idle.clear()
    for process, conn in idle:
        _stop_limited(process, conn)


atexit.register(stop_limited)
