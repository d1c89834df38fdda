"""Peak memory of `simple-etl run` as the batch grows in pages: it must stay flat.

`make memcheck` prints the figures; tests/integration/test_memory.py asserts on them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from tests.support.cli import command
from tests.support.postgres import environ_without_libpq

PAGE_SIZE = 500


def peak_rss_kib(env: Mapping[str, str], batch_id: str, people: int) -> int:
    """Run one batch of `people` in pages of 500 and return the child's peak RSS (KiB)."""
    settings = {
        "SIMPLE_ETL_PAGE_SIZE": str(PAGE_SIZE),
        "SIMPLE_ETL_BATCH_SIZE": str(people),
        "SIMPLE_ETL_POOL_PAGES": str(max(people // PAGE_SIZE, 10)),
        # 50 000 people in one run is over the live API's 5-minute limit; the stand-in has none.
        "SIMPLE_ETL_RATE_LIMIT": "0",
    }
    child = subprocess.Popen(
        command("run", "--batch-id", batch_id),
        env=environ_without_libpq({**env, **settings}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"simple-etl run exited {child.returncode}")
    return usage.ru_maxrss  # Linux reports KiB


def main() -> None:
    from simple_etl.fakeapi import FakeApiServer
    from tests.support.cli import simple_etl
    from tests.support.postgres import running_server
    from tests.support.warehouse import create_roles, create_warehouse

    with running_server() as server, FakeApiServer(rate_limit=None) as api:
        warehouse = create_warehouse(server, create_roles(server))
        env = {**warehouse.env(), "SIMPLE_ETL_API_URL": api.base_url}
        assert simple_etl("migrate", env=env).exit_code == 0
        print(f"{'people':>8} {'pages':>6} {'peak RSS':>10}")
        for people in (5_000, 50_000):
            rss = peak_rss_kib(env, f"memcheck-{people}", people)
            print(f"{people:>8} {people // PAGE_SIZE:>6} {rss / 1024:>7.1f} MiB")


if __name__ == "__main__":
    main()
