"""The stand-in API's own throughput: people per second one `simple-etl fake-api` process serves.

One client on a kept-alive connection asks for pages of 5000 (the API's ceiling) and
reads each body whole; it does not parse them, so the figure is the server's.
"""

from __future__ import annotations

import time

import requests

from bench.child import Job, Result, main
from bench.data import SEED, page_numbers, page_size
from bench.harness import fake_api_process


def measure(job: Job) -> Result:
    people = job["people"]
    size = page_size(people)
    with fake_api_process() as api_url, requests.Session() as session:
        session.get(api_url, params={"results": 1, "seed": SEED}, timeout=30).raise_for_status()  # warm up
        served = 0
        started = time.perf_counter()
        for number in page_numbers(people):
            answer = session.get(api_url, params={"results": size, "page": number, "seed": SEED}, timeout=60)
            answer.raise_for_status()
            served += len(answer.content) and size
        seconds = time.perf_counter() - started
    return {"people": served, "seconds": seconds, "page_size": size}


if __name__ == "__main__":
    main(measure)
