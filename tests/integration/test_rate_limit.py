"""Acceptance, through real HTTP and a real Postgres: the source's rate limit (people per
client per window, then 429 without Retry-After) is waited out, a schedule that would
exceed it is refused before any request, and the run's deadline bounds every wait."""

import time
from collections.abc import Iterator

import pytest

from simple_etl.fakeapi import FakeApiServer, Faults, RateLimit
from tests.support.cli import simple_etl
from tests.support.etl import Etl

SOURCE_ERROR, CONFIG_ERROR = 3, 2
# Four pages of 500: two fit in a window of the small limit below, then 429s.
SMALL_BATCH = {
    "SIMPLE_ETL_BATCH_SIZE": "2000",
    "SIMPLE_ETL_PAGE_SIZE": "500",
    "SIMPLE_ETL_POOL_PAGES": "10",
}


@pytest.fixture
def limited_api(request) -> Iterator[FakeApiServer]:
    people, window = request.param
    with FakeApiServer(faults=Faults(), rate_limit=RateLimit(people=people, window_seconds=window)) as api:
        yield api


def etl_against(api, warehouse) -> Etl:
    migrated = simple_etl("migrate", env=warehouse.env())
    assert migrated.exit_code == 0, migrated.stderr
    return Etl(warehouse, api)


def rate_limited_waits(result):
    return [e for e in result.logs if e["event"] == "extract.retry" and e["rate_limited"]]


@pytest.mark.parametrize("limited_api", [(1000, 3)], indirect=True)
def test_a_429_without_retry_after_is_waited_out_and_the_batch_loads(limited_api, warehouse):
    etl = etl_against(limited_api, warehouse)
    started = time.monotonic()
    # MAX_RETRIES=3 with BACKOFF_MAX=1 (the test defaults) gave up within about a
    # second, far inside the source's window; a whole window's wait outlasts it.
    result = etl.run("batch-1", **SMALL_BATCH, SIMPLE_ETL_RATE_LIMIT_WAIT="3")
    assert result.exit_code == 0, result.stderr
    assert result.summary["loaded"] == 2000
    waits = rate_limited_waits(result)
    assert waits and all(wait["delay"] == 3 and wait["reason"] == "HTTP 429" for wait in waits)
    assert time.monotonic() - started >= 3
    # The waits used none of the retries that other faults get.
    assert [e for e in result.logs if e["event"] == "extract.retry" and not e["rate_limited"]] == []


@pytest.mark.parametrize("limited_api", [(1000, 3)], indirect=True)
def test_a_source_still_limited_after_its_waits_fails_naming_the_page(limited_api, warehouse):
    etl = etl_against(limited_api, warehouse)
    # Waits far shorter than the window: the limit is still spent when they run out.
    result = etl.run("batch-1", **SMALL_BATCH, SIMPLE_ETL_RATE_LIMIT_WAIT="0.1", SIMPLE_ETL_MAX_RETRIES="2")
    assert result.exit_code == SOURCE_ERROR
    assert result.error.startswith("page ")
    assert "still answers 429 (rate limited) after 2 waits of its window" in result.error
    assert len(rate_limited_waits(result)) == 2
    counts = etl.warehouse.table_counts()
    assert counts.pop("warehouse.batches") == 1
    assert set(counts.values()) == {0}, counts


@pytest.mark.parametrize("limited_api", [(1000, 60)], indirect=True)
def test_a_wait_that_would_pass_the_deadline_fails_at_once(limited_api, warehouse):
    etl = etl_against(limited_api, warehouse)
    started = time.monotonic()
    result = etl.run(
        "batch-1", **SMALL_BATCH, SIMPLE_ETL_RATE_LIMIT_WAIT="60", SIMPLE_ETL_DEADLINE_SECONDS="30"
    )
    assert time.monotonic() - started < 20  # it did not sleep into the window
    assert result.exit_code == SOURCE_ERROR
    assert (
        "waiting 60 s after 'HTTP 429' would pass the deadline (SIMPLE_ETL_DEADLINE_SECONDS=30)"
        in result.error
    )
    assert rate_limited_waits(result) == []
    assert etl.warehouse.raw_records() == 0


@pytest.mark.parametrize("limited_api", [(20000, 300)], indirect=True)
def test_default_batches_stay_within_the_sources_default_limit(limited_api, warehouse):
    # The real source's limit, 20 000 people per 5 minutes: a whole window's worth of
    # default batches (one every 300 s), even run back to back, never meets a 429.
    etl = etl_against(limited_api, warehouse)
    for batch in ("batch-1", "batch-2", "batch-3", "batch-4"):
        result = etl.run(batch)
        assert result.exit_code == 0, result.stderr
        assert rate_limited_waits(result) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SIMPLE_ETL_SCHEDULE_SECONDS": "60"}, "asks the source for 25000 people per 300 s"),
        (
            {"SIMPLE_ETL_BATCH_SIZE": "25000", "SIMPLE_ETL_PAGE_SIZE": "5000"},
            "over SIMPLE_ETL_RATE_LIMIT=20000",
        ),
        ({"SIMPLE_ETL_RATE_LIMIT_WAIT": "7200"}, "SIMPLE_ETL_RATE_LIMIT_WAIT=7200.0 must be between 0"),
        ({"SIMPLE_ETL_DEADLINE_SECONDS": "soon"}, "SIMPLE_ETL_DEADLINE_SECONDS='soon' is not a whole number"),
    ],
)
def test_a_schedule_over_the_rate_limit_is_refused_before_any_request(etl, settings, message):
    result = etl.run("batch-1", **settings)
    assert result.exit_code == CONFIG_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.error
    assert result.stdout == ""
    assert etl.api.requests_served == 0
    assert set(etl.warehouse.table_counts().values()) == {0}  # not even a ledger row
