"""One pool of worker processes per app process, for CPU-bound batch work.

Laying out PDFs and building emails for thousands of letters is CPU work that threads cannot
spread (the GIL). Both go to this pool: one worker per core, forked from a fork server that
has already imported WeasyPrint and the mail builder, so a worker starts in a fraction of a
second. Each worker parses the letter stylesheets and loads the fonts once, before its first
task. The pool starts on first use and stays for later batches; ``warm`` starts it early.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

PRELOAD = ["recruiter.services.pdf", "recruiter.services.mail"]

_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None  # (pid that made it, worker count)
_lock = threading.Lock()


def count(processes: int | None = None) -> int:
    """The number of workers: ``processes``, or one per core."""
    return processes or os.cpu_count() or 1


def _warm_up() -> None:
    """Warm the worker up, then freeze what it holds out of the garbage collector's sight.

    Everything alive now (modules, WeasyPrint, fonts, parsed stylesheets: about 140,000
    objects) stays for the worker's life. Frozen, it is no longer rescanned by the one
    collection after each chunk, which took 100 ms a 25-letter chunk unfrozen and 20 ms
    frozen (about 3 ms of CPU a letter).
    """
    from .pdf import warm_up

    warm_up()
    gc.collect()
    gc.freeze()


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
    return list(_pool._processes) if _pool is not None else []  # noqa: SLF001


def shutdown() -> None:
    """Stop the workers, if this process started them."""
    global _pool, _pool_key
    with _lock:
        if _pool is not None and _pool_key is not None and _pool_key[0] == os.getpid():
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool = _pool_key = None


atexit.register(shutdown)


def warm(processes: int | None = None) -> None:
    """Start the workers now (for example at app start), so the first batch does not wait."""
    workers = count(processes)
    if workers > 1:
        running = pool(workers)
        for future in [running.submit(os.getpid) for _ in range(workers)]:
            future.result()
