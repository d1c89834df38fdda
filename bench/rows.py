"""The transformed rows: what the project's path wrote to warehouse.people and visits.

The COPY floor and the naive baseline load exactly these rows into the same tables, so
they do the load part of the job and nothing else: no parsing, no validation, no raw zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simple_etl.upsert import PERSON_COLUMNS
from tests.support.warehouse import Warehouse

PEOPLE_COLUMNS = f"{PERSON_COLUMNS}, first_seen_at, last_seen_at, first_batch_id, last_batch_id"
VISITS_COLUMNS = "batch_id, person_uuid, shard, visited_at"


@dataclass(frozen=True)
class Rows:
    """COPY text files of one batch's people and visits, in the same order (by person)."""

    people: Path
    visits: Path
    count: int


def dump(warehouse: Warehouse, folder: Path, count: int) -> Rows:
    rows = Rows(folder / f"people-{count}.copy", folder / f"visits-{count}.copy", count)
    conn = warehouse.server.connect(warehouse.dbname)
    try:
        with conn.cursor() as cur:
            for path, table, columns in (
                (rows.people, "warehouse.people", PEOPLE_COLUMNS),
                (rows.visits, "warehouse.visits", VISITS_COLUMNS),
            ):
                with open(path, "wb") as out:
                    cur.copy_expert(
                        f"COPY (SELECT {columns} FROM {table} ORDER BY person_uuid) TO STDOUT",  # noqa: S608
                        out,
                    )
    finally:
        conn.close()
    return rows
