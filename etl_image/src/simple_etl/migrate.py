"""Schema as code: numbered SQL files applied in order, once, under an advisory lock.

Every DAG run calls `migrate`; concurrent callers queue on the lock, and the whole
upgrade is one transaction, so a failure leaves the schema as it was. `run` and `check`
call `verify` first: they work only on exactly the schema this image ships, and say
which command fixes it otherwise (exit 2: a retry cannot).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from simple_etl.errors import ConfigError
from simple_etl.log import JsonLogger

# An arbitrary constant that names "simple-etl schema migrations" among advisory locks.
MIGRATION_LOCK = 7_317_002_001
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("simple_etl.migrations").iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(
    conn: connection, reader_role: str, log: JsonLogger, known: list[Migration] | None = None
) -> list[int]:
    """Apply pending migrations and the reader's grants; return the versions applied.

    `known` is what this image ships (default: every migration in the package); the upgrade
    tests pass a prefix of it to build the warehouse an older image left behind."""
    applied_now = []
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(
            """
            CREATE TABLE IF NOT EXISTS public.schema_migrations (
                version    integer PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cur.execute("SELECT version, checksum FROM public.schema_migrations")
        applied = dict(cur.fetchall())
        known = available() if known is None else known
        _refuse_drift(applied, known)
        for migration in known:
            if migration.version in applied:
                continue
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO public.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
            log.info("migrate.applied", version=migration.version, name=migration.name)
        if reader_role:
            _grant_reporting(cur, reader_role)
    return applied_now


def verify(conn: connection) -> None:
    """Refuse a database whose applied migrations are not exactly the shipped ones:
    unmigrated, behind, edited after it was applied, or migrated by a newer image."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            raise ConfigError(
                f"database {conn.info.dbname} has no simple-etl schema; run `simple-etl migrate` first"
            )
        cur.execute("SELECT version, checksum FROM public.schema_migrations")
        applied = dict(cur.fetchall())
    known = available()
    _refuse_drift(applied, known)
    pending = ", ".join(f"{m.version:04d}" for m in known if m.version not in applied)
    if pending:
        raise ConfigError(
            f"database {conn.info.dbname} lacks migration {pending}; run `simple-etl migrate` first"
        )


def _refuse_drift(applied: dict[int, str], known: list[Migration]) -> None:
    by_version = {m.version: m for m in known}
    newer = sorted(set(applied) - set(by_version))
    if newer:
        raise ConfigError(
            f"the database has migration {newer[-1]} that this image does not know; "
            "run the newer image that migrated it"
        )
    for version, checksum in sorted(applied.items()):
        if by_version[version].checksum != checksum:
            raise ConfigError(
                f"migration {version:04d} changed after it was applied (its checksum differs from "
                "the database's); restore the shipped file and put the change in a new migration"
            )


def _grant_reporting(cur: cursor, role: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        raise ConfigError(
            f"role {role} does not exist; create it (the chart's Postgres init does) "
            "or set SIMPLE_ETL_READER_ROLE to an existing role"
        )
    ident = sql.Identifier(role)
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA reporting TO {}").format(ident))
    cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO {}").format(ident))
