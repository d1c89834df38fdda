"""Within one batch, a person seen twice is loaded once, from the first sighting.

The stand-in API never repeats a uuid, so these records are fed to the engine's own
landing and load directly (as the benchmark does), through `pipeline.load`.
"""

import copy
from datetime import UTC, datetime

import psycopg2

from simple_etl import ledger, pipeline
from simple_etl.client import Page
from simple_etl.fakeapi import generate
from simple_etl.landing import extract
from simple_etl.log import JsonLogger

VISITED_AT = datetime(2026, 1, 1, tzinfo=UTC)


class Pages:
    def __init__(self, pages: dict[int, list]) -> None:
        self.pages = pages

    def fetch_page(self, number: int) -> Page:
        return Page(number, copy.deepcopy(self.pages[number]))


def load(warehouse, batch_id, pages):
    env = warehouse.env()
    conn = psycopg2.connect(
        host=env["PGHOST"], port=env["PGPORT"], dbname=env["PGDATABASE"],
        user=env["PGUSER"], password=env["PGPASSWORD"],
    )  # fmt: skip
    try:
        ledger.begin(conn, batch_id, 0, 1, VISITED_AT)
        spool, extracted = extract(Pages(pages), sorted(pages), batch_id, 0, JsonLogger("WARNING"))
        with spool:
            request = pipeline.BatchRequest(batch_id, 0, 1, VISITED_AT)
            return pipeline.load(conn, request, spool, len(pages), extracted)
    finally:
        conn.close()


def test_a_repeated_uuid_keeps_its_first_sighting_and_quarantines_the_others(etl):
    a, b, c, d, e = generate("duplicates", 1, 5)
    renamed_a = copy.deepcopy(a)
    renamed_a["login"]["uuid"] = a["login"]["uuid"].upper()  # the same uuid, spelled differently
    renamed_a["name"]["first"] = "Someone Else"
    c["login"]["uuid"] = "not-a-uuid"
    pages = {1: [a, b, c, d], 2: [renamed_a, e, b, ["not", "an", "object"]]}

    counts = load(etl.warehouse, "batch-1", pages)

    assert (counts.extracted, counts.loaded, counts.quarantined, counts.new_people) == (8, 4, 4, 4)
    quarantined = etl.warehouse.query("SELECT page, seq, reason FROM warehouse.quarantine ORDER BY 1, 2")
    assert quarantined == [
        (1, 2, "login.uuid is missing or not a UUID"),
        (2, 0, "duplicate login.uuid within the batch"),
        (2, 2, "duplicate login.uuid within the batch"),
        (2, 3, "payload is not a JSON object"),
    ]
    first_name = etl.warehouse.scalar(
        "SELECT first_name FROM warehouse.people WHERE person_uuid = %s", (a["login"]["uuid"],)
    )
    assert first_name == a["name"]["first"]
    assert etl.warehouse.scalar("SELECT count(*) FROM warehouse.visits") == 4
    payload = etl.warehouse.scalar("SELECT payload FROM warehouse.quarantine WHERE page = 2 AND seq = 0")
    assert payload["name"]["first"] == "Someone Else" and "password" not in payload["login"]
    # The ledger reconciles: every extracted record is either loaded or quarantined.
    assert etl("check", "--batch-id", "batch-1", SIMPLE_ETL_MAX_REJECT_RATIO="1").exit_code == 0
