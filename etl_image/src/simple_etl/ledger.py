"""The batch ledger: the plan of each batch, one row per batch shard, one per attempt.

- warehouse.batch_plans: fixed atomically by a batch's first attempt (its shard count
  and visited_at); every later attempt reads it back and must agree.
- warehouse.batches: one row per batch shard, written before extraction starts and
  settled inside the load transaction, whose first act is to lock it: that row lock is
  what makes two concurrent runs of one batch shard apply at most once.
- warehouse.batch_attempts: one row per attempt with its lease, which a background
  thread renews from a connection of its own (Lease). The load never locks this row
  before it settles it, so the renewal never waits on the load. An attempt still
  `running` past its lease was abandoned (killed, disconnected): the next attempt of
  the shard records it failed, and the quality gate fails while it stays so.

New and returning visitors are not stored here: they follow from the visits by one rule
(warehouse.classified_visits), so no load order can make the ledger disagree with them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg2.extensions import connection, cursor

from simple_etl.errors import ConfigError

ABANDONED = "abandoned: lease expired"

# Every attempt, of any batch, still `running` past its lease is recorded failed, and so
# is its shard's ledger row if that attempt still owns it: a killed run nobody retries
# does not stay "running" forever. SKIP LOCKED: a row locked by a live load (whose
# renewal lapsed, a database hiccup) is left to that load, never waited on.
SETTLE_ABANDONED = """
WITH expired AS (
    SELECT batch_id, shard, attempt FROM warehouse.batch_attempts
     WHERE status = 'running' AND lease_until < clock_timestamp()
       FOR NO KEY UPDATE SKIP LOCKED
), attempts AS (
    UPDATE warehouse.batch_attempts a
       SET status = 'failed', finished_at = clock_timestamp(),
           error = %(abandoned)s || ' at ' || a.lease_until || ' (last heartbeat ' || a.heartbeat_at || ')'
      FROM expired e
     WHERE (a.batch_id, a.shard, a.attempt) = (e.batch_id, e.shard, e.attempt)
    RETURNING a.batch_id, a.shard, a.attempt, a.error
), owned AS (
    SELECT b.batch_id, b.shard, x.error
      FROM warehouse.batches b
      JOIN attempts x ON (b.batch_id, b.shard, b.attempts) = (x.batch_id, x.shard, x.attempt)
     WHERE b.status = 'running'
       FOR NO KEY UPDATE OF b SKIP LOCKED
)
UPDATE warehouse.batches b SET status = 'failed', finished_at = clock_timestamp(), error = o.error
  FROM owned o
 WHERE (b.batch_id, b.shard) = (o.batch_id, o.shard)
"""


@dataclass
class Counts:
    pages: int = 0
    extracted: int = 0
    loaded: int = 0
    quarantined: int = 0
    new_people: int = 0
    returning_people: int = 0
    identity_conflicts: int = 0  # of the quarantined: a known uuid with another identity


@dataclass(frozen=True)
class Attempt:
    number: int
    visited_at: datetime  # the plan's: the visits of every attempt carry the first one's


def begin(
    conn: connection,
    batch_id: str,
    shard: int,
    shards: int,
    visited_at: datetime | None,
    lease_seconds: int = 120,
) -> Attempt | None:
    """Record an attempt under the batch's plan; None when this shard already succeeded.

    `visited_at` is a proposal: the first attempt of the batch fixes it (None: now); a
    later attempt uses the planned one, and naming a different one is a ConfigError.
    Attempts running past their lease are recorded failed first (SETTLE_ABANDONED).
    """
    with conn, conn.cursor() as cur:
        planned_at = _plan(cur, batch_id, shards, visited_at)
        if shard >= shards:
            raise ConfigError(f"--shard {shard} is not a shard of --shards {shards}")
        cur.execute(SETTLE_ABANDONED, {"abandoned": ABANDONED})
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
            (batch_id, shard, shards, planned_at),
        )
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute(
            """
            INSERT INTO warehouse.batch_attempts
                (batch_id, shard, attempt, status, started_at, heartbeat_at, lease_until)
            VALUES (%s, %s, %s, 'running', clock_timestamp(), clock_timestamp(),
                    clock_timestamp() + make_interval(secs => %s))
            """,
            (batch_id, shard, row[0], lease_seconds),
        )
        return Attempt(row[0], planned_at)


def _plan(cur: cursor, batch_id: str, shards: int, visited_at: datetime | None) -> datetime:
    """Fix the batch's plan, or read the one its first attempt fixed; its visited_at.

    Insert-or-nothing, then read back in a second statement: under READ COMMITTED that
    statement sees the plan a racing first attempt committed while our insert waited on
    it (one statement would not: its snapshot predates the wait). So exactly one plan
    wins, and every other attempt compares itself with it.
    """
    cur.execute(
        """
        INSERT INTO warehouse.batch_plans (batch_id, shards, visited_at)
        VALUES (%s, %s, coalesce(%s, clock_timestamp()))
        ON CONFLICT (batch_id) DO NOTHING
        RETURNING visited_at
        """,
        (batch_id, shards, visited_at),
    )
    inserted = cur.fetchone()
    if inserted:
        return inserted[0]
    cur.execute("SELECT shards, visited_at FROM warehouse.batch_plans WHERE batch_id = %s", (batch_id,))
    planned_shards, planned_visited_at = cur.fetchone()
    if planned_shards != shards:
        raise ConfigError(
            f"batch {batch_id} was started with --shards {planned_shards}; "
            f"re-run it with --shards {planned_shards} (its plan is fixed)"
        )
    if visited_at is not None and visited_at != planned_visited_at:
        raise ConfigError(
            f"batch {batch_id} was planned with --visited-at {planned_visited_at.isoformat()}, "
            f"not {visited_at.isoformat()}; re-run it with that timestamp or without --visited-at"
        )
    return planned_visited_at


def lock(cur: cursor, batch_id: str, shard: int) -> str:
    """Inside the load transaction: wait for any concurrent attempt, return the status.

    NO KEY UPDATE is enough to serialise two loads, and unlike UPDATE it lets another
    run insert its attempt row (whose foreign key shares the key) meanwhile."""
    cur.execute(
        "SELECT status FROM warehouse.batches WHERE batch_id = %s AND shard = %s FOR NO KEY UPDATE",
        (batch_id, shard),
    )
    row = cur.fetchone()
    return row[0] if row else "missing"


def succeed(cur: cursor, batch_id: str, shard: int, attempt: int | None, counts: Counts) -> None:
    """Inside the load transaction: the shard and the attempt succeeded (attempt None: the
    shard's latest, for a caller that is the only one, like the benchmark)."""
    params = {**asdict(counts), "batch_id": batch_id, "shard": shard, "attempt": attempt}
    cur.execute(
        """
        UPDATE warehouse.batches
           SET status = 'succeeded', finished_at = clock_timestamp(), pages = %(pages)s,
               extracted = %(extracted)s, loaded = %(loaded)s, quarantined = %(quarantined)s,
               error = NULL
         WHERE batch_id = %(batch_id)s AND shard = %(shard)s
        RETURNING attempts
        """,
        params,
    )
    latest = cur.fetchone()[0]
    # Unconditionally: an attempt whose renewals lapsed (a database hiccup) may have been
    # recorded abandoned meanwhile; it did load, and the ledger says so.
    cur.execute(
        """
        UPDATE warehouse.batch_attempts
           SET status = 'succeeded', finished_at = clock_timestamp(), error = NULL
         WHERE batch_id = %s AND shard = %s AND attempt = %s
        """,
        (batch_id, shard, latest if attempt is None else attempt),
    )


def skip(conn: connection, batch_id: str, shard: int, attempt: int) -> None:
    """The attempt found its shard loaded by a concurrent attempt: it did nothing."""
    with conn, conn.cursor() as cur:
        _settle(cur, batch_id, shard, attempt, "skipped", "a concurrent attempt loaded this batch shard")


def fail(conn: connection, batch_id: str, shard: int, attempt: int, error: str) -> None:
    """Record the attempt failed; the shard's row too, unless a later attempt owns it."""
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            UPDATE warehouse.batches SET status = 'failed', finished_at = clock_timestamp(), error = %s
             WHERE batch_id = %s AND shard = %s AND status = 'running' AND attempts = %s
            """,
            (error[:2000], batch_id, shard, attempt),
        )
        _settle(cur, batch_id, shard, attempt, "failed", error[:2000])


def _settle(cur: cursor, batch_id: str, shard: int, attempt: int, status: str, error: str | None) -> None:
    cur.execute(
        """
        UPDATE warehouse.batch_attempts SET status = %s, finished_at = clock_timestamp(), error = %s
         WHERE batch_id = %s AND shard = %s AND attempt = %s AND status = 'running'
        """,
        (status, error, batch_id, shard, attempt),
    )


class Lease:
    """Renews an attempt's lease every lease_seconds / 3 from a thread and a connection of
    its own, so neither a long load nor a lock wait of the run can let it lapse while the
    process lives; a killed process stops renewing, and the lease runs out.

    A failed renewal (the database restarting) is reported and retried at the next tick
    on a fresh connection: the run itself decides whether the database is gone."""

    def __init__(
        self,
        connect: Callable[[], connection],
        batch_id: str,
        shard: int,
        attempt: int,
        lease_seconds: int,
        on_error: Callable[[str], Any],
    ) -> None:
        self._connect = connect
        self._key = (batch_id, shard, attempt)
        self._seconds = lease_seconds
        self._on_error = on_error
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="simple-etl-lease", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _renew(self) -> None:
        conn: connection | None = None
        try:
            while not self._stopped.wait(self._seconds / 3):
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    with conn, conn.cursor() as cur:
                        cur.execute(
                            """
                            UPDATE warehouse.batch_attempts
                               SET heartbeat_at = clock_timestamp(),
                                   lease_until = clock_timestamp() + make_interval(secs => %s)
                             WHERE batch_id = %s AND shard = %s AND attempt = %s AND status = 'running'
                            """,
                            (self._seconds, *self._key),
                        )
                except Exception as error:
                    self._on_error(str(error).strip().splitlines()[0] if str(error).strip() else repr(error))
                    if conn is not None:
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()
