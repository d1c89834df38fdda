"""The warehouse the dashboard tests read: loaded once by real `simple-etl run` batches.

The batches are small (1000 visitors in pages of 250) and drawn from a pool of 6 pages
(1500 people), so visitors return from the second batch on. Between them they give
every panel something to show: a batch with broken records (quarantine), a batch split
over two shards, and a batch the API fails (a second status).
"""

from __future__ import annotations

from dataclasses import dataclass

from simple_etl.fakeapi import Faults
from tests.dashboards.macros import TimeRange
from tests.support.etl import Etl
from tests.support.warehouse import Warehouse

SMALL_BATCHES = {"SIMPLE_ETL_BATCH_SIZE": "1000", "SIMPLE_ETL_PAGE_SIZE": "250", "SIMPLE_ETL_POOL_PAGES": "6"}
CORRUPT_PER_PAGE = 5
SOURCE_ERROR = 3


@dataclass(frozen=True)
class Loaded:
    warehouse: Warehouse
    visits: TimeRange  # when the loaded batches say their visitors came (tests/support/etl.py)
    runs: TimeRange  # when the batches actually ran, by the wall clock


def load_batches(etl: Etl) -> None:
    def run(batch_id: str, *args: str, expect: int = 0, **settings: str) -> None:
        result = etl.run(batch_id, *args, **{**SMALL_BATCHES, **settings})
        assert result.exit_code == expect, result.stderr

    run("batch-1")
    run("batch-2")
    etl.api.faults = Faults(corrupt=CORRUPT_PER_PAGE)
    run("batch-3")
    etl.api.faults = Faults()
    run("batch-4", "--shard", "0", "--shards", "2")
    run("batch-4", "--shard", "1", "--shards", "2")
    etl.api.faults = Faults(schedule=("500",))
    run("batch-5", expect=SOURCE_ERROR, SIMPLE_ETL_MAX_RETRIES="0")
    etl.api.faults = Faults()
    run("batch-6")
