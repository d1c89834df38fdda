"""A ledger that cannot lie (issue 16 points 2, 4 and 10).

- The shard plan of a batch is fixed atomically by its first attempt: racing runs with
  different --shards can never both proceed.
- The plan fixes visited_at too: a retry stamps its visits with the first attempt's.
- A running attempt holds a lease renewed from its own connection; a killed run's
  lease runs out, the quality gate fails on it, and the next attempt records it failed.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from simple_etl import ledger
from simple_etl.config import Settings
from simple_etl.errors import ConfigError, SourceError
from simple_etl.fakeapi import Faults
from simple_etl.log import JsonLogger
from simple_etl.pipeline import BatchRequest, run_batch
from tests.support.cli import start
from tests.support.etl import Etl
from tests.support.load import VISITED_AT
from tests.support.warehouse import at_older_schema

CONFIG_ERROR = 4 - 2
QUALITY_FAILED = 5
SMALL = {"SIMPLE_ETL_BATCH_SIZE": "1000", "SIMPLE_ETL_PAGE_SIZE": "250", "SIMPLE_ETL_POOL_PAGES": "8"}


def test_racing_first_attempts_with_different_shards_cannot_both_proceed(etl):
    # Both begins run while a third session holds the ledger table: each gets as far as
    # it can, then both are released together, the widest window a race can have.
    wh = etl.warehouse
    holder = wh.server.connect(wh.dbname)
    outcomes: dict[int, object] = {}

    def begin(shards: int) -> None:
        conn = wh.server.connect(wh.dbname, wh.etl)
        try:
            outcomes[shards] = ledger.begin(conn, "batch-1", 0, shards, VISITED_AT)
        except ConfigError as error:
            outcomes[shards] = error
        finally:
            conn.close()

    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE warehouse.batches IN SHARE ROW EXCLUSIVE MODE")
            racers = [threading.Thread(target=begin, args=(shards,)) for shards in (1, 2)]
            for racer in racers:
                racer.start()
                time.sleep(0.3)  # the first racer is inside begin before the second starts
        holder.rollback()
    finally:
        holder.close()
    for racer in racers:
        racer.join(timeout=30)

    assert isinstance(outcomes[1], ledger.Attempt), outcomes
    assert isinstance(outcomes[2], ConfigError), outcomes
    assert "was started with --shards 1" in str(outcomes[2])
    assert wh.query("SELECT shard, shards FROM warehouse.batches") == [(0, 1)]
    assert wh.query("SELECT shards FROM warehouse.batch_plans") == [(1,)]


def test_racing_runs_with_different_shards_load_one_plan(etl):
    at = ("--visited-at", etl.visit_time("batch-1"))
    children = [
        start("run", "--batch-id", "batch-1", *at, "--shards", "1", env={**etl.env, **SMALL}),
        start("run", "--batch-id", "batch-1", *at, "--shards", "2", "--shard", "0", env={**etl.env, **SMALL}),
    ]
    done = [(child.wait(timeout=120), child.communicate()) for child in children]
    codes = sorted(code for code, _ in done)
    assert codes == [0, CONFIG_ERROR], done
    (_, (_, loser_stderr)) = next(item for item in done if item[0] == CONFIG_ERROR)
    planned = etl.warehouse.scalar("SELECT shards FROM warehouse.batch_plans")
    assert f"was started with --shards {planned}" in loser_stderr
    # Whatever won, the ledger describes what was loaded, and the other shard (if any) can load.
    if planned == 2:
        assert etl.run("batch-1", "--shards", "2", "--shard", "1", **SMALL).exit_code == 0
    check = etl("check", "--batch-id", "batch-1")
    assert check.exit_code == 0, check.stderr
    assert etl.warehouse.scalar("SELECT sum(loaded) FROM warehouse.batches") == 1000


def test_a_retry_without_visited_at_keeps_the_first_attempts_for_the_ledger_and_the_visits(etl, monkeypatch):
    # run_batch in-process with visited_at None: what `run` without --visited-at asks for
    # (cli.py fills in "now" before the pipeline sees it; see the report).
    for name, value in etl.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    log = JsonLogger("WARNING")
    first = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    etl.api.faults = Faults(schedule=("500",) * 50)
    with pytest.raises(SourceError):
        run_batch(
            Settings.from_env({**etl.env, "SIMPLE_ETL_MAX_RETRIES": "0"}),
            BatchRequest("batch-1", 0, 1, first),
            log,
        )
    etl.api.faults = Faults()
    summary = run_batch(settings, BatchRequest("batch-1", 0, 1, None), log)
    assert summary["status"] == "succeeded"
    wh = etl.warehouse
    assert wh.query("SELECT status, attempts, visited_at FROM warehouse.batches") == [("succeeded", 2, first)]
    assert wh.query("SELECT DISTINCT visited_at FROM warehouse.visits") == [(first,)]
    assert wh.query("SELECT attempt, status FROM warehouse.batch_attempts ORDER BY 1") == [
        (1, "failed"),
        (2, "succeeded"),
    ]


def fail_the_first_attempt(etl, visited_at: str) -> None:
    """batch-1's first attempt plans `visited_at` and fails at the source (exit 3); the
    source then recovers for the retry."""
    etl.api.faults = Faults(schedule=("500",) * 50)
    failed = etl(
        "run", "--batch-id", "batch-1", "--visited-at", visited_at, SIMPLE_ETL_MAX_RETRIES="0", **SMALL
    )
    assert failed.exit_code == 3, failed.stderr
    etl.api.faults = Faults()


def test_a_retry_with_another_visited_at_is_refused_naming_both(etl):
    first = "2026-03-01T12:00:00+00:00"
    fail_the_first_attempt(etl, first)
    other = "2026-03-01T12:05:00+00:00"
    refused = etl("run", "--batch-id", "batch-1", "--visited-at", other, **SMALL)
    assert refused.exit_code == CONFIG_ERROR, refused.stderr
    assert "2026-03-01T12:00:00+00:00" in refused.error and other in refused.error
    # The same instant in another zone is the same plan.
    same = etl("run", "--batch-id", "batch-1", "--visited-at", "2026-03-01T13:00:00+01:00", **SMALL)
    assert same.exit_code == 0, same.stderr


def test_a_run_outliving_its_lease_keeps_it_renewed(etl):
    # 10 s lease (the minimum), renewed every 3.3 s; the run takes about 13 s.
    etl.api.faults = Faults(schedule=("slow",) * 4, slow_seconds=3.3)
    child = start(
        "run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"),
        env={**etl.env, **SMALL, "SIMPLE_ETL_LEASE_SECONDS": "10", "SIMPLE_ETL_HTTP_TIMEOUT": "30"},
    )  # fmt: skip
    started = time.monotonic()
    renewals = set()
    while child.poll() is None:
        rows = etl.warehouse.query(
            "SELECT heartbeat_at, lease_until > now() FROM warehouse.batch_attempts WHERE status = 'running'"
        )
        for heartbeat_at, alive in rows:
            assert alive, "the lease of a live run expired"
            renewals.add(heartbeat_at)
        time.sleep(0.5)
    _stdout, stderr = child.communicate()
    assert child.returncode == 0, stderr
    assert time.monotonic() - started > 11, "the run was shorter than its lease; the test proves nothing"
    assert len(renewals) >= 3, renewals
    assert etl("check", "--batch-id", "batch-1").exit_code == 0


def test_a_killed_run_is_seen_abandoned_by_the_gate_and_recorded_by_the_next_attempt(etl):
    lease = {"SIMPLE_ETL_LEASE_SECONDS": "10"}
    assert etl.run("batch-0", **SMALL, **lease).exit_code == 0  # a sound earlier batch
    etl.api.faults = Faults(schedule=("slow",) * 20, slow_seconds=60)
    child = start(
        "run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"),
        env={**etl.env, **SMALL, **lease, "SIMPLE_ETL_HTTP_TIMEOUT": "120"},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not etl.warehouse.query("SELECT 1 FROM warehouse.batch_attempts WHERE status = 'running'"):
        assert time.monotonic() < deadline and child.poll() is None, "the run never started"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    etl.api.faults = Faults()

    until = etl.warehouse.scalar("SELECT lease_until FROM warehouse.batch_attempts WHERE status = 'running'")
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    # The gate of any batch fails on it, naming it; the dashboards show it failed.
    gate = etl("check", "--batch-id", "batch-0")
    assert gate.exit_code == QUALITY_FAILED
    assert "no_abandoned_attempts: 1 attempts running past their lease" in gate.error
    assert "batch-1 shard 0" in gate.error
    status, error = etl.warehouse.query(
        "SELECT status, error FROM reporting.batches WHERE batch_id = 'batch-1'"
    )[0]
    assert status == "failed" and error.startswith("abandoned: lease expired")

    rerun = etl.run("batch-1", **SMALL, **lease)
    assert rerun.exit_code == 0, rerun.stderr
    attempts = etl.warehouse.query(
        "SELECT attempt, status, error FROM warehouse.batch_attempts WHERE batch_id = 'batch-1' ORDER BY 1"
    )
    assert [(a, s) for a, s, _ in attempts] == [(1, "failed"), (2, "succeeded")]
    assert attempts[0][2].startswith("abandoned: lease expired at ")
    assert etl("check", "--batch-id", "batch-1").exit_code == 0


def test_an_abandoned_attempt_nobody_retries_is_settled_by_the_next_run_of_any_batch(etl):
    wh = etl.warehouse
    conn = wh.server.connect(wh.dbname, wh.etl)
    try:
        ledger.begin(conn, "batch-1", 0, 1, VISITED_AT, lease_seconds=10)
    finally:
        conn.close()
    # The lease is the only thing that moved: as if the process died 11 s ago.
    wh.query("UPDATE warehouse.batch_attempts SET lease_until = now() - interval '1 second'")
    assert etl.run("batch-2", **SMALL).exit_code == 0
    assert wh.query("SELECT batch_id, status FROM warehouse.batches ORDER BY 1") == [
        ("batch-1", "failed"),
        ("batch-2", "succeeded"),
    ]
    error = wh.scalar("SELECT error FROM warehouse.batches WHERE batch_id = 'batch-1'")
    assert error.startswith("abandoned: lease expired")


def test_a_failure_is_recorded_on_a_fresh_connection_when_the_runs_own_died(etl):
    # The load's backend is terminated mid-load (as a database restart would): the run's
    # connection is dead, yet the ledger records the failure.
    etl.api.faults = Faults(schedule=("slow",) * 2, slow_seconds=0.1)
    wh = etl.warehouse
    child = start(
        "run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"), env={**etl.env, **SMALL}
    )
    deadline = time.monotonic() + 30
    while not wh.query("SELECT 1 FROM warehouse.batch_attempts WHERE status = 'running'"):
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.02)
    # Lock the people table so the load waits where we can see it, then kill its backend.
    holder = wh.server.connect(wh.dbname)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE warehouse.people IN ACCESS EXCLUSIVE MODE")
            while not wh.query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'simple-etl run' "
                "AND wait_event_type = 'Lock'"
            ):
                assert time.monotonic() < deadline and child.poll() is None, child.communicate()
                time.sleep(0.02)
            wh.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'simple-etl run' AND wait_event_type = 'Lock'"
            )
        holder.rollback()
    finally:
        holder.close()
    _stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 4, stderr
    status, error = wh.query("SELECT status, error FROM warehouse.batches")[0]
    assert status == "failed", "the failure was not recorded"
    assert error.startswith("load: loading the batch failed")
    assert etl.run("batch-1", **SMALL).exit_code == 0


def test_attempt_rows_are_kept_for_the_dashboards_history(etl):
    assert etl.run("batch-1", **SMALL).exit_code == 0
    row = etl.warehouse.query(
        "SELECT status, new_people, returning_people, lease_until > started_at FROM reporting.batches"
    )
    assert row == [("succeeded", 1000, 0, True)]
    assert timedelta(0) <= etl.warehouse.scalar(
        "SELECT finished_at - started_at FROM warehouse.batch_attempts"
    )


def test_a_warehouse_of_an_older_image_upgrades_with_its_ledger(warehouse, fake_api):
    # Migrations 0001-0003 as the previous image applied them, a batch loaded and one
    # stuck running since an hour: the upgrade plans both and leases the stuck one out.
    with at_older_schema(warehouse, below=4) as cur:
        cur.execute(
            "INSERT INTO warehouse.batches (batch_id, shard, shards, status, visited_at, started_at, "
            "finished_at, new_people, returning_people) VALUES "
            "('old-1', 0, 1, 'succeeded', '2025-12-31 23:55Z', now() - interval '2 hours', "
            " now() - interval '2 hours', 0, 0), "
            "('old-2', 1, 2, 'running', '2026-01-01Z', now() - interval '1 hour', NULL, NULL, NULL)"
        )
    etl = Etl(warehouse, fake_api)
    migrated = etl("migrate")
    assert migrated.exit_code == 0, migrated.stderr
    assert warehouse.query("SELECT batch_id, shards FROM warehouse.batch_plans ORDER BY 1") == [
        ("old-1", 1),
        ("old-2", 2),
    ]
    assert warehouse.query("SELECT batch_id, attempt, status FROM warehouse.batch_attempts ORDER BY 1") == [
        ("old-1", 1, "succeeded"),
        ("old-2", 1, "running"),
    ]
    assert warehouse.query("SELECT status FROM reporting.batches WHERE batch_id = 'old-2'") == [("failed",)]
    gate = etl("check", "--batch-id", "old-1")
    assert gate.exit_code == QUALITY_FAILED and "old-2 shard 1" in gate.error
    # The old plan holds: its other shard must keep the fan-out.
    refused = etl.run("old-2", "--shard", "0", "--shards", "1", **SMALL)
    assert refused.exit_code == CONFIG_ERROR and "--shards 2" in refused.error
    assert etl.run("old-2", "--shard", "0", "--shards", "2", **SMALL).exit_code == 0
    assert warehouse.query(
        "SELECT shard, status FROM warehouse.batches WHERE batch_id = 'old-2' ORDER BY 1"
    ) == [
        (0, "succeeded"),
        (1, "failed"),
    ]


def test_a_cli_retry_without_visited_at_uses_the_planned_one(etl):
    first = "2026-03-01T12:00:00+00:00"
    fail_the_first_attempt(etl, first)
    retry = etl("run", "--batch-id", "batch-1", **SMALL)
    assert retry.exit_code == 0, retry.stderr
    planned = datetime.fromisoformat(first)
    assert etl.warehouse.query("SELECT visited_at FROM warehouse.batches") == [(planned,)]
    assert etl.warehouse.query("SELECT DISTINCT visited_at FROM warehouse.visits") == [(planned,)]
