"""A fresh `warehouse`-like database, owned by the ETL role, as the chart creates it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import cursor

from simple_etl.log import JsonLogger
from simple_etl.migrate import available, migrate
from tests.support.postgres import PostgresServer, Role

ETL_ROLE = "etl"
READER_ROLE = "grafana_reader"


@dataclass
class Warehouse:
    server: PostgresServer
    dbname: str
    etl: Role
    reader: Role

    def env(self, role: Role | None = None) -> dict[str, str]:
        return self.server.libpq_env(self.dbname, role or self.etl)

    def query(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run a statement as the superuser and return its rows."""
        conn = self.server.connect(self.dbname)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def scalar(self, statement: str, params: Any = None) -> Any:
        return self.query(statement, params)[0][0]

    def table_counts(self, ledger_detail: bool = False) -> dict[str, int]:
        """Rows per table. warehouse.batches stands for the ledger: the plan and attempt
        tables it keeps with it (written in the same transactions) are left out unless
        `ledger_detail`, so "nothing but a ledger row" reads the same as before them."""
        tables = self.query(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'warehouse') AND table_type = 'BASE TABLE' "
            "AND (%s OR table_name NOT IN ('batch_plans', 'batch_attempts')) ORDER BY 1",
            (ledger_detail,),
        )
        return {name: self.scalar(f"SELECT count(*) FROM {name}") for (name,) in tables}  # noqa: S608

    def raw_records(self) -> int:
        """Records landed in the raw zone (a row of raw.pages holds a page of them)."""
        return self.scalar("SELECT coalesce(sum(json_array_length(payload)), 0) FROM raw.pages")


def create_roles(server: PostgresServer) -> dict[str, Role]:
    return {name: server.create_role(name) for name in (ETL_ROLE, READER_ROLE)}


def create_warehouse(server: PostgresServer, roles: dict[str, Role]) -> Warehouse:
    dbname = f"wh_{secrets.token_hex(4)}"
    etl, reader = roles[ETL_ROLE], roles[READER_ROLE]
    db = sql.Identifier(dbname)
    server.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, sql.Identifier(etl.name)))
    server.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    server.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(reader.name)))
    return Warehouse(server, dbname, etl, reader)


def drop_warehouse(warehouse: Warehouse) -> None:
    warehouse.server.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(warehouse.dbname))
    )


@contextmanager
def at_older_schema(warehouse: Warehouse, below: int) -> Iterator[cursor]:
    """The warehouse as an older image left it: migrate() itself with only the migrations
    numbered below `below`. Yields the writer's cursor (it owns it all) in one transaction,
    for the rows that image would have written."""
    conn = warehouse.server.connect(warehouse.dbname, warehouse.etl)
    try:
        migrate(conn, "", JsonLogger("WARNING"), known=[m for m in available() if m.version < below])
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()
