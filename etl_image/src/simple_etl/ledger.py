"""The batch ledger (warehouse.batches): one row per batch shard.

The row is written before extraction starts (so a crash stays visible as "running")
and settled inside the load transaction, whose first act is to lock it: that row lock
is what makes two concurrent runs of one batch shard apply at most once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from psycopg2.extensions import connection, cursor

from simple_etl.errors import ConfigError


@dataclass
class Counts:
    pages: int = 0
    extracted: int = 0
    loaded: int = 0
    quarantined: int = 0
    new_people: int = 0
    returning_people: int = 0


def begin(conn: connection, batch_id: str, shard: int, shards: int, visited_at: datetime) -> int | None:
    """Record an attempt; None when this shard already succeeded (nothing to do)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT shards FROM warehouse.batches WHERE batch_id = %s AND shards <> %s",
            (batch_id, shards),
        )
        other = cur.fetchone()
        if other:
            raise ConfigError(
                f"batch {batch_id} was started with --shards {other[0]}; re-run it with the same fan-out"
            )
        cur.execute(
            """
            INSERT INTO warehouse.batches AS b
                (batch_id, shard, shards, status, visited_at, started_at)
            VALUES (%s, %s, %s, 'running', %s, clock_timestamp())
            ON CONFLICT (batch_id, shard) DO UPDATE
                SET status = 'running', attempts = b.attempts + 1, started_at = clock_timestamp(),
                    finished_at = NULL, error = NULL
                WHERE b.status <> 'succeeded'
            RETURNING attempts
            """,
            (batch_id, shard, shards, visited_at),
        )
        row = cur.fetchone()
        return row[0] if row else None


def lock(cur: cursor, batch_id: str, shard: int) -> str:
    """Inside the load transaction: wait for any concurrent attempt, return the status."""
    cur.execute(
        "SELECT status FROM warehouse.batches WHERE batch_id = %s AND shard = %s FOR UPDATE",
        (batch_id, shard),
    )
    row = cur.fetchone()
    return row[0] if row else "missing"


def succeed(cur: cursor, batch_id: str, shard: int, counts: Counts) -> None:
    cur.execute(
        """
        UPDATE warehouse.batches
           SET status = 'succeeded', finished_at = clock_timestamp(), pages = %(pages)s,
               extracted = %(extracted)s, loaded = %(loaded)s, quarantined = %(quarantined)s,
               new_people = %(new_people)s, returning_people = %(returning_people)s
         WHERE batch_id = %(batch_id)s AND shard = %(shard)s
        """,
        {**asdict(counts), "batch_id": batch_id, "shard": shard},
    )


def fail(conn: connection, batch_id: str, shard: int, error: str) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            UPDATE warehouse.batches SET status = 'failed', finished_at = clock_timestamp(), error = %s
             WHERE batch_id = %s AND shard = %s AND status = 'running'
            """,
            (error[:2000], batch_id, shard),
        )
