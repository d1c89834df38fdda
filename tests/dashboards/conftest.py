"""Fixtures of the dashboard tier: one loaded warehouse and a Grafana reader session on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg2.extensions import connection

from simple_etl.fakeapi import FakeApiServer, Faults
from tests.dashboards.alerts import reader_session
from tests.dashboards.loaded import Loaded, load_batches
from tests.dashboards.macros import TimeRange
from tests.support.cli import simple_etl
from tests.support.etl import EPOCH, Etl
from tests.support.postgres import PostgresServer, Role
from tests.support.warehouse import create_warehouse, drop_warehouse


@pytest.fixture(scope="session")
def loaded(pg_server: PostgresServer, pg_roles: dict[str, Role]) -> Iterator[Loaded]:
    warehouse = create_warehouse(pg_server, pg_roles)
    try:
        with FakeApiServer(faults=Faults(), rate_limit=None) as api:  # six batches at once
            migrated = simple_etl("migrate", env=warehouse.env())
            assert migrated.exit_code == 0, migrated.stderr
            started = datetime.now(UTC)
            load_batches(Etl(warehouse, api))
            finished = datetime.now(UTC)
        # Six batches five minutes apart from EPOCH; an hour covers them with room to spare.
        visits = TimeRange(EPOCH, EPOCH + timedelta(hours=1))
        runs = TimeRange(started - timedelta(minutes=5), finished + timedelta(minutes=5))
        yield Loaded(warehouse, visits, runs)
    finally:
        drop_warehouse(warehouse)


@pytest.fixture(scope="session")
def reader(loaded: Loaded) -> Iterator[connection]:
    """A read-only session of the role the chart gives Grafana's data source."""
    with reader_session(loaded.warehouse) as conn:
        yield conn
