"""Within one batch, a person seen twice is loaded once, from the first sighting.

The stand-in API never repeats a uuid, so these records are fed to the engine's own
extract and load directly (tests/support/load.py).
"""

import copy

from simple_etl.fakeapi import generate
from tests.support.load import load_pages as load


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
