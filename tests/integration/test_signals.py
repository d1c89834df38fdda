"""Acceptance: a stopped run (Kubernetes' SIGTERM, a terminal's Ctrl-C) rolls back, records
its failure in the ledger, prints its one failure line and exits 128 + the signal, so the
dashboards never show it running forever and the DAG retries it."""

import signal
import subprocess
import time

import pytest

from simple_etl.fakeapi import Faults
from simple_etl.migrate import MIGRATION_LOCK
from tests.support.cli import Result, start


def wait_for(child, warehouse, query, never, seconds=60):
    """Poll `query` until it returns a row, while the child still runs; `never` if it does not."""
    deadline = time.monotonic() + seconds
    while not warehouse.query(query):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, never
        time.sleep(0.05)


def terminate(child, unstopped):
    """SIGTERM, then the child's (stdout, stderr); `unstopped` if it is still running 30 s later."""
    child.send_signal(signal.SIGTERM)
    try:
        return child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        raise AssertionError(unstopped) from None


def started(etl, batch_id):
    """`simple-etl run` in a child process, once its ledger row says it is running."""
    child = start("run", "--batch-id", batch_id, "--visited-at", etl.visit_time(batch_id), env=etl.env)
    running = "SELECT 1 FROM warehouse.batches WHERE status = 'running'"
    wait_for(child, etl.warehouse, running, "the run never started", seconds=30)
    return child


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_records_its_failure_and_exits_128_plus_the_signal(etl, signum, exit_code):
    # The API hangs on every page, as a slow source would while the pod is being stopped.
    etl.api.faults = Faults(schedule=("slow",) * 20, slow_seconds=60)
    etl.settings["SIMPLE_ETL_HTTP_TIMEOUT"] = "120"
    child = started(etl, "batch-1")
    time.sleep(0.3)  # into the first request
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=30)
    result = Result(child.returncode, stdout, stderr)

    assert result.exit_code == exit_code, stderr
    assert result.stdout == ""
    failure = [entry for entry in result.logs if entry["event"] == "run.failed"]
    assert len(failure) == 1 and failure[0]["kind"] == "terminated", stderr
    assert failure[0]["exit_code"] == exit_code
    assert f"terminated by {signal.Signals(signum).name}" in result.error
    # The ledger says it failed, and why; nothing of the batch was written.
    status, error = etl.warehouse.query("SELECT status, error FROM warehouse.batches")[0]
    assert status == "failed", "the ledger still says running"
    assert error.startswith("terminated: terminated by") and "run it again" in error
    counts = etl.warehouse.table_counts()
    assert counts.pop("warehouse.batches") == 1 and set(counts.values()) == {0}, counts
    # The retry the DAG makes loads the batch.
    etl.api.faults = Faults()
    assert etl.run("batch-1").summary["loaded"] == 5000


def test_a_run_stopped_while_a_query_waits_on_a_lock_stops_at_once(etl):
    # Another session holds the people table, as a stuck backend would; the run's load
    # waits on it. Python only handles a signal between bytecodes, so without the query
    # being cancelled the run would wait out its lock timeout, past the pod's grace period.
    etl.settings["SIMPLE_ETL_LOCK_TIMEOUT"] = "300"
    holder = etl.warehouse.server.connect(etl.warehouse.dbname)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE warehouse.people IN ACCESS EXCLUSIVE MODE")
            child = start(
                "run", "--batch-id", "batch-1", "--visited-at", etl.visit_time("batch-1"), env=etl.env
            )
            waiting = (
                "SELECT 1 FROM pg_stat_activity "
                "WHERE application_name = 'simple-etl run' AND wait_event_type = 'Lock'"
            )
            wait_for(child, etl.warehouse, waiting, "the run never reached the lock")
            stopped = time.monotonic()
            stdout, stderr = terminate(child, "SIGTERM did not stop a run waiting on a lock")
            seconds = time.monotonic() - stopped
        holder.rollback()
    finally:
        holder.close()
    result = Result(child.returncode, stdout, stderr)
    assert result.exit_code == 143, stderr
    assert seconds < 5, f"took {seconds:.1f} s to stop"
    assert "terminated by SIGTERM" in result.error
    status, error = etl.warehouse.query("SELECT status, error FROM warehouse.batches")[0]
    assert status == "failed" and error.startswith("terminated:"), error
    counts = etl.warehouse.table_counts()
    assert counts.pop("warehouse.batches") == 1 and set(counts.values()) == {0}, counts


def test_a_migrate_stopped_while_it_queues_on_the_lock_exits_143_and_changes_nothing(warehouse):
    holder = warehouse.server.connect(warehouse.dbname)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            child = start("migrate", env=warehouse.env())
            queued = (
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'simple-etl migrate' "
                "AND wait_event_type = 'Lock'"
            )
            wait_for(child, warehouse, queued, "migrate never queued on the lock")
            stdout, stderr = terminate(child, "SIGTERM did not stop a migrate queued on the lock")
    finally:
        holder.close()
    result = Result(child.returncode, stdout, stderr)
    assert result.exit_code == 143, stderr
    assert "terminated by SIGTERM" in result.error and result.stdout == ""
    assert warehouse.query("SELECT to_regclass('public.schema_migrations')") == [(None,)]
