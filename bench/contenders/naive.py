"""The naive baseline: the transformed rows, one INSERT per row and a commit per person.

This is how simple tutorials load: for each record, insert it and commit. Every
commit waits for its WAL to reach the disk (fsync), so the rate is bounded by the
disk's flush latency, not by the work per row. Same rows, same tables as the floor.
"""

from __future__ import annotations

import time
from itertools import islice

from bench.child import CpuClock, Job, Result, main
from bench.rows import PEOPLE_COLUMNS, VISITS_COLUMNS
from simple_etl import db
from simple_etl.config import Settings


def read_copy_rows(path: str, count: int) -> list[tuple[str | None, ...]]:
    """The first `count` rows of a COPY text file, NULLs as None (the values carry no escapes)."""
    with open(path, encoding="utf-8") as rows:
        return [
            tuple(None if value == r"\N" else value for value in line.rstrip("\n").split("\t"))
            for line in islice(rows, count)
        ]


def measure(job: Job) -> Result:
    people = read_copy_rows(job["people_file"], job["people"])
    visits = read_copy_rows(job["visits_file"], job["people"])  # same order: by person
    insert_person = (
        f"INSERT INTO warehouse.people ({PEOPLE_COLUMNS}) VALUES ({', '.join(['%s'] * len(people[0]))})"  # noqa: S608
    )
    insert_visit = f"INSERT INTO warehouse.visits ({VISITS_COLUMNS}) VALUES (%s, %s, %s, %s)"  # noqa: S608
    conn = db.connect("simple-etl bench naive", Settings())
    try:
        clock = CpuClock.of(conn)
        client_cpu, server_cpu = clock.client(), clock.server()
        started = time.perf_counter()
        with conn.cursor() as cur:
            for person, visit in zip(people, visits, strict=True):
                cur.execute(insert_person, person)
                cur.execute(insert_visit, visit)
                conn.commit()
        seconds = time.perf_counter() - started
        client_cpu, server_cpu = clock.client() - client_cpu, clock.server() - server_cpu
    finally:
        conn.close()
    return {
        "people": len(people),
        "seconds": seconds,
        "client_cpu_seconds": client_cpu,
        "server_cpu_seconds": server_cpu,
    }


if __name__ == "__main__":
    main(measure)
