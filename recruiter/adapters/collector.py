"""Garbage-collector tuning for the worker processes: their warm-up heap frozen.

After a worker's warm-up, everything it holds (modules, WeasyPrint, fonts, parsed
stylesheets: about 140,000 objects) stays for its life. ``freeze()`` moves it out of the
collector's sight, so later collections scan only the batch's own objects (bench/README.md,
"Library internals": about 15% of the CPU a PDF letter). Pausing the collector per PDF chunk
was measured too and dropped: no gain once the heap is frozen.

Relies only on the public ``gc`` module (``collect``, ``freeze``; CPython 3.7 and later,
checked on 3.11). It is process-wide state, so it lives here, called only from
``services/workers.py`` in a new worker. With ``freeze_enabled`` off it does nothing.
"""

from __future__ import annotations

import gc

freeze_enabled = True


def freeze() -> None:
    """Collect, then keep every object alive now out of later collections."""
    if freeze_enabled:
        gc.collect()
        gc.freeze()
