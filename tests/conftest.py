"""Fixtures shared by every tier: one real PostgreSQL server per test session,
fresh warehouse databases on it, and the offline stand-in API."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from simple_etl.fakeapi import FakeApiServer, Faults
from tests.support.cli import simple_etl
from tests.support.etl import Etl
from tests.support.postgres import PostgresServer, Role, running_server
from tests.support.warehouse import Warehouse, create_roles, create_warehouse, drop_warehouse


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_roles(pg_server: PostgresServer) -> dict[str, Role]:
    return create_roles(pg_server)


@pytest.fixture
def warehouse_factory(
    pg_server: PostgresServer, pg_roles: dict[str, Role]
) -> Iterator[Callable[[], Warehouse]]:
    """Fresh databases on the shared server, each dropped after the test."""
    created: list[Warehouse] = []

    def create() -> Warehouse:
        created.append(create_warehouse(pg_server, pg_roles))
        return created[-1]

    yield create
    for warehouse in created:
        drop_warehouse(warehouse)


@pytest.fixture
def warehouse(warehouse_factory: Callable[[], Warehouse]) -> Warehouse:
    return warehouse_factory()


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    # No rate limit: a test loads many batches in seconds (tests of the limit set their own).
    with FakeApiServer(faults=Faults(), rate_limit=None) as server:
        yield server


@pytest.fixture
def etl(warehouse: Warehouse, fake_api: FakeApiServer) -> Etl:
    """A migrated warehouse and the CLI pointed at it and at the stand-in API."""
    migrated = simple_etl("migrate", env=warehouse.env())
    assert migrated.exit_code == 0, migrated.stderr
    return Etl(warehouse, fake_api)
