"""Text the stand-in API never sends arrives exactly, or is quarantined, never fatal."""

import copy
import sys

import pytest

from simple_etl import jsontext
from simple_etl.fakeapi import generate
from simple_etl.landing import strip_credentials
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


# Issue 16 points 3 and 8: valid JSON that JSON storage cannot hold fails only its record.
@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        (b'"Ma\\ud800ral"', "unencodable_text: location.city"),
        (b"1e400", "non_finite_number: location.city"),
        (b"-1e400", "non_finite_number: location.city"),
        # orjson reads this as a double: text columns refuse numbers the source never sends.
        (b"123456789012345678901234567890", "not_text: location.city"),
        (b"[" * 254 + b"]" * 254, "too_deep: location.city"),  # orjson reads, cannot write
        (b'{"a":' * 1022 + b"1" + b"}" * 1022, "too_deep: location.city"),
        (b"[" * 1030 + b"]" * 1030, "too_deep: location.city"),  # deeper than orjson reads
    ],
    ids=["lone-surrogate", "beyond-double", "below-double", "beyond-64-bits", "254", "1022", "1030"],
)
def test_an_unstorable_record_is_quarantined_and_the_rest_of_its_page_loads(etl, literal, reason):
    records = generate("poison", 1, 5)
    records[2]["location"]["city"] = "POISON"
    body = jsontext.encode({"results": records}).replace(b'"POISON"', literal)
    page = jsontext.decode(body)["results"]  # what the client does with the API's answer

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # load_pages deep-copies the page (the client never does)
    try:
        counts = load_pages(etl.warehouse, "batch-1", {1: page})
    finally:
        sys.setrecursionlimit(limit)

    assert (counts.extracted, counts.loaded, counts.quarantined) == (5, 4, 1)
    ((stored_reason, payload),) = etl.warehouse.query("SELECT reason, payload FROM warehouse.quarantine")
    assert stored_reason.startswith(reason)
    unstorable = jsontext.POISON in payload  # landed in storable form, or rejected as it is
    assert unstorable == (not reason.startswith("not_text"))
    assert payload.get("record", payload)["login"]["uuid"] == records[2]["login"]["uuid"]
    landed = etl.warehouse.scalar("SELECT payload FROM raw.pages")
    # The page lands: the poison record in storable form, with its reason; the rest as sent.
    assert len(landed) == 5 and landed[2] == payload
    assert landed[2].get(jsontext.POISON, stored_reason) == stored_reason
    assert landed[3] == strip_credentials(copy.deepcopy(records[3]))
    assert etl("check", "--batch-id", "batch-1", SIMPLE_ETL_MAX_REJECT_RATIO="1").exit_code == 0
