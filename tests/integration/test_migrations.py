"""Migrations: ordered, recorded, once, under a lock, in one transaction."""

import json
import time

import pytest

from simple_etl.migrate import available
from tests.support.cli import simple_etl, start
from tests.support.etl import Etl
from tests.support.warehouse import at_older_schema

CONFIG_ERROR = 2


def versions(warehouse):
    return [v for (v,) in warehouse.query("SELECT version FROM public.schema_migrations ORDER BY 1")]


def test_migrate_applies_every_migration_once(warehouse):
    expected = [m.version for m in available()]
    first = simple_etl("migrate", env=warehouse.env())
    assert first.exit_code == 0, first.stderr
    assert first.summary["applied"] == expected == versions(warehouse)
    again = simple_etl("migrate", env=warehouse.env())
    assert again.summary["applied"] == []
    assert versions(warehouse) == expected


def test_concurrent_migrations_queue_on_the_lock(warehouse):
    children = [start("migrate", env=warehouse.env()) for _ in range(3)]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    applied = sorted(len(json.loads(stdout)["applied"]) for stdout, _ in outputs)
    assert applied == [0, 0, len(available())]
    assert versions(warehouse) == [m.version for m in available()]


def test_an_edited_migration_is_refused(warehouse):
    assert simple_etl("migrate", env=warehouse.env()).exit_code == 0
    warehouse.query("UPDATE public.schema_migrations SET checksum = 'edited' WHERE version = 1")
    result = simple_etl("migrate", env=warehouse.env())
    assert result.exit_code == CONFIG_ERROR  # a person must act: the DAG does not retry it
    assert "migration 0001 changed after it was applied" in result.error
    assert "put the change in a new migration" in result.error


def test_a_database_from_a_newer_image_is_refused(warehouse):
    assert simple_etl("migrate", env=warehouse.env()).exit_code == 0
    warehouse.query("INSERT INTO public.schema_migrations VALUES (9999, 'future', 'x', now())")
    result = simple_etl("migrate", env=warehouse.env())
    assert result.exit_code == CONFIG_ERROR
    assert "migration 9999 that this image does not know" in result.error


def unmigrated(warehouse):
    """Nothing applied: not even the migrations table."""


def behind(warehouse):
    warehouse.query("DELETE FROM public.schema_migrations WHERE version = %s", (available()[-1].version,))


def edited(warehouse):
    warehouse.query("UPDATE public.schema_migrations SET checksum = 'edited' WHERE version = 1")


def newer(warehouse):
    warehouse.query("INSERT INTO public.schema_migrations VALUES (9999, 'future', 'x', now())")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (unmigrated, "has no simple-etl schema; run `simple-etl migrate` first"),
        (behind, f"lacks migration {available()[-1].version:04d}; run `simple-etl migrate` first"),
        (edited, "migration 0001 changed after it was applied"),
        (newer, "migration 9999 that this image does not know; run the newer image"),
    ],
)
@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_refuse_a_schema_that_is_not_this_images(warehouse, fake_api, damage, message, command):
    if damage is not unmigrated:
        assert simple_etl("migrate", env=warehouse.env()).exit_code == 0
    damage(warehouse)
    before = warehouse.table_counts()
    etl = Etl(warehouse, fake_api)
    result = etl.run("batch-1") if command == "run" else etl("check")
    assert result.exit_code == CONFIG_ERROR, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.error
    assert result.stdout == ""
    assert fake_api.requests_served == 0
    assert warehouse.table_counts() == before  # nothing written, not even a ledger row


def test_a_failed_migration_leaves_nothing_behind(warehouse):
    result = simple_etl("migrate", env={**warehouse.env(), "SIMPLE_ETL_READER_ROLE": "nobody"})
    assert result.exit_code == CONFIG_ERROR
    assert "role nobody does not exist" in result.error
    schemas = warehouse.query(
        "SELECT nspname FROM pg_namespace WHERE nspname IN ('raw', 'warehouse', 'reporting')"
    )
    assert schemas == []
    assert warehouse.query("SELECT to_regclass('public.schema_migrations')") == [(None,)]


def test_migrate_waits_for_a_database_lock_instead_of_failing(warehouse):
    conn = warehouse.server.connect(warehouse.dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7317002001)")
            child = start("migrate", env=warehouse.env())
            time.sleep(1)
            assert child.poll() is None  # queued behind the lock
            cur.execute("SELECT pg_advisory_unlock(7317002001)")
        assert child.wait(timeout=60) == 0
    finally:
        conn.close()


def test_a_warehouse_landed_per_record_moves_to_pages(warehouse):
    """0003: a database at version 2 keeps its raw records, regrouped into pages in order."""
    with at_older_schema(warehouse, below=3) as cur:
        cur.execute(
            "INSERT INTO warehouse.batches (batch_id, shard, shards, status, visited_at, started_at) "
            "VALUES ('old', 0, 1, 'succeeded', now(), now())"
        )
        for page, seq, name in ((1, 1, "b"), (1, 0, "a"), (2, 0, "c")):
            cur.execute(
                "INSERT INTO raw.user_payloads (batch_id, shard, page, seq, payload) "
                "VALUES ('old', 0, %s, %s, jsonb_build_object('n', %s))",
                (page, seq, name),
            )

    result = simple_etl("migrate", env=warehouse.env())

    assert result.exit_code == 0, result.stderr
    assert result.summary["applied"] == [m.version for m in available() if m.version >= 3]
    pages = warehouse.query("SELECT page, payload FROM raw.pages ORDER BY page")
    assert pages == [(1, [{"n": "a"}, {"n": "b"}]), (2, [{"n": "c"}])]


def test_first_sightings_kept_by_an_older_load_order_are_set_from_the_visits(warehouse):
    """0006: loads before 0005 kept the first loaded batch on a tie of visited_at; after
    the migration the first sighting is the least (visited_at, batch_id), as the rule says."""
    with at_older_schema(warehouse, below=6) as cur:
        cur.execute(
            "INSERT INTO warehouse.batch_plans (batch_id, shards, visited_at) "
            "VALUES ('a', 1, '2026-01-01Z'), ('b', 1, '2026-01-01Z')"
        )
        cur.execute(
            "INSERT INTO warehouse.batches (batch_id, shard, shards, status, visited_at, started_at) "
            "SELECT batch_id, 0, 1, 'succeeded', visited_at, now() FROM warehouse.batch_plans"
        )
        # Person 1 was loaded by batch b first (same instant as a): the old rule kept b.
        cur.execute(
            "INSERT INTO warehouse.people (person_uuid, gender, first_name, last_name, born_at, "
            "registered_at, nationality, country, first_seen_at, last_seen_at, first_batch_id, "
            "last_batch_id) SELECT u::uuid, 'female', 'Ada', 'L', '1990-01-01Z', '2020-01-01Z', "
            "'GB', 'United Kingdom', '2026-01-01Z', '2026-01-01Z', 'b', 'b' "
            "FROM unnest(ARRAY['00000000-0000-0000-0000-000000000001', "
            "'00000000-0000-0000-0000-000000000002']) u"
        )
        cur.execute(
            "INSERT INTO warehouse.visits (batch_id, person_uuid, shard, visited_at) VALUES "
            "('a', '00000000-0000-0000-0000-000000000001', 0, '2026-01-01Z'), "
            "('b', '00000000-0000-0000-0000-000000000001', 0, '2026-01-01Z'), "
            "('b', '00000000-0000-0000-0000-000000000002', 0, '2026-01-01Z')"
        )

    result = simple_etl("migrate", env=warehouse.env())

    assert result.exit_code == 0, result.stderr
    assert result.summary["applied"] == [m.version for m in available() if m.version >= 6]
    assert warehouse.query("SELECT person_uuid::text, first_batch_id FROM warehouse.people ORDER BY 1") == [
        ("00000000-0000-0000-0000-000000000001", "a"),
        ("00000000-0000-0000-0000-000000000002", "b"),
    ]
    assert warehouse.query(
        "SELECT batch_id, right(person_uuid::text, 1), is_new FROM warehouse.classified_visits ORDER BY 1, 2"
    ) == [("a", "1", True), ("b", "1", False), ("b", "2", True)]
