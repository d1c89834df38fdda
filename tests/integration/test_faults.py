"""Acceptance: a database crash mid-load, and concurrent runs of one batch."""

import json
import time

from tests.integration.test_run import snapshot
from tests.support.cli import simple_etl, start
from tests.support.etl import Etl

LOAD_ERROR = 4


def wait_for_blocked_loads(warehouse, count, timeout=60):
    """Until `count` ETL sessions wait on a lock inside their load transaction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = warehouse.scalar(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'simple-etl run' AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} loads reached the lock")


def hold_people_lock(warehouse):
    """Stall every load at its first people upsert, in the middle of its transaction."""
    conn = warehouse.server.connect(warehouse.dbname)
    conn.cursor().execute("LOCK TABLE warehouse.people IN ACCESS EXCLUSIVE MODE")
    return conn


def test_database_stopped_mid_load_then_rerun_equals_a_clean_run(etl, warehouse_factory, fake_api):
    server = etl.warehouse.server
    lock = hold_people_lock(etl.warehouse)
    run = start("run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"), env=etl.env)
    wait_for_blocked_loads(etl.warehouse, 1)
    # Nothing of the load is visible outside its transaction.
    assert etl.warehouse.scalar("SELECT count(*) FROM raw.pages") == 0
    server.stop("immediate")
    lock.close()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == LOAD_ERROR, stderr
    assert "loading the batch failed" in stderr
    server.start()
    server.wait_ready()

    rerun = etl.run("batch-1")
    assert rerun.exit_code == 0, rerun.stderr
    assert etl.warehouse.scalar("SELECT attempts FROM warehouse.batches") == 2

    clean = warehouse_factory()
    assert simple_etl("migrate", env=clean.env()).exit_code == 0
    assert Etl(clean, fake_api).run("batch-1").exit_code == 0
    assert snapshot(etl.warehouse) == snapshot(clean)


def test_concurrent_runs_of_one_batch_apply_once(etl):
    lock = hold_people_lock(etl.warehouse)
    runs = [
        start("run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"), env=etl.env)
        for _ in range(2)
    ]
    wait_for_blocked_loads(etl.warehouse, 2)
    lock.commit()
    lock.close()
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    statuses = sorted(json.loads(out.splitlines()[-1])["status"] for out, _ in outputs)
    assert statuses == ["skipped", "succeeded"]
    counts = etl.warehouse.table_counts()
    assert etl.warehouse.raw_records() == counts["warehouse.visits"] == counts["warehouse.people"] == 5000
