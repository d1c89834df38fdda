"""Pages of hand-made records through the engine's own extract and load, without HTTP.

For records the stand-in API never sends (a repeated uuid, a NUL character, a tab in a
name): they go through `landing.extract` and `pipeline.load`, exactly what `run` does
after fetching, as the benchmark does.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from simple_etl import ledger, pipeline
from simple_etl.client import Page
from simple_etl.landing import extract
from simple_etl.log import JsonLogger
from tests.support.warehouse import Warehouse

VISITED_AT = datetime(2026, 1, 1, tzinfo=UTC)


class Pages:
    """A PageSource serving fixed pages (a copy each time: extract strips credentials)."""

    def __init__(self, pages: dict[int, list[Any]]) -> None:
        self.pages = pages

    def fetch_page(self, number: int) -> Page:
        return Page(number, copy.deepcopy(self.pages[number]))


def load_pages(
    warehouse: Warehouse,
    batch_id: str,
    pages: dict[int, list[Any]],
    visited_at: datetime = VISITED_AT,
    shard: int = 0,
    shards: int = 1,
) -> ledger.Counts | None:
    """Plan, begin and load one batch shard of these pages, as `run` does after fetching."""
    conn = warehouse.server.connect(warehouse.dbname, warehouse.etl)
    try:
        attempt = ledger.begin(conn, batch_id, shard, shards, visited_at)
        if attempt is None:
            return None
        spool, extracted = extract(Pages(pages), sorted(pages), batch_id, shard, JsonLogger("WARNING"))
        with spool:
            request = pipeline.BatchRequest(batch_id, shard, shards, attempt.visited_at)
            return pipeline.load(conn, request, spool, len(pages), extracted, attempt=attempt.number)
    finally:
        conn.close()
