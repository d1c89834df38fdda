"""The benchmark's data: the offline API's generator, in-process, so no network is measured.

Every contender loads the same people: pages 1..N/PAGE_SIZE of one seed, exactly what
`simple-etl run` fetches for a batch whose pool is those pages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from simple_etl.client import Page
from simple_etl.fakeapi import generate

SEED = "simple-etl-bench"
PAGE_SIZE = 5000  # the API's ceiling per request


def page_numbers(people: int) -> list[int]:
    if people % PAGE_SIZE and people > PAGE_SIZE:
        raise ValueError(f"{people} people is not a whole number of pages of {PAGE_SIZE}")
    return list(range(1, max(people // PAGE_SIZE, 1) + 1))


def page_size(people: int) -> int:
    return min(people, PAGE_SIZE)


class GeneratedSource:
    """Stands in for RandomUserClient: `fetch_page` returns a Page of freshly generated records.

    Generating is the source's work, not the loader's: the time it takes is kept in
    `generating` so that contenders can leave it out of what they measure.
    """

    def __init__(self, people: int) -> None:
        self.size = page_size(people)
        self.generating = 0.0
        self.generating_cpu = 0.0

    def fetch_page(self, number: int) -> Page:
        started, started_cpu = time.perf_counter(), time.process_time()
        records = generate(SEED, number, self.size)
        self.generating += time.perf_counter() - started
        self.generating_cpu += time.process_time() - started_cpu
        return Page(number, records)


def records(people: int, source: GeneratedSource) -> Iterator[dict[str, Any]]:
    """Every record of the first `people`, page after page."""
    for number in page_numbers(people):
        yield from source.fetch_page(number).records
