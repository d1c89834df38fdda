"""The ETL CLI wired to one warehouse database and one stand-in API, for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simple_etl.fakeapi import FakeApiServer
from tests.support.cli import Result, simple_etl
from tests.support.warehouse import Warehouse

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Etl:
    """The CLI wired to one warehouse database and one fake API."""

    def __init__(self, warehouse: Warehouse, api: FakeApiServer) -> None:
        self.warehouse = warehouse
        self.api = api
        self._slots: dict[str, int] = {}
        self.settings = {
            "SIMPLE_ETL_API_URL": api.base_url,
            "SIMPLE_ETL_BACKOFF_BASE": "0.05",
            "SIMPLE_ETL_BACKOFF_MAX": "1",
            "SIMPLE_ETL_MAX_RETRIES": "3",
        }

    @property
    def env(self) -> dict[str, str]:
        return {**self.warehouse.env(), **self.settings}

    def __call__(self, *args: str, **settings: str) -> Result:
        return simple_etl(*args, env={**self.env, **settings})

    def visit_time(self, batch_id: str) -> str:
        """Batches visit five minutes apart, in the order a test first runs them."""
        slot = self._slots.setdefault(batch_id, len(self._slots))
        return (EPOCH + timedelta(minutes=5 * slot)).isoformat()

    def run(self, batch_id: str, *args: str, **settings: str) -> Result:
        return self(
            "run", "--batch-id", batch_id, "--visited-at", self.visit_time(batch_id), *args, **settings
        )
