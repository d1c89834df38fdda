"""The quality gate passes a sound batch and names each broken invariant."""

import pytest

from simple_etl.fakeapi import Faults

QUALITY_FAILED = 5


@pytest.fixture
def loaded(etl):
    assert etl.run("batch-1", SIMPLE_ETL_BATCH_SIZE="1000").exit_code == 0
    return etl


def test_a_sound_batch_passes(loaded):
    result = loaded("check", "--batch-id", "batch-1")
    assert result.exit_code == 0, result.stderr
    assert result.summary["status"] == "passed"
    assert set(result.summary["checks"]) == {
        "batch_succeeded", "counts_reconcile", "reject_ratio", "freshness", "people_have_visits",
        "no_credentials", "no_abandoned_attempts", "identity_conflicts",
    }  # fmt: skip


def test_the_latest_batch_is_checked_by_default(loaded):
    assert loaded("check").summary["batch_id"] == "batch-1"


@pytest.mark.parametrize(
    ("breakage", "check", "detail"),
    [
        ("DELETE FROM warehouse.visits "
         "WHERE person_uuid IN (SELECT person_uuid FROM warehouse.visits LIMIT 3)",
         "counts_reconcile", "tables 1000/997/0"),
        ("UPDATE warehouse.batches SET finished_at = now() - interval '2 hours'", "freshness", "limit 3600s"),
        ("UPDATE raw.pages "
         "SET payload = jsonb_set(payload::jsonb, '{0,login,password}', '\"hunter2\"')::json",
         "no_credentials", "2 credential keys in the raw zone"),
        ("INSERT INTO warehouse.batches (batch_id, shard, shards, status, visited_at, started_at) "
         "VALUES ('batch-1', 1, 2, 'failed', now(), now())", "batch_succeeded", "1 of 2 shards succeeded"),
    ],
)  # fmt: skip
def test_each_broken_invariant_fails_the_gate_by_name(loaded, breakage, check, detail):
    loaded.warehouse.query(breakage)
    result = loaded("check", "--batch-id", "batch-1")
    assert result.exit_code == QUALITY_FAILED
    assert f"{check}: " in result.error and detail in result.error


def test_people_without_visits_are_orphans(loaded):
    loaded.warehouse.query(
        "DELETE FROM warehouse.visits WHERE person_uuid IN (SELECT person_uuid FROM warehouse.people LIMIT 2)"
    )
    result = loaded("check", "--batch-id", "batch-1")
    assert result.exit_code == QUALITY_FAILED
    assert "people_have_visits: 2 people without any visit" in result.error


def test_credential_keys_are_found_at_any_depth_and_never_in_values(loaded):
    def set_field(path, value):
        loaded.warehouse.query(
            "UPDATE raw.pages SET payload = jsonb_set(payload::jsonb, %s, %s::jsonb)::json WHERE page = "
            "(SELECT min(page) FROM raw.pages)",
            (path, value),
        )

    set_field("{0,name,first}", '"not a key: \\", \\"password\\": \\"x\\""')
    assert loaded("check", "--batch-id", "batch-1").exit_code == 0
    set_field("{1,location,md5}", '"d41d8cd98f00b204e9800998ecf8427e"')
    result = loaded("check", "--batch-id", "batch-1")
    assert result.exit_code == QUALITY_FAILED
    assert "no_credentials: 1 credential keys in the raw zone" in result.error


def test_a_reject_ratio_above_the_limit_fails(etl):
    etl.api.faults = Faults(corrupt=50)  # 50 of every 500 records: 10 %
    assert etl.run("batch-1", SIMPLE_ETL_BATCH_SIZE="1000").summary["quarantined"] == 100
    result = etl("check", "--batch-id", "batch-1")
    assert result.exit_code == QUALITY_FAILED
    assert "reject_ratio: 0.1000 quarantined (limit 0.05)" in result.error
    assert etl("check", "--batch-id", "batch-1", SIMPLE_ETL_MAX_REJECT_RATIO="0.2").exit_code == 0


def test_an_empty_ledger_or_unknown_batch_fails(etl):
    assert "the ledger is empty" in etl("check").error
    assert "batch nope is not in the ledger" in etl("check", "--batch-id", "nope").error
