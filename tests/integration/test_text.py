"""Text the stand-in API never sends arrives exactly, or is quarantined, never fatal."""

from simple_etl.fakeapi import generate
from simple_etl.transform import NUL
from tests.support.load import load_pages


def test_escapes_arrive_exactly_and_a_nul_is_quarantined(etl):
    tricky, nul, plain = generate("text", 1, 3)
    tricky["name"]["first"] = "Tab\there, back\\slash,\nnew line, \\N, \u00e9\u0645"
    nul["login"]["username"] = "Nul\x00"
    counts = load_pages(etl.warehouse, "batch-1", {1: [tricky, nul, plain]})

    assert (counts.loaded, counts.quarantined) == (2, 1)
    first = etl.warehouse.scalar(
        "SELECT first_name FROM warehouse.people WHERE person_uuid = %s", (tricky["login"]["uuid"],)
    )
    assert first == tricky["name"]["first"]
    reason, payload = etl.warehouse.query("SELECT reason, payload FROM warehouse.quarantine")[0]
    assert reason == NUL and payload["login"]["username"] == "Nul\x00"
    landed = etl.warehouse.scalar("SELECT payload FROM raw.pages")
    assert [record["name"] for record in landed] == [tricky["name"], nul["name"], plain["name"]]
    # The quality gate reads the raw zone as json: the NUL there does not break it.
    assert etl("check", "--batch-id", "batch-1", SIMPLE_ETL_MAX_REJECT_RATIO="1").exit_code == 0
