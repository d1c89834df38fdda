"""One Postgres for every contender, a fresh warehouse database for each measurement.

The server is the test harness's (tests/support/postgres.py): the machine's PostgreSQL
binaries, a private port, default settings with fsync on. Every measurement starts on a
newly migrated database after a CHECKPOINT, so none pays for the previous one's writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.cli import simple_etl
from tests.support.postgres import PostgresServer, Role, free_port, running_server
from tests.support.warehouse import Warehouse, create_roles, create_warehouse, drop_warehouse


@dataclass
class Harness:
    server: PostgresServer
    roles: dict[str, Role]

    @contextmanager
    def warehouse(self, migrated: bool = True) -> Iterator[Warehouse]:
        warehouse = create_warehouse(self.server, self.roles)
        try:
            if migrated:
                result = simple_etl("migrate", env=warehouse.env())
                if result.exit_code != 0:
                    raise RuntimeError(f"simple-etl migrate failed: {result.stderr}")
            yield warehouse
        finally:
            drop_warehouse(warehouse)

    def settle(self) -> None:
        """Flush what earlier measurements left dirty, so this one starts from the same state."""
        self.server.execute("CHECKPOINT")

    def version(self) -> str:
        conn = self.server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                version = cur.fetchone()[0]
                cur.execute("SHOW fsync")
                fsync = cur.fetchone()[0]
        finally:
            conn.close()
        return f"PostgreSQL {version} (fsync {fsync})"


@contextmanager
def harness() -> Iterator[Harness]:
    with running_server() as server:
        yield Harness(server, create_roles(server))


def run_contender(name: str, job: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run bench/contenders/<name>.py in a process of its own; return its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.contenders.{name}"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"contender {name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def fake_api_process() -> Iterator[str]:
    """`simple-etl fake-api` in a process of its own (so that it does not share a GIL with
    its client), without the live API's rate limit (a benchmark asks for more people in a
    minute than it allows in five); yields its base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "simple_etl", "fake-api"),
            *("--host", "127.0.0.1", "--port", str(port), "--rate-limit-people", "0"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:  # noqa: S310 - our own loopback server
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("simple-etl fake-api did not start") from None
                time.sleep(0.05)
        yield f"{base}/api/1.4/"
    finally:
        server.terminate()
        server.wait(timeout=30)
