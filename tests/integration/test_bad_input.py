"""Acceptance: bad input gets its documented outcome and never a partial batch."""

import pytest

from simple_etl.fakeapi import Faults
from tests.support.cli import simple_etl

SOURCE_ERROR, CONFIG_ERROR = 3, 2


def assert_no_batch_data(warehouse):
    counts = warehouse.table_counts()
    assert counts.pop("warehouse.batches") <= 1
    assert set(counts.values()) == {0}, counts


def test_broken_records_are_quarantined_with_their_reason(etl):
    etl.api.faults = Faults(corrupt=6)
    result = etl.run("batch-1")
    assert result.exit_code == 0, result.stderr
    summary = result.summary
    assert summary["quarantined"] == 60
    assert summary["loaded"] == summary["extracted"] - 60 == 4940
    reasons = dict(etl.warehouse.query("SELECT reason, count(*) FROM warehouse.quarantine GROUP BY 1"))
    assert reasons["login.uuid is missing or not a UUID"] > 0
    assert reasons["name.first or name.last is missing"] > 0
    assert sum(reasons.values()) == 60
    # Quarantined payloads keep the record for inspection, without its credentials.
    kept = etl.warehouse.scalar("SELECT count(*) FROM warehouse.quarantine WHERE payload::jsonb ? 'login'")
    assert kept > 0


@pytest.mark.parametrize("kind", ["429", "500", "503", "empty", "truncated", "garbage"])
def test_a_transient_fault_is_retried_and_the_batch_loads(etl, kind):
    etl.api.faults = Faults(schedule=(kind,), retry_after=1)
    result = etl.run("batch-1")
    assert result.exit_code == 0, result.stderr
    assert result.summary["loaded"] == 5000
    retries = [entry for entry in result.logs if entry["event"] == "extract.retry"]
    assert len(retries) == 1
    if kind == "429":
        assert retries[0]["delay"] == 1.0  # the server's Retry-After, not our own backoff


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("500", "HTTP 500"),
        ("empty", "got 0 results, info says 500"),
        ("garbage", "body is not valid JSON"),
        ("truncated", "body is not valid JSON"),
    ],
)
def test_a_fault_that_outlasts_the_retries_fails_the_batch_cleanly(etl, kind, message):
    # Page 3 of 10 keeps failing: the pages fetched before it must not reach the warehouse.
    etl.api.faults = Faults(schedule=("ok",) * 2 + (kind,) * 4)
    result = etl.run("batch-1")
    assert result.exit_code == SOURCE_ERROR
    assert "failed after 4 attempts" in result.error and message in result.error
    assert result.stdout == ""
    assert_no_batch_data(etl.warehouse)
    status, error = etl.warehouse.query("SELECT status, error FROM warehouse.batches")[0]
    assert status == "failed" and message in error
    # The same batch id succeeds once the source recovers.
    assert etl.run("batch-1").summary["loaded"] == 5000


def test_a_missing_pghost_is_one_line_and_a_configuration_exit_code(etl):
    env = {k: v for k, v in etl.env.items() if k != "PGHOST"}
    result = simple_etl("run", "--batch-id", "b", env=env)
    assert result.exit_code == CONFIG_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PGHOST is not set" in result.error
    assert result.stdout == ""
    assert etl.api.requests_served == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--batch-id", "b", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["run"], "the following arguments are required: --batch-id"),
        (["run", "--batch-id", "a\tb"], "is not a batch id"),
        # A final newline once passed `match` with `$`, then broke the spool line (issue 16).
        (["run", "--batch-id", "abc\n"], "is not a batch id"),
        (["run", "--batch-id", "b", "--visited-at", "2026-01-01T00:00:00"], "has no time zone"),
        (["run", "--batch-id", "b", "--shard", "2", "--shards", "2"], "need 0 ≤ shard < shards"),
        (["explode"], "invalid choice: 'explode'"),
    ],
)
def test_bad_usage_is_one_line_and_a_configuration_exit_code(etl, args, message):
    result = etl(*args)
    assert result.exit_code == CONFIG_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.error
    assert_no_batch_data(etl.warehouse)
    assert etl.warehouse.scalar("SELECT count(*) FROM warehouse.batches") == 0


def test_an_unknown_setting_is_refused_before_any_work(etl):
    result = etl.run("batch-1", SIMPLE_ETL_BATCHSIZE="10")
    assert result.exit_code == CONFIG_ERROR
    assert "unknown setting SIMPLE_ETL_BATCHSIZE" in result.error
    assert etl.api.requests_served == 0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("SIMPLE_ETL_NAT", "xx", "the API does not know XX"),
        ("SIMPLE_ETL_POOL_PAGES", "1000000", "must be between 1 and 10000"),
        ("SIMPLE_ETL_BATCH_SIZE", "1_000", "is not a whole number"),
        ("SIMPLE_ETL_API_URL", "http://127.0.0.1:99999/api/1.4/", "port that is not a TCP port"),
        ("SIMPLE_ETL_API_URL", "http://user:s3cret@127.0.0.1/api/1.4/", "carries credentials"),
        ("PGCONNECT_TIMEOUT", "abc", "PGCONNECT_TIMEOUT='abc' is not a whole number"),
    ],
)
def test_a_refused_setting_is_one_line_exit_2_and_nothing_written(etl, setting, value, message):
    result = etl.run("batch-1", **{setting: value})
    assert result.exit_code == CONFIG_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.error
    assert "s3cret" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert etl.api.requests_served == 0
    assert set(etl.warehouse.table_counts().values()) == {0}  # not even a ledger row
