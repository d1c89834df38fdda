"""A real peer: dlt loading the same JSON records into the same Postgres, out of the box.

dlt (pinned in bench/requirements.txt, installed only into the benchmark's virtualenv)
flattens the records into its own table and merges on the person's uuid: its default
`delete-insert` merge through a staging dataset. Credentials are removed first, as the
project does. The first run creates dlt's tables and state and is not measured; the
measured run merges the N people into the existing table.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from bench.child import Job, Result, main
from bench.data import GeneratedSource, page_numbers
from simple_etl.fakeapi import generate
from simple_etl.landing import strip_credentials

# dlt would otherwise try to send anonymous telemetry: there is no network here, and a
# benchmark must not talk to anything but its own Postgres.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


def measure(job: Job) -> Result:
    import dlt  # only in the benchmark's virtualenv

    people = job["people"]
    source = GeneratedSource(people)
    records = [record for number in page_numbers(people) for record in source.fetch_page(number).records]
    warm_up = generate("simple-etl-bench-warm-up", 1, 100)
    env = job["env"]
    credentials = f"postgresql://{env['PGUSER']}:{env['PGPASSWORD']}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"

    @dlt.resource(name="people", write_disposition="merge", primary_key="login__uuid")
    def people_resource(batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in batch:
            yield strip_credentials(record)

    with tempfile.TemporaryDirectory(prefix="simple-etl-bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name="simple_etl_bench",
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name="dlt_people",
            pipelines_dir=pipelines_dir,
        )
        pipeline.run(people_resource(warm_up))
        started = time.perf_counter()
        info = pipeline.run(people_resource(records))
        seconds = time.perf_counter() - started
        info.raise_on_failed_jobs()
    return {"people": people, "seconds": seconds, "dlt_version": dlt.__version__}


if __name__ == "__main__":
    main(measure)
