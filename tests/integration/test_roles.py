"""Acceptance: the Grafana role reads `reporting` and nothing else."""

import psycopg2
import pytest
from psycopg2 import errors

from simple_etl.fakeapi import Faults


def connect_as_reader(warehouse):
    return warehouse.server.connect(warehouse.dbname, warehouse.reader)


@pytest.fixture
def loaded(etl):
    etl.api.faults = Faults(corrupt=2)  # so that quarantine has rows to show
    assert etl.run("batch-1", SIMPLE_ETL_BATCH_SIZE="500").exit_code == 0
    return etl.warehouse


@pytest.mark.parametrize("view", ["visits", "people", "batches", "quarantine", "freshness"])
def test_the_reader_sees_every_reporting_view(loaded, view):
    conn = connect_as_reader(loaded)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM reporting.{view}")  # noqa: S608
            assert cur.fetchone()[0] >= 1
    finally:
        conn.close()


@pytest.mark.parametrize(
    "table",
    [
        "raw.pages",
        "warehouse.people",
        "warehouse.visits",
        "warehouse.batches",
        "warehouse.quarantine",
    ],
)
def test_the_reader_is_refused_on_raw_and_warehouse(loaded, table):
    conn = connect_as_reader(loaded)
    try:
        with pytest.raises(errors.InsufficientPrivilege), conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608
    finally:
        conn.close()


def test_the_reader_cannot_write_reporting(loaded):
    conn = connect_as_reader(loaded)
    try:
        with pytest.raises(psycopg2.Error), conn.cursor() as cur:
            cur.execute("DELETE FROM reporting.batches")
    finally:
        conn.close()


def test_reporting_views_expose_no_direct_pii(loaded):
    columns = {
        c
        for (c,) in loaded.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'reporting'"
        )
    }
    pii = {"first_name", "last_name", "email", "username", "phone", "cell", "street_name", "street_number",
           "postcode", "id_value", "person_uuid", "payload"}  # fmt: skip
    assert columns and not columns & pii
