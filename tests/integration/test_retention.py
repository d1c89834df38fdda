"""Acceptance (issue 13, items 1 and 2): `simple-etl retain` removes what is past its
windows and nothing inside them, reporting answers the same for the kept window, the
quality gate passes, and retention never races, blocks or deadlocks with a load."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest

from simple_etl import cli
from simple_etl.fakeapi import FakeApiServer, Faults
from tests.support.cli import Result, start
from tests.support.etl import EPOCH, Etl
from tests.support.warehouse import Warehouse, create_warehouse, drop_warehouse

DAY = timedelta(days=1)
CONFIG_ERROR = 2
# 100 visitors a batch from a pool of 1000: many return, some drop out of the window.
SMALL = {"SIMPLE_ETL_BATCH_SIZE": "100", "SIMPLE_ETL_PAGE_SIZE": "50", "SIMPLE_ETL_POOL_PAGES": "20"}
# A small chunk, so one run takes many transactions (a batch shard weighs 100 records).
WINDOWS = {
    "SIMPLE_ETL_RAW_RETENTION_DAYS": "7",
    "SIMPLE_ETL_VISIT_RETENTION_DAYS": "20",
    "SIMPLE_ETL_RETENTION_CHUNK_RECORDS": "250",
}

# Each table and view as rows of text (exact, and sortable), and the part of it that is
# inside the windows: what must survive retention unchanged.
ROWS = {
    "raw.pages": (
        "raw.pages t",
        "JOIN warehouse.batches b USING (batch_id, shard) WHERE b.visited_at >= %(raw)s",
    ),
    "warehouse.visits": ("warehouse.visits t", "WHERE t.visited_at >= %(visits)s"),
    "warehouse.quarantine": (
        "warehouse.quarantine t",
        "JOIN warehouse.batches b USING (batch_id, shard) WHERE b.visited_at >= %(visits)s",
    ),
    "warehouse.batches": ("warehouse.batches t", "WHERE t.visited_at >= %(visits)s"),
    "warehouse.batch_attempts": (
        "warehouse.batch_attempts t",
        "JOIN warehouse.batches b USING (batch_id, shard) WHERE b.visited_at >= %(visits)s",
    ),
    "warehouse.batch_plans": ("warehouse.batch_plans t", "WHERE t.visited_at >= %(visits)s"),
    # People stay, unchanged (bounded by the pool): first sightings keep who is new.
    "warehouse.people": ("warehouse.people t", ""),
    "reporting.visits": ("reporting.visits t", "WHERE t.visited_at >= %(visits)s"),
    "reporting.batches": ("reporting.batches t", "WHERE t.visited_at >= %(visits)s"),
}


def rows(warehouse: Warehouse, windows: dict[str, datetime] | None = None) -> dict[str, list[str]]:
    """Every row of each table; with `windows`, only the rows inside them."""
    found = {}
    for name, (source, kept) in ROWS.items():
        query = f"SELECT t::text FROM {source} {kept if windows else ''} ORDER BY 1"  # noqa: S608 - constants
        found[name] = [row for (row,) in warehouse.query(query, windows)]
    return found


def at(day: float) -> str:
    return (EPOCH + day * DAY).isoformat()


def load_days(etl: Etl, days: Iterable[int], **settings: str) -> None:
    """One batch a day through the CLI's own `run`, in this process: the setup of a month
    in child processes would spend most of this file's time starting interpreters."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("PG", "SIMPLE_ETL_"))]:
            patch.delenv(name)
        for name, value in {**etl.env, **SMALL, **settings}.items():
            patch.setenv(name, value)
        for day in days:
            assert cli.main(["run", "--batch-id", f"day-{day:02d}", "--visited-at", at(day)]) == 0


def retain(etl: Etl, now: datetime, **settings: str) -> Result:
    return etl("retain", "--now", now.isoformat(), **{**WINDOWS, **settings})


def wait_for(child, warehouse: Warehouse, query: str, never: str, seconds: float = 30) -> None:
    """Poll `query` until it returns a row, while the child still runs."""
    deadline = time.monotonic() + seconds
    while not warehouse.query(query):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, never
        time.sleep(0.02)


def unreconciled(warehouse: Warehouse) -> list[tuple]:
    """Succeeded batch shards whose visits or quarantine differ from their ledger counts."""
    return warehouse.query(
        """
        SELECT b.batch_id, b.shard FROM warehouse.batches b
         WHERE b.status = 'succeeded' AND (
               b.loaded <> (SELECT count(*) FROM warehouse.visits v
                             WHERE v.batch_id = b.batch_id AND v.shard = b.shard)
            OR b.quarantined <> (SELECT count(*) FROM warehouse.quarantine q
                                  WHERE q.batch_id = b.batch_id AND q.shard = b.shard))
        """
    )


def test_a_month_of_batches_keeps_its_windows_its_reporting_and_its_gate(etl):
    etl.api.faults = Faults(corrupt=1)  # one broken record a page: quarantine ages too
    load_days(etl, range(30))
    now = EPOCH + 30 * DAY
    windows = {"raw": now - 7 * DAY, "visits": now - 20 * DAY}
    before, kept = rows(etl.warehouse), rows(etl.warehouse, windows)
    assert all(kept[name] for name in kept) and kept != before, "both windows cut the data"

    result = retain(etl, now)

    assert result.exit_code == 0, result.stderr
    after = rows(etl.warehouse)
    assert after == kept, "rows outside the windows are gone, rows inside are unchanged"
    summary = result.summary
    assert summary["removed"] == {
        table: len(before[table]) - len(after[table]) for table in summary["removed"]
    }
    assert summary["removed"]["warehouse.batches"] == 10
    assert summary["left"] == {"raw_shards": 0, "batch_shards": 0}
    orphans = (
        "SELECT count(*) FROM warehouse.people p "
        "WHERE NOT EXISTS (SELECT 1 FROM warehouse.visits v WHERE v.person_uuid = p.person_uuid)"
    )
    assert etl.warehouse.scalar(orphans) > 0, "people whose visits were all retired stay"
    assert summary["transactions"] > 10, "whole shards in chunks, not one transaction"
    # reporting.visits kept is_new above; said plainly: a person whose first batch was
    # retired is returning on every visit left, never new again.
    first_gone = (
        "SELECT count(*), count(*) FILTER (WHERE c.is_new) FROM warehouse.classified_visits c "
        "JOIN warehouse.people p USING (person_uuid) "
        "WHERE NOT EXISTS (SELECT 1 FROM warehouse.batches b WHERE b.batch_id = p.first_batch_id)"
    )
    visits_of_them, new_among_them = etl.warehouse.query(first_gone)[0]
    assert visits_of_them > 0 and new_among_them == 0
    check = etl("check")
    assert check.exit_code == 0, check.stderr
    assert etl("check", "--batch-id", "day-29").exit_code == 0

    again = retain(etl, now)
    assert again.exit_code == 0 and set(again.summary["removed"].values()) == {0}
    assert rows(etl.warehouse) == kept, "a second run changes nothing"

    # Far past every window, the batch the gate checks (the latest) is all that is left.
    later = retain(etl, now + 400 * DAY)
    assert later.exit_code == 0, later.stderr
    assert later.summary["left"]["batch_shards"] == 1
    assert etl.warehouse.query("SELECT DISTINCT batch_id FROM warehouse.visits") == [("day-29",)]
    assert etl("check").exit_code == 0


def test_retention_passes_by_a_load_in_flight_and_neither_waits_for_the_other(etl):
    # A pool of 400: the new batch's visitors are mostly people whose visits all expire.
    pool = {"SIMPLE_ETL_POOL_PAGES": "8"}
    load_days(etl, range(6), **pool)
    etl.api.faults = Faults(schedule=("slow",), slow_seconds=1)  # time to catch the attempt
    wh = etl.warehouse
    holder = wh.server.connect(wh.dbname)
    try:
        child = start("run", "--batch-id", "day-30", "--visited-at", at(30), env={**etl.env, **SMALL, **pool})
        attempt = "SELECT 1 FROM warehouse.batch_attempts WHERE batch_id = 'day-30'"
        wait_for(child, wh, attempt, "the run never began")
        with holder.cursor() as cur:  # the load will wait here to settle its attempt
            cur.execute(attempt + " FOR UPDATE")
        waiting = (
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'simple-etl run' "
            "AND wait_event_type = 'Lock'"
        )
        wait_for(child, wh, waiting, "the load never reached its commit")
        # The load's transaction now holds its ledger row and every person it visited.
        started = time.monotonic()
        retained = retain(
            etl, EPOCH + 30 * DAY, SIMPLE_ETL_VISIT_RETENTION_DAYS="10", SIMPLE_ETL_LOCK_TIMEOUT="5"
        )
        seconds = time.monotonic() - started
        holder.rollback()
        stdout, stderr = child.communicate(timeout=60)
    finally:
        holder.close()
    loaded = Result(child.returncode, stdout, stderr)

    assert retained.exit_code == 0, retained.stderr
    assert seconds < 5, f"retention waited {seconds:.1f} s on the load"
    removed, left = retained.summary["removed"], retained.summary["left"]
    assert removed["warehouse.batches"] == 6
    assert loaded.exit_code == 0, stderr
    returning = loaded.summary["returning_people"]
    assert returning > 0
    assert left == {"raw_shards": 0, "batch_shards": 0}
    assert (
        wh.scalar("SELECT count(*) FROM warehouse.visits WHERE batch_id = 'day-30'")
        == loaded.summary["loaded"]
    )
    assert wh.query("SELECT new_people, returning_people FROM reporting.batches") == [
        (loaded.summary["new_people"], returning)
    ], "returning visitors whose earlier visits were retired stay returning"
    assert etl("check").exit_code == 0
    again = retain(etl, EPOCH + 30 * DAY, SIMPLE_ETL_VISIT_RETENTION_DAYS="10")
    assert set(again.summary["removed"].values()) == {0} and set(again.summary["left"].values()) == {0}


def test_a_backfill_still_extracting_is_not_retired_under_it(etl):
    # An old interval re-run: its ledger row is `running`, and no lock guards it while it
    # extracts. A newer batch then becomes the latest, so only the rule protects it.
    load_days(etl, range(2))
    etl.api.faults = Faults(schedule=("slow",), slow_seconds=3)
    wh = etl.warehouse
    backfill = start("run", "--batch-id", "day-03", "--visited-at", at(3), env={**etl.env, **SMALL})
    running = "SELECT 1 FROM warehouse.batches WHERE batch_id = 'day-03' AND status = 'running'"
    wait_for(backfill, wh, running, "the backfill never began")
    load_days(etl, [30])
    retained = retain(etl, EPOCH + 30 * DAY)
    assert backfill.poll() is None, "the backfill was still extracting while retention ran"
    _, stderr = backfill.communicate(timeout=60)

    assert retained.exit_code == 0, retained.stderr
    assert retained.summary["removed"]["warehouse.batches"] == 2  # day-00 and day-01
    assert retained.summary["left"]["batch_shards"] == 1  # the backfill, left for the next run
    assert backfill.returncode == 0, stderr
    assert unreconciled(wh) == [] and wh.scalar("SELECT count(*) FROM warehouse.batches") == 2
    assert etl("check", "--batch-id", "day-03").exit_code == 0


def test_loads_and_retention_running_together_both_finish_and_lose_no_visit(etl):
    load_days(etl, range(10))
    shrinking = {**WINDOWS, "SIMPLE_ETL_RAW_RETENTION_DAYS": "2", "SIMPLE_ETL_VISIT_RETENTION_DAYS": "4"}
    shrinking["SIMPLE_ETL_RETENTION_CHUNK_RECORDS"] = "1"  # a transaction per batch shard
    retained: list[Result] = []
    spans: dict[str, list[tuple[float, float]]] = {"retain": [], "run": []}

    def timed(kind: str, *args: str, **settings: str) -> Result:
        started = time.monotonic()
        result = etl(*args, **settings)
        spans[kind].append((started, time.monotonic()))
        return result

    def retain_day_after_day() -> None:
        for day in range(5, 12):  # each run a day later: a day more to retire
            retained.append(timed("retain", "retain", "--now", at(day), **shrinking))

    retention = threading.Thread(target=retain_day_after_day)
    retention.start()
    loads = [
        timed("run", "run", "--batch-id", f"day-{day}", "--visited-at", at(day), **SMALL)
        for day in range(20, 26)
    ]
    retention.join()

    overlapping = [
        (mine, theirs)
        for mine in spans["retain"]
        for theirs in spans["run"]
        if mine[0] < theirs[1] and theirs[0] < mine[1]
    ]
    assert len(overlapping) >= 3, "the loads and the retention runs did not run at the same time"
    assert [r.exit_code for r in loads] == [0] * 6, [r.stderr for r in loads if r.exit_code]
    assert [r.exit_code for r in retained] == [0] * 7, [r.stderr for r in retained if r.exit_code]
    assert sum(r.summary["removed"]["warehouse.batches"] for r in retained) > 0
    assert unreconciled(etl.warehouse) == [], "every batch left has all its visits"
    for load in loads:
        assert etl("check", "--batch-id", load.summary["batch_id"]).exit_code == 0
    final = etl("retain", "--now", at(26), **shrinking)
    assert final.exit_code == 0 and set(final.summary["left"].values()) == {0}
    days = etl.warehouse.query("SELECT DISTINCT batch_id FROM warehouse.visits ORDER BY 1")
    assert days == [(f"day-{day}",) for day in (22, 23, 24, 25)]


@pytest.mark.parametrize(
    ("args", "settings", "message"),
    [
        ((), {"SIMPLE_ETL_VISIT_RETENTION_DAYS": "0"}, "SIMPLE_ETL_VISIT_RETENTION_DAYS=0 must be between 1"),
        ((), {"SIMPLE_ETL_RAW_RETENTION_DAYS": "a week"}, "SIMPLE_ETL_RAW_RETENTION_DAYS='a week' is not"),
        (
            (),
            {"SIMPLE_ETL_RAW_RETENTION_DAYS": "30", "SIMPLE_ETL_VISIT_RETENTION_DAYS": "7"},
            "SIMPLE_ETL_RAW_RETENTION_DAYS=30 must not exceed SIMPLE_ETL_VISIT_RETENTION_DAYS=7",
        ),
        ((), {"SIMPLE_ETL_RETENTION_CHUNK_RECORDS": "-5"}, "SIMPLE_ETL_RETENTION_CHUNK_RECORDS='-5' is not"),
        (("--now", "2026-03-01T00:00:00"), {}, "--now: '2026-03-01T00:00:00' has no time zone"),
        (("--now", "yesterday"), {}, "--now: 'yesterday' is not an ISO-8601 timestamp"),
    ],
)
def test_bad_settings_exit_2_with_one_line_and_delete_nothing(two_days, args, settings, message):
    before = rows(two_days.warehouse)
    result = two_days("retain", *(args or ("--now", at(400))), **settings)
    assert result.exit_code == CONFIG_ERROR, result.stderr
    assert message in result.error and result.stdout == ""
    assert rows(two_days.warehouse) == before


def test_the_same_warehouse_with_good_settings_is_retained(two_days):
    result = two_days("retain", "--now", at(400))
    assert result.exit_code == 0, result.stderr
    assert result.summary["removed"]["warehouse.batches"] == 1  # day-00; day-01 is the gate's batch


@pytest.fixture(scope="module")
def two_days(pg_server, pg_roles):
    """Two loaded days past every default window, shared by the bad-settings cases."""
    warehouse = create_warehouse(pg_server, pg_roles)
    try:
        with FakeApiServer(faults=Faults(), rate_limit=None) as api:
            etl = Etl(warehouse, api)
            assert etl("migrate").exit_code == 0
            load_days(etl, range(2))
            yield etl
    finally:
        drop_warehouse(warehouse)
