"""Acceptance: a batch of 5000 loads; re-running it changes nothing; new batches return visitors."""

from tests.support.etl import Etl
from tests.support.warehouse import Warehouse


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every row of every table, minus the columns that record wall-clock time, and
    minus the attempts' history (a retried batch has more of it than a clean run)."""
    skip = {
        "landed_at", "quarantined_at", "started_at", "finished_at", "attempts", "heartbeat_at",
        "lease_until", "planned_at",
    }  # fmt: skip
    tables = {}
    for name, count in warehouse.table_counts(ledger_detail=True).items():
        if name == "warehouse.batch_attempts":
            continue
        schema, table = name.split(".")
        columns = [
            c
            for (c,) in warehouse.query(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            )
            if c not in skip
        ]
        rows = warehouse.query(f"SELECT {', '.join(columns)} FROM {name} ORDER BY 1, 2, 3")  # noqa: S608
        assert len(rows) == count
        tables[name] = rows
    return tables


def test_a_batch_of_5000_people_loads(etl):
    result = etl.run("batch-1")
    assert result.exit_code == 0, result.stderr
    summary = result.summary
    assert summary["status"] == "succeeded"
    assert summary["extracted"] == summary["loaded"] == summary["new_people"] == 5000
    assert summary["quarantined"] == summary["returning_people"] == 0
    assert etl.warehouse.table_counts() == {
        "raw.pages": 10,
        "warehouse.batches": 1,
        "warehouse.people": 5000,
        "warehouse.quarantine": 0,
        "warehouse.visits": 5000,
    }
    assert etl.warehouse.raw_records() == 5000
    status, extracted = etl.warehouse.query("SELECT status, extracted FROM warehouse.batches")[0]
    assert (status, extracted) == ("succeeded", 5000)
    events = [entry["event"] for entry in result.logs]
    assert events.count("extract.page") == 10 and events[-1] == "run.finished"
    assert all(entry["batch_id"] == "batch-1" for entry in result.logs)


def test_the_same_batch_again_leaves_every_table_unchanged(etl):
    assert etl.run("batch-1").exit_code == 0
    before = snapshot(etl.warehouse)
    again = etl.run("batch-1")
    assert again.exit_code == 0, again.stderr
    assert again.summary["status"] == "skipped"
    assert snapshot(etl.warehouse) == before


def test_a_new_batch_adds_visits_and_sees_returning_people(etl):
    # A pool of 12 pages and 10 pages a batch: two batches must share at least 8 pages.
    pool = {"SIMPLE_ETL_POOL_PAGES": "12"}
    first = etl.run("batch-1", **pool).summary
    second = etl.run("batch-2", **pool).summary
    assert first["new_people"] == 5000
    assert second["returning_people"] >= 4000
    assert second["new_people"] == 5000 - second["returning_people"]
    wh = etl.warehouse
    assert wh.scalar("SELECT count(*) FROM warehouse.visits") == 10000
    assert wh.scalar("SELECT count(*) FROM warehouse.people") == 5000 + second["new_people"]
    by_batch = dict(
        wh.query("SELECT batch_id, count(*) FILTER (WHERE NOT is_new) FROM reporting.visits GROUP BY 1")
    )
    assert by_batch == {"batch-1": 0, "batch-2": second["returning_people"]}
    last_seen = wh.scalar(
        "SELECT count(*) FROM warehouse.people WHERE first_batch_id = 'batch-1' AND last_batch_id = 'batch-2'"
    )
    assert last_seen == second["returning_people"]


def test_shards_of_one_batch_load_disjoint_parts_of_it(etl):
    results = [etl.run("batch-1", "--shard", str(i), "--shards", "3") for i in range(3)]
    assert [r.exit_code for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert sum(r.summary["loaded"] for r in results) == 5000
    assert sorted(r.summary["pages"] for r in results) == [3, 3, 4]
    assert etl("check", "--batch-id", "batch-1").exit_code == 0
    mismatched = etl.run("batch-1", "--shard", "0", "--shards", "2")
    assert mismatched.exit_code == 2
    assert "was started with --shards 3" in mismatched.error


def visitor_counts(etl) -> dict[str, tuple]:
    """Per batch: the run's own summary is not kept; the ledger view and the visits view."""
    ledger = etl.warehouse.query(
        "SELECT batch_id, sum(new_people), sum(returning_people) FROM reporting.batches GROUP BY 1"
    )
    visits = etl.warehouse.query(
        "SELECT batch_id, count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) "
        "FROM reporting.visits GROUP BY 1"
    )
    return {"ledger": sorted(ledger), "visits": sorted(visits)}


def test_new_and_returning_do_not_depend_on_the_load_order(warehouse_factory, fake_api):
    # Issue 16 point 6: waves loaded late (a retry, a backfill) must not change who is new.
    pool = {"SIMPLE_ETL_POOL_PAGES": "12", "SIMPLE_ETL_BATCH_SIZE": "2000", "SIMPLE_ETL_PAGE_SIZE": "500"}
    waves = ["batch-1", "batch-2", "batch-3"]

    def loaded(order):
        warehouse = warehouse_factory()
        etl = Etl(warehouse, fake_api)
        assert etl("migrate").exit_code == 0
        for batch_id in waves:
            etl.visit_time(batch_id)  # the waves' times follow their names, whatever the load order
        summaries = {}
        for batch_id in order:
            result = etl.run(batch_id, **pool)
            assert result.exit_code == 0, result.stderr
            summaries[batch_id] = (result.summary["new_people"], result.summary["returning_people"])
        return etl, summaries

    in_order, _ = loaded(waves)
    out_of_order, summaries = loaded(["batch-3", "batch-1", "batch-2"])
    expected = visitor_counts(in_order)
    assert expected["ledger"] == expected["visits"]
    assert visitor_counts(out_of_order) == expected
    assert expected["ledger"][0][1:] == (2000, 0)  # the first wave is all new
    assert expected["ledger"][1][2] > 0  # and later ones see returning people
    # batch-3 ran first, so its run said "all new"; the last run's own summary agrees already.
    assert summaries["batch-3"] == (2000, 0)
    assert summaries["batch-2"] == tuple(expected["ledger"][1][1:])
    people = (
        "SELECT person_uuid, first_batch_id, first_seen_at, last_batch_id FROM warehouse.people ORDER BY 1"
    )
    assert out_of_order.warehouse.query(people) == in_order.warehouse.query(people)
