"""The loader's Python work: run it while the database works, and keep it cheap.

The load alternates between two kinds of work: transforming a page (Python, this
process) and applying it (Postgres, another process, usually another machine). Done
one after the other, each waits for the other. `ahead` computes the next item of an
iterator in a worker thread while the caller handles the current one; psycopg2
releases the GIL while it waits for the server, so the two really run at once.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()

# When the server answers, the waiting thread needs the GIL back from the worker; the
# interpreter hands it over after this many seconds (default 5 ms, a long idle time
# for a server that applies a page of 5 000 in about 100 ms).
SWITCH_INTERVAL = 0.0005


@contextmanager
def ahead(items: Iterable[T]) -> Iterator[Iterator[T]]:
    """The items of `items`, each computed in a worker thread while the caller handles
    the one before. An exception in the worker is raised to the caller; leaving the
    block, however, stops the worker."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="simple-etl-ahead") as worker:
            yield _prefetched(iter(items), worker)
    finally:
        sys.setswitchinterval(interval)


def _prefetched(iterator: Iterator[T], worker: ThreadPoolExecutor) -> Iterator[T]:
    following = worker.submit(next, iterator, _DONE)
    while (item := following.result()) is not _DONE:
        following = worker.submit(next, iterator, _DONE)
        yield item  # type: ignore[misc]


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    Parsing and transforming pages makes millions of short-lived containers without
    reference cycles; reference counting frees them all. The cyclic collector would
    scan them again and again for nothing: half the time of parsing a page.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
