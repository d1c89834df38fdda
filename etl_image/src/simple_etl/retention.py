"""Retention: what is older than its window goes, whole batch shards at a time, never
racing a load.

Age is a batch's planned visit time (warehouse.batches.visited_at), not when its rows
were written: a backfill ages like the interval it loaded.

- Raw window (SIMPLE_ETL_RAW_RETENTION_DAYS): the raw pages of older batch shards go.
- Visit window (SIMPLE_ETL_VISIT_RETENTION_DAYS): older batch shards are retired whole:
  visits, quarantined records, any raw pages left, attempts and the ledger row, and the
  plan once none of its shards is left. reporting.batches then lists only batches whose
  visits it can still classify, instead of showing retired ones with no new and no
  returning visitors.
- People stay: they are bounded by the pool, and they keep first_seen_at and
  first_batch_id, so a person whose first visit is gone stays "returning"
  (warehouse.classified_visits), never new again. The quality gate holds to a visit
  only people whose latest batch is still kept (people_have_visits). Removing people
  would also make Postgres prove, per person, that no visit references them: a scan of
  visits each, as no index on visits leads with person_uuid (0006).
- The latest batch, the one `simple-etl check` checks by default, is never touched, so
  the gate right after retention still sees a whole batch.

Locking follows the load's rules (ledger.py). A batch shard is touched only while
retention holds its ledger row, and only when that row is not `running`; the row is
taken with SKIP LOCKED, as is every other row retention deletes (attempts, plans).
Retention therefore never waits on a load: a row a load holds is left for the next run
(the summary's `left`). A load only ever waits for one short retention
transaction, so no cycle (deadlock) can form.

Each transaction takes whole batch shards, up to SIMPLE_ETL_RETENTION_CHUNK_RECORDS
records by the ledger's counts, or one shard when a shard alone is larger (what one load
transaction wrote): no reader ever sees half a batch. A stopped run keeps what it
committed; the next run carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg2.extensions import connection, cursor

from simple_etl import db, quality
from simple_etl.config import Settings
from simple_etl.log import JsonLogger

# Keyset start: every batch shard sorts after it.
BEFORE_ALL = (datetime(1, 1, 1, tzinfo=UTC), "", -1)

# The next batch shard (in age order, after the keyset position) whose raw pages are
# past the raw window. Only succeeded shards have raw pages: a failed load rolled back.
NEXT_RAW_SHARD = """
SELECT b.batch_id, b.shard, b.visited_at, coalesce(b.extracted, 0)
  FROM warehouse.batches b
 WHERE b.visited_at < %(before)s AND b.status = 'succeeded' AND b.batch_id <> %(keep)s
   AND (b.visited_at, b.batch_id, b.shard) > (%(at)s, %(batch_id)s, %(shard)s)
   AND EXISTS (SELECT 1 FROM raw.pages r WHERE r.batch_id = b.batch_id AND r.shard = b.shard)
 ORDER BY b.visited_at, b.batch_id, b.shard
 LIMIT 1
   FOR NO KEY UPDATE OF b SKIP LOCKED
"""

# The next batch shard past the visit window that no attempt is running. FOR UPDATE:
# the row itself goes, and a concurrent first attempt of it waits for this transaction.
NEXT_EXPIRED_SHARD = """
SELECT b.batch_id, b.shard, b.visited_at, coalesce(b.extracted, 0)
  FROM warehouse.batches b
 WHERE b.visited_at < %(before)s AND b.status <> 'running' AND b.batch_id <> %(keep)s
   AND (b.visited_at, b.batch_id, b.shard) > (%(at)s, %(batch_id)s, %(shard)s)
 ORDER BY b.visited_at, b.batch_id, b.shard
 LIMIT 1
   FOR UPDATE OF b SKIP LOCKED
"""

# True when this transaction holds every attempt row of the shard. Another run's start
# may hold one (ledger.SETTLE_ABANDONED settles stale attempts of any batch); waiting for
# it could close a cycle, so such a shard is left for the next run.
LOCK_ATTEMPTS = """
WITH held AS (
    SELECT 1 FROM warehouse.batch_attempts
     WHERE batch_id = %(batch_id)s AND shard = %(shard)s
       FOR UPDATE SKIP LOCKED
)
SELECT (SELECT count(*) FROM held) =
       (SELECT count(*) FROM warehouse.batch_attempts WHERE batch_id = %(batch_id)s AND shard = %(shard)s)
"""

# Children first: every table that references the ledger row, then the row.
RETIRE_SHARD = {
    "visits": "DELETE FROM warehouse.visits WHERE batch_id = %(batch_id)s AND shard = %(shard)s",
    "quarantine": "DELETE FROM warehouse.quarantine WHERE batch_id = %(batch_id)s AND shard = %(shard)s",
    "raw_pages": "DELETE FROM raw.pages WHERE batch_id = %(batch_id)s AND shard = %(shard)s",
    "batch_attempts": (
        "DELETE FROM warehouse.batch_attempts WHERE batch_id = %(batch_id)s AND shard = %(shard)s"
    ),
    "batches": "DELETE FROM warehouse.batches WHERE batch_id = %(batch_id)s AND shard = %(shard)s",
}

# Plans past the visit window with no shard left (those retired now, and any an earlier
# run could not lock). A starting attempt holds its plan (its ledger row's foreign key),
# so SKIP LOCKED passes it by.
LOCK_EMPTY_PLANS = """
SELECT p.batch_id FROM warehouse.batch_plans p
 WHERE p.visited_at < %(before)s AND p.batch_id <> %(keep)s
   AND NOT EXISTS (SELECT 1 FROM warehouse.batches b WHERE b.batch_id = p.batch_id)
   FOR UPDATE OF p SKIP LOCKED
"""
# A second statement, so a second snapshot: a shard committed between the first one's
# snapshot and its lock is seen, and its plan kept (the foreign key would refuse anyway).
DELETE_EMPTY_PLANS = """
DELETE FROM warehouse.batch_plans p
 WHERE p.batch_id = ANY(%(locked)s)
   AND NOT EXISTS (SELECT 1 FROM warehouse.batches b WHERE b.batch_id = p.batch_id)
"""

# What is still past a window after the run: shards running or held by a load, the
# latest batch. The next run takes them.
LEFT = """
SELECT
    (SELECT count(*) FROM warehouse.batches b
      WHERE b.visited_at < %(raw_before)s AND b.visited_at >= %(visits_before)s
        AND EXISTS (SELECT 1 FROM raw.pages r WHERE r.batch_id = b.batch_id AND r.shard = b.shard)),
    (SELECT count(*) FROM warehouse.batches WHERE visited_at < %(visits_before)s)
"""


@dataclass
class Removed:
    """Rows removed, per table."""

    raw_pages: int = 0
    visits: int = 0
    quarantine: int = 0
    batch_attempts: int = 0
    batches: int = 0
    batch_plans: int = 0

    def add(self, table: str, rows: int) -> None:
        setattr(self, table, getattr(self, table) + rows)

    def by_table(self) -> dict[str, int]:
        schema = {"raw_pages": "raw.pages"}
        return {schema.get(name, f"warehouse.{name}"): rows for name, rows in asdict(self).items()}


@dataclass(frozen=True)
class Windows:
    """The cutoffs: what was visited before them is past its window."""

    raw_before: datetime
    visits_before: datetime

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> Windows:
        return cls(
            now - timedelta(days=settings.raw_retention_days),
            now - timedelta(days=settings.visit_retention_days),
        )


@dataclass
class _Run:
    conn: connection
    windows: Windows
    keep: str  # the latest batch, which the quality gate checks
    budget: int
    log: JsonLogger
    removed: Removed = field(default_factory=Removed)
    transactions: int = 0


def retain(conn: connection, settings: Settings, now: datetime, log: JsonLogger) -> dict[str, Any]:
    """Apply both windows as of `now`; the summary: cutoffs, rows removed, rows left."""
    started = time.monotonic()
    windows = Windows.at(now, settings)
    with db.database_errors("reading the ledger"), conn, conn.cursor() as cur:
        keep = quality.latest_batch(cur) or ""  # "": no batch id is empty (CHECK)
    run = _Run(conn, windows, keep, settings.retention_chunk_records, log)
    log.info(
        "retain.started",
        raw_before=windows.raw_before.isoformat(),
        visits_before=windows.visits_before.isoformat(),
        kept_batch=keep or None,
    )
    # Whole batches first: the raw phase then only trims the ones that stay.
    with db.database_errors("retiring batches past the visit window"):
        _by_shard(run, "batches", NEXT_EXPIRED_SHARD, windows.visits_before, _retire_shard)
    with db.database_errors("dropping raw pages past the raw window"):
        _by_shard(run, "raw", NEXT_RAW_SHARD, windows.raw_before, _drop_raw_pages)
    with db.database_errors("counting what is left"), conn, conn.cursor() as cur:
        cur.execute(LEFT, asdict(windows))
        raw_shards, shards = cur.fetchone()
    seconds = round(time.monotonic() - started, 3)
    summary = {
        "now": now.isoformat(),
        "raw_before": windows.raw_before.isoformat(),
        "visits_before": windows.visits_before.isoformat(),
        "removed": run.removed.by_table(),
        # Past a window but kept this time: a running or held batch shard, the latest batch.
        "left": {"raw_shards": raw_shards, "batch_shards": shards},
        "transactions": run.transactions,
        "seconds": seconds,
    }
    log.info("retain.finished", **summary)
    return summary


ShardAction = Callable[[cursor, str, int, Removed], bool]


def _by_shard(run: _Run, phase: str, next_shard: str, before: datetime, act: ShardAction) -> None:
    """Transactions of whole shards, oldest first, until no shard past `before` is free."""
    position = BEFORE_ALL
    while True:
        with run.conn, run.conn.cursor() as cur:
            removed = Removed()
            position, more, shards = _one_chunk(cur, run, next_shard, before, act, position, removed)
            if phase == "batches":
                removed.add("batch_plans", _drop_empty_plans(cur, before, run.keep))
        # Counted once committed: a rolled-back chunk removed nothing.
        for table, count in asdict(removed).items():
            run.removed.add(table, count)
        if shards or removed.batch_plans:
            run.transactions += 1
            nonzero = {table: count for table, count in removed.by_table().items() if count}
            run.log.info(f"retain.{phase}", shards=shards, **nonzero)
        if not more:
            return


def _one_chunk(
    cur: cursor,
    run: _Run,
    next_shard: str,
    before: datetime,
    act: ShardAction,
    position: tuple[datetime, str, int],
    removed: Removed,
) -> tuple[tuple[datetime, str, int], bool, int]:
    """Lock and act on shards after `position` up to the budget; (position, more, shards)."""
    used = shards = 0
    while True:
        at, batch_id, shard = position
        params = {"before": before, "keep": run.keep, "at": at, "batch_id": batch_id, "shard": shard}
        cur.execute(next_shard, params)
        row = cur.fetchone()
        if row is None:
            return position, False, shards
        batch_id, shard, visited_at, records = row
        if used and used + records > run.budget:
            # Locked but not taken: the next transaction starts with it.
            return position, True, shards
        position = (visited_at, batch_id, shard)
        if act(cur, batch_id, shard, removed):
            used += records
            shards += 1


def _drop_raw_pages(cur: cursor, batch_id: str, shard: int, removed: Removed) -> bool:
    cur.execute(RETIRE_SHARD["raw_pages"], {"batch_id": batch_id, "shard": shard})
    removed.add("raw_pages", cur.rowcount)
    return True


def _retire_shard(cur: cursor, batch_id: str, shard: int, removed: Removed) -> bool:
    key = {"batch_id": batch_id, "shard": shard}
    cur.execute(LOCK_ATTEMPTS, key)
    if not cur.fetchone()[0]:
        return False
    for table, statement in RETIRE_SHARD.items():
        cur.execute(statement, key)
        removed.add(table, cur.rowcount)
    return True


def _drop_empty_plans(cur: cursor, before: datetime, keep: str) -> int:
    cur.execute(LOCK_EMPTY_PLANS, {"before": before, "keep": keep})
    locked = [batch_id for (batch_id,) in cur.fetchall()]
    if not locked:
        return 0
    cur.execute(DELETE_EMPTY_PLANS, {"locked": locked})
    return cur.rowcount
