"""The drill suite (issue 16): kills at several points, a database restart mid-load, racing
shard plans and poison records; after each, the batch is run again, and the warehouse
must end exactly as a clean run of the same batches in a fresh warehouse, with no
ledger row left running past its lease.

One warehouse takes every drill in turn (a batch each), so the lease (10 s, the
smallest SIMPLE_ETL_LEASE_SECONDS allows) is waited out once, at the end.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime

from simple_etl.fakeapi import Faults
from tests.support.cli import start
from tests.support.etl import Etl
from tests.support.warehouse import Warehouse

LEASE_SECONDS = 10
SMALL = {
    "SIMPLE_ETL_BATCH_SIZE": "1000", "SIMPLE_ETL_PAGE_SIZE": "250", "SIMPLE_ETL_POOL_PAGES": "8",
    "SIMPLE_ETL_LEASE_SECONDS": str(LEASE_SECONDS), "SIMPLE_ETL_HTTP_TIMEOUT": "60",
}  # fmt: skip
POISON = Faults(corrupt=7)  # 7 broken records in every page the stand-in serves
CONFIG_ERROR, LOAD_ERROR = 2, 4

END_STATE = {
    "plans": "SELECT batch_id, shards, visited_at FROM warehouse.batch_plans",
    "ledger": "SELECT batch_id, shard, shards, status, visited_at, pages, extracted, loaded, quarantined "
    "FROM warehouse.batches",
    "counts": "SELECT batch_id, shard, status, new_people, returning_people FROM reporting.batches",
    "people": "SELECT * FROM warehouse.people",
    "visits": "SELECT * FROM warehouse.visits",
    "quarantine": "SELECT batch_id, shard, page, seq, reason, payload::text FROM warehouse.quarantine",
    "raw": "SELECT batch_id, shard, page, payload::text FROM raw.pages",
}


def end_state(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every row that describes the data, minus wall-clock times, in a stable order."""
    return {name: sorted(warehouse.query(query), key=repr) for name, query in END_STATE.items()}


def run_in(etl: Etl, batch_id: str, *args: str) -> dict:
    result = etl.run(batch_id, *args, **SMALL)
    assert result.exit_code == 0, result.stderr
    return result.summary


def started(etl: Etl, batch_id: str, *args: str) -> subprocess.Popen[str]:
    """`simple-etl run` in a child process, once its attempt is in the ledger."""
    child = start(
        "run",
        "--batch-id",
        batch_id,
        "--visited-at",
        etl.visit_time(batch_id),
        *args,
        env={**etl.env, **SMALL},
    )
    deadline = time.monotonic() + 30
    while not etl.warehouse.query(
        "SELECT 1 FROM warehouse.batch_attempts WHERE batch_id = %s AND status = 'running'", (batch_id,)
    ):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    return child


def waiting_on_a_lock(etl: Etl, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not etl.warehouse.query(
        "SELECT 1 FROM pg_stat_activity "
        "WHERE application_name = 'simple-etl run' AND wait_event_type = 'Lock'"
    ):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the load never reached the lock"
        time.sleep(0.02)


def kill_during_extraction(etl: Etl, batch_id: str) -> None:
    etl.api.faults = Faults(schedule=("slow",), slow_seconds=30)  # the first page hangs
    child = started(etl, batch_id)
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    etl.api.faults = Faults()


def kill_during_load(etl: Etl, batch_id: str, faults: Faults = Faults()) -> None:  # noqa: B008 - frozen
    # The load waits on the people table, held by another session: killed right there.
    etl.api.faults = faults
    holder = etl.warehouse.server.connect(etl.warehouse.dbname)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE warehouse.people IN ACCESS EXCLUSIVE MODE")
            child = started(etl, batch_id)
            waiting_on_a_lock(etl, child)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        holder.rollback()
    finally:
        holder.close()


def restart_postgres_during_load(etl: Etl, batch_id: str) -> str:
    server = etl.warehouse.server
    holder = server.connect(etl.warehouse.dbname)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE warehouse.people IN ACCESS EXCLUSIVE MODE")
            child = started(etl, batch_id)
            waiting_on_a_lock(etl, child)
            server.stop("fast")  # every session ends, the holder's and the load's
    finally:
        holder.close()
    try:
        _, stderr = child.communicate(timeout=60)
    finally:
        server.start()
        server.wait_ready()
    assert child.returncode == LOAD_ERROR, stderr
    return stderr


def race_shard_plans(etl: Etl, batch_id: str) -> int:
    """Two first attempts with different fan-outs at once; the plan that won."""
    env = {**etl.env, **SMALL}
    at = etl.visit_time(batch_id)
    children = [
        start("run", "--batch-id", batch_id, "--visited-at", at, "--shards", "1", env=env),
        start("run", "--batch-id", batch_id, "--visited-at", at, "--shards", "2", "--shard", "0", env=env),
    ]
    outcomes = [(child.wait(timeout=120), child.communicate()[1]) for child in children]
    assert sorted(code for code, _ in outcomes) == [0, CONFIG_ERROR], outcomes
    shards = etl.warehouse.scalar("SELECT shards FROM warehouse.batch_plans WHERE batch_id = %s", (batch_id,))
    loser = next(stderr for code, stderr in outcomes if code == CONFIG_ERROR)
    assert f"was started with --shards {shards}" in loser
    return shards


def shard_args(shards: int) -> list[list[str]]:
    return [["--shard", str(i), "--shards", str(shards)] for i in range(shards)]


def test_every_drill_ends_as_a_clean_run(warehouse_factory, fake_api):
    drilled = Etl(warehouse_factory(), fake_api)
    assert drilled("migrate").exit_code == 0
    # Five batches, a drill each, every one re-run (as the DAG's retry would) until it loads.
    kill_during_extraction(drilled, "batch-1")
    run_in(drilled, "batch-1")

    kill_during_load(drilled, "batch-2")
    drilled.api.faults = Faults()
    run_in(drilled, "batch-2")

    stderr = restart_postgres_during_load(drilled, "batch-3")
    assert "loading the batch failed" in stderr
    run_in(drilled, "batch-3")

    shards = race_shard_plans(drilled, "batch-4")
    for args in shard_args(shards):
        again = drilled.run("batch-4", *args, **SMALL)  # the winner's shard: skipped
        assert again.exit_code == 0, again.stderr

    kill_during_load(drilled, "batch-5", POISON)
    run_in(drilled, "batch-5")
    drilled.api.faults = Faults()
    killed_at = datetime.now(UTC)

    # The clean run: the same batches, plans and faults, in a fresh warehouse.
    clean = Etl(warehouse_factory(), fake_api)
    assert clean("migrate").exit_code == 0
    for batch_id in ("batch-1", "batch-2", "batch-3"):
        run_in(clean, batch_id)
    for args in shard_args(shards):
        run_in(clean, "batch-4", *args)
    clean.api.faults = POISON
    assert run_in(clean, "batch-5")["quarantined"] == 4 * 7
    clean.api.faults = Faults()

    assert end_state(drilled.warehouse) == end_state(clean.warehouse)
    for batch_id in ("batch-1", "batch-2", "batch-3", "batch-4"):
        check = drilled("check", "--batch-id", batch_id)
        assert check.exit_code == 0, check.stderr

    # The killed attempts stop renewing: each lease runs out within LEASE_SECONDS of the
    # kill, and the next run (of any batch) records them failed. Nothing stays running.
    wh = drilled.warehouse
    assert wh.query("SELECT batch_id FROM warehouse.batches WHERE status = 'running'") == []
    until = wh.scalar("SELECT max(lease_until) FROM warehouse.batch_attempts WHERE status = 'running'")
    assert until is not None, "a kill left no running attempt: the drills did not kill anything"
    assert (until - killed_at).total_seconds() <= LEASE_SECONDS
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    assert drilled.run("batch-1", **SMALL).summary["status"] == "skipped"
    assert wh.query("SELECT count(*) FROM warehouse.batch_attempts WHERE status = 'running'") == [(0,)]
    abandoned = wh.query(
        "SELECT batch_id FROM warehouse.batch_attempts "
        "WHERE error LIKE 'abandoned: lease expired%' ORDER BY 1"
    )
    assert [b for (b,) in abandoned] == ["batch-1", "batch-2", "batch-3", "batch-5"]
    assert end_state(drilled.warehouse) == end_state(clean.warehouse)
