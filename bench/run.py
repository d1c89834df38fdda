"""`make bench`: the ETL's throughput against its floor and its peers, in one run.

    python -m bench.run [--sizes 10000 100000] [--repeat 5] [--naive-people 2000]

One PostgreSQL server (the test harness's, fsync on), the same generated people for
every contender, a fresh database and a CHECKPOINT before every measurement, each
contender in a process of its own. Prints one table and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import Harness, harness, run_contender
from bench.rows import Rows, dump
from simple_etl import ledger

BATCH_ID = "bench"
VISITED_AT = datetime(2026, 1, 1, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="people per batch")
    parser.add_argument("--repeat", type=int, default=5, help="runs per fast measurement (the median counts)")
    parser.add_argument(
        "--naive-people", type=int, default=2000, help="people for the row-by-row baseline (its rate is flat)"
    )
    parser.add_argument(
        "--dlt-people", type=int, nargs="*", help="people for dlt (default: --sizes); none to skip it"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON results go")
    args = parser.parse_args(argv)
    dlt_sizes = args.sizes if args.dlt_people is None else args.dlt_people

    started = datetime.now(UTC)
    measurements: list[dict[str, Any]] = []
    with harness() as bench, tempfile.TemporaryDirectory(prefix="simple-etl-bench-") as scratch:
        environment = report.environment(bench.version())
        print(report.heading(environment), flush=True)
        rows: dict[int, Rows] = {}
        for people in args.sizes:
            samples = [_project(bench, people, Path(scratch), rows) for _ in range(args.repeat)]
            measurements.append(_summary("project", people, samples))
            samples = [_with_ledger(bench, "copy_floor", people, rows[people]) for _ in range(args.repeat)]
            measurements.append(_summary("copy_floor", people, samples))
        naive_rows = rows[min(rows, key=lambda n: (n < args.naive_people, n))]
        samples = [_with_ledger(bench, "naive", args.naive_people, naive_rows) for _ in range(args.repeat)]
        measurements.append(_summary("naive", args.naive_people, samples))
        if dlt_sizes and importlib.util.find_spec("dlt") is None:
            print("dlt is not installed here: `make bench` runs the benchmark from .venv-bench", flush=True)
        elif dlt_sizes:
            for people in dlt_sizes:
                measurements.append(_summary("dlt", people, [_dlt(bench, people)]))
        for people in args.sizes:
            measurements.append(_summary("http_run", people, [_http_run(bench, people)]))
        api_people = max(args.sizes)
        samples = [run_contender("api", {"people": api_people}) for _ in range(args.repeat)]
        measurements.append(_summary("api", api_people, samples))

    environment["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "environment": environment,
        "settings": {"sizes": args.sizes, "repeat": args.repeat, "naive_people": args.naive_people},
        "measurements": measurements,
        "ratios": report.ratios(measurements),
    }
    print(report.table(results), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {args.output}", flush=True)
    return 0


def _project(bench: Harness, people: int, scratch: Path, rows: dict[int, Rows]) -> dict[str, Any]:
    with bench.warehouse() as warehouse:
        bench.settle()
        job = {"people": people, "batch_id": BATCH_ID, "visited_at": VISITED_AT.isoformat()}
        result = run_contender("project", {**job, "env": warehouse.env()})
        if people not in rows:  # what the floor and the naive baseline will load
            rows[people] = dump(warehouse, scratch, people)
    return result


def _with_ledger(bench: Harness, contender: str, people: int, rows: Rows) -> dict[str, Any]:
    """The floor and the naive baseline: the same rows into a warehouse whose ledger knows the batch."""
    with bench.warehouse() as warehouse:
        conn = warehouse.server.connect(warehouse.dbname)
        try:
            ledger.begin(conn, BATCH_ID, 0, 1, VISITED_AT)  # visits reference their batch
        finally:
            conn.close()
        bench.settle()
        return run_contender(
            contender,
            {
                "people": people,
                "people_file": str(rows.people),
                "visits_file": str(rows.visits),
                "env": warehouse.env(),
            },
        )


def _dlt(bench: Harness, people: int) -> dict[str, Any]:
    with bench.warehouse(migrated=False) as warehouse:  # dlt makes its own tables
        bench.settle()
        return run_contender("dlt_merge", {"people": people, "env": warehouse.env()})


def _http_run(bench: Harness, people: int) -> dict[str, Any]:
    with bench.warehouse() as warehouse:
        bench.settle()
        return run_contender("http_run", {"people": people, "batch_id": BATCH_ID, "env": warehouse.env()})


def _summary(contender: str, people: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
    median = statistics.median_low(sample["seconds"] for sample in samples)
    chosen = next(sample for sample in samples if sample["seconds"] == median)
    summary = {
        "contender": contender,
        "people": people,
        "seconds": round(median, 4),
        "people_per_second": round(people / median),
        "samples": samples,
    }
    for key in ("peak_rss_mib", "run_peak_rss_mib", "client_cpu_seconds", "server_cpu_seconds"):
        if key in chosen:
            summary[key] = round(chosen[key], 3)
    print(report.progress(summary), flush=True)
    return summary


if __name__ == "__main__":
    sys.exit(main())
