"""The floor: a plain COPY of the already-transformed rows into the same tables.

No extraction, no JSON, no validation, no raw landing zone, no upsert: only the writes
every loader of these people must make (heap, indexes, foreign-key checks, WAL, the
commit's fsync). No loader of the same rows into the same tables can beat it by much.
"""

from __future__ import annotations

import time

from bench.child import CpuClock, Job, Result, main
from bench.rows import PEOPLE_COLUMNS, VISITS_COLUMNS
from simple_etl import db
from simple_etl.config import Settings


def measure(job: Job) -> Result:
    conn = db.connect("simple-etl bench floor", Settings())
    try:
        clock = CpuClock.of(conn)
        client_cpu, server_cpu = clock.client(), clock.server()
        with open(job["people_file"], "rb") as people, open(job["visits_file"], "rb") as visits:
            started = time.perf_counter()
            with conn, conn.cursor() as cur:
                cur.copy_expert(f"COPY warehouse.people ({PEOPLE_COLUMNS}) FROM STDIN", people, size=1 << 20)
                cur.copy_expert(f"COPY warehouse.visits ({VISITS_COLUMNS}) FROM STDIN", visits, size=1 << 20)
            seconds = time.perf_counter() - started
        client_cpu, server_cpu = clock.client() - client_cpu, clock.server() - server_cpu
    finally:
        conn.close()
    return {
        "people": job["people"],
        "seconds": seconds,
        "client_cpu_seconds": client_cpu,
        "server_cpu_seconds": server_cpu,
    }


if __name__ == "__main__":
    main(measure)
