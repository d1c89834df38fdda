"""Issue 16 point 5: every warehouse session of the ETL carries its safety bounds, and a
run that waits on a lock gives up after SIMPLE_ETL_LOCK_TIMEOUT instead of holding on."""

from __future__ import annotations

import time

from simple_etl import db
from simple_etl.config import Settings


def test_every_session_carries_the_configured_bounds(etl, monkeypatch):
    for name, value in etl.warehouse.env().items():
        monkeypatch.setenv(name, value)
    settings = Settings(
        lock_timeout=7, statement_timeout=70, idle_in_transaction_timeout=17, client_check_interval=3
    )
    conn = db.connect("simple-etl test", settings)
    try:
        with conn.cursor() as cur:
            shown = {}
            for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout",
                         "client_connection_check_interval"):  # fmt: skip
                cur.execute(f"SHOW {name}")
                shown[name] = cur.fetchone()[0]
    finally:
        conn.close()
    assert shown == {
        "lock_timeout": "7s",
        "statement_timeout": "70s",
        "idle_in_transaction_session_timeout": "17s",
        "client_connection_check_interval": "3s",
    }


def test_a_run_waiting_on_a_lock_gives_up_after_the_lock_timeout(etl):
    holder = etl.warehouse.server.connect(etl.warehouse.dbname, etl.warehouse.etl)
    try:
        with holder.cursor() as cur:  # an open transaction holding the ledger
            cur.execute("LOCK TABLE warehouse.batches IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = etl.run("batch-1", SIMPLE_ETL_LOCK_TIMEOUT="1")
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 4, result.stderr
    assert "lock timeout" in result.stderr
    assert waited < 20, "it gave up on the lock, it did not wait for the holder"
    assert etl.run("batch-1").exit_code == 0, "the re-run loads once the lock is gone"
