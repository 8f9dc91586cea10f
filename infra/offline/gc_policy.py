"""Garbage collection tuned for one offline run: collect rarely, and never walk the imported SDKs.

A preview builds a large, mostly acyclic object graph (every registration's properties, futures and
tasks) on top of a very large heap of imported SDK classes (~1,700 modules). CPython's generational
collector runs a young collection every 700 net allocations and, every 10th/100th time, walks the
older generations: with the SDKs loaded, those walks dominated the run (measured with cProfile on the
prod preview: `asyncio.create_task` alone showed 2.3 s of self time, which is the collector firing
inside it). `gc.freeze()` moves everything alive before the run (the imported modules) to a permanent
generation that collections skip (https://docs.python.org/3/library/gc.html#gc.freeze), and a larger
young threshold makes collections rarer while still reclaiming cycles, so memory stays bounded.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 100_000  # allocations between young collections (CPython default: 700)
_depth = 0  # nested uses (a policy check around a preview) freeze and restore once, at the outermost


@contextmanager
def quiet_collector() -> Iterator[None]:
    """Run the body with the pre-existing heap frozen and rarer collections; restore both afterwards."""
    global _depth
    _depth += 1
    before = gc.get_threshold()
    if _depth == 1:
        gc.freeze()  # no full collection first: on a large heap it costs seconds, and frozen garbage is freed after
        gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.set_threshold(*before)
            gc.unfreeze()
