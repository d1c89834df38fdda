"""End to end through HTTP: `simple-etl run` against `simple-etl fake-api`.

Both are real processes, as in a cluster: the ETL command fetches its pages over HTTP
from the stand-in API, lands and transforms them. The time is the command's whole life,
interpreter start included, as a pod would take it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.child import Job, Result, main
from bench.data import PAGE_SIZE, SEED, page_numbers, page_size
from bench.harness import fake_api_process
from tests.support.postgres import environ_without_libpq


def measure(job: Job) -> Result:
    people = job["people"]
    with fake_api_process() as api_url:
        env = environ_without_libpq(
            {
                **job["env"],
                "SIMPLE_ETL_API_URL": api_url,
                "SIMPLE_ETL_SEED": SEED,
                "SIMPLE_ETL_PAGE_SIZE": str(page_size(people)),
                "SIMPLE_ETL_BATCH_SIZE": str(people),
                # A pool as large as the batch: the batch fetches every page of it once, as
                # many people as every other contender loads (other people, though: the
                # ETL sends the API a seed derived from the pool, config.Settings.api_seed).
                "SIMPLE_ETL_POOL_PAGES": str(len(page_numbers(people))),
                "SIMPLE_ETL_RATE_LIMIT": "0",  # the stand-in runs without the live limit
                "SIMPLE_ETL_LOG_LEVEL": "WARNING",
            }
        )
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "simple_etl", "run", "--batch-id", job["batch_id"]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        stdout, stderr = child.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"simple-etl run failed: {stderr.decode()[-2000:]}")
    return {
        "people": people,
        "seconds": seconds,
        "page_size": min(people, PAGE_SIZE),
        "run_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "summary": stdout.decode().strip().splitlines()[-1],
    }


if __name__ == "__main__":
    main(measure)
