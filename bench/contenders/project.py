"""The project's transform + load path, without HTTP.

Records of the pages (as RandomUserClient.fetch_page returns them) go through the
engine's own `landing.extract` into a spool, then through `pipeline.load`: the very
transaction `simple-etl run` executes (ledger lock, each page typed in Python and applied
through a staging COPY, the raw pages landed, ledger settle). Nothing of the engine is re-implemented here.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime

from bench.child import CpuClock, Job, Result, main
from bench.data import GeneratedSource, page_numbers
from simple_etl import db, ledger, pipeline
from simple_etl.config import Settings
from simple_etl.landing import extract
from simple_etl.log import JsonLogger


def measure(job: Job) -> Result:
    people, batch_id = job["people"], job["batch_id"]
    request = pipeline.BatchRequest(batch_id, 0, 1, datetime.fromisoformat(job["visited_at"]))
    pages = page_numbers(people)
    source = GeneratedSource(people)
    conn = db.connect("simple-etl bench", Settings())
    try:
        # What run_batch does before extracting; not part of the path being measured.
        ledger.begin(conn, batch_id, 0, 1, request.visited_at)
        clock = CpuClock.of(conn)
        client_cpu, server_cpu = clock.client(), clock.server()
        started = time.perf_counter()
        spool, extracted = extract(source, pages, batch_id, 0, JsonLogger("WARNING"))
        spooled = time.perf_counter()
        with spool:
            counts = pipeline.load(conn, request, spool, len(pages), extracted)
        finished = time.perf_counter()
        client_cpu, server_cpu = clock.client() - client_cpu, clock.server() - server_cpu
    finally:
        conn.close()
    if counts is None or counts.loaded != people:
        raise RuntimeError(f"the load did not load {people} people: {counts}")
    extract_seconds = spooled - started - source.generating
    return {
        "people": people,
        "seconds": extract_seconds + (finished - spooled),
        "extract_seconds": extract_seconds,
        "load_seconds": finished - spooled,
        "client_cpu_seconds": client_cpu - source.generating_cpu,
        "server_cpu_seconds": server_cpu,
        "counts": asdict(counts),
    }


if __name__ == "__main__":
    main(measure)
