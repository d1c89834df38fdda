"""Records → staging rows: every rejection has its reason, every row is COPY-exact."""

import copy

import pytest

from simple_etl import jsontext
from simple_etl.client import Page
from simple_etl.fakeapi import generate
from simple_etl.transform import (
    DUPLICATE,
    FIELDS,
    IMPLAUSIBLE_BIRTH,
    IMPLAUSIBLE_REGISTRATION,
    NOT_TEXT,
    NUL,
    NUMBER_OUT_OF_RANGE,
    Transform,
    typed_fields,
)

RECORD = generate("transform", 1, 1)[0]
COORDINATES = "location.coordinates are not a latitude/longitude in range"


def broken(path: str, value):
    record = copy.deepcopy(RECORD)
    *parents, leaf = path.split(".")
    target = record
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (["not", "an", "object"], "payload is not a JSON object"),
        (broken("login.uuid", "7a0eed16-9430-4d68-901f"), "login.uuid is missing or not a UUID"),
        (broken("login", None), "login.uuid is missing or not a UUID"),
        (broken("name.first", ""), "name.first or name.last is missing"),
        (broken("name.last", KeyError), "name.first or name.last is missing"),
        (broken("gender", "other"), "gender is not female or male"),
        (broken("nat", "dk"), "nat is not a two-letter country code"),
        (broken("location.country", None), "location.country is missing"),
        (broken("dob.date", "1971-02-30T04:28:37.348Z"), "dob.date is not an ISO-8601 timestamp"),
        (broken("dob.date", "0000-01-01T00:00:00Z"), "dob.date is not an ISO-8601 timestamp"),
        (broken("registered.date", "2024-11-07 20:12:45"), "registered.date is not an ISO-8601 timestamp"),
        (broken("location.coordinates.latitude", "90.5"), COORDINATES),
        (broken("location.coordinates.longitude", "east"), COORDINATES),
        (broken("location.street.number", 1.5), "location.street.number is not an integer"),
        (broken("location.street.number", "12a"), "location.street.number is not an integer"),
        (broken("location.street.number", 2**70), "location.street.number is not an integer"),
        # Issue 16 point 9: no JSON text of objects, arrays or booleans in text columns.
        (broken("name.first", {}), "name.first or name.last is missing"),
        (broken("name.last", ["Weiß"]), "name.first or name.last is missing"),
        (broken("name.first", "  "), "name.first or name.last is missing"),
        (broken("email", {"user": "x"}), f"{NOT_TEXT}: email"),
        (broken("location.city", ["Berlin"]), f"{NOT_TEXT}: location.city"),
        (broken("phone", True), f"{NOT_TEXT}: phone"),
        (broken("phone", 5551234), f"{NOT_TEXT}: phone"),  # the source sends phones as text
        (broken("name.title", False), f"{NOT_TEXT}: name.title"),
        (broken("id.value", {"v": 1}), f"{NOT_TEXT}: id.value"),
        (broken("location.postcode", {}), f"{NOT_TEXT}: location.postcode"),
        (broken("location.postcode", 1.5), f"{NOT_TEXT}: location.postcode"),
        (broken("location.postcode", True), f"{NOT_TEXT}: location.postcode"),
        (broken("location.postcode", 2**63), f"{NUMBER_OUT_OF_RANGE}: location.postcode"),
        # What orjson makes of an integer beyond 64 bits: never stored as this double's text.
        (broken("location.postcode", 1.2345678901234568e22), f"{NUMBER_OUT_OF_RANGE}: location.postcode"),
        (broken("location.street.number", 2**31), "location.street.number is not an integer"),
        (broken("location.street.number", 1.2345678901234568e22), "location.street.number is not an integer"),
        (broken("dob.date", "1899-12-31T23:59:59.999Z"), IMPLAUSIBLE_BIRTH),
        (broken("registered.date", "1900-01-01T00:00:00+14:00"), IMPLAUSIBLE_REGISTRATION),
        (broken("location.coordinates.latitude", {"deg": 1}), COORDINATES),
        (broken("location.street.number", {}), "location.street.number is not an integer"),
        (broken("dob.date", "0001-01-01T00:00:00Z"), IMPLAUSIBLE_BIRTH),
        (broken("dob.date", "2999-01-01T00:00:00Z"), IMPLAUSIBLE_BIRTH),
        (broken("registered.date", "1950-01-01T00:00:00Z"), IMPLAUSIBLE_REGISTRATION),
        (broken("registered.date", "2999-01-01T00:00:00Z"), IMPLAUSIBLE_REGISTRATION),
    ],
)  # fmt: skip
def test_each_broken_field_is_rejected_with_its_reason(record, reason):
    assert typed_fields(record) == reason


def test_values_are_read_as_postgres_text():
    record = broken("location.street.number", "-42")
    record["location"]["postcode"] = 62198
    record["id"] = {"name": "", "value": None}
    record["dob"]["date"] = "2024-02-29T23:59:59.5+05:30"  # a leap day, an offset
    record["registered"]["date"] = "2024-03-01T00:00:00Z"  # registered after birth
    fields = typed_fields(record)
    assert isinstance(fields, list) and len(fields) == FIELDS
    assert fields[15] == "-42" and fields[17] == "62198"  # street number, postcode
    assert fields[9] == "2024-02-29T23:59:59.5+05:30"
    assert fields[21:] == [None, None]  # an empty id name is no id name


def staged_line(records, transform=None):
    rows = (transform or Transform()).page_rows(Page(3, records)).decode()
    return [line.split("\t") for line in rows.splitlines()]


def test_a_valid_record_is_a_row_of_typed_columns():
    ((page, seq, reason, payload, uuid, *rest),) = staged_line([copy.deepcopy(RECORD)])
    assert (page, seq, reason, payload) == ("3", "0", r"\N", r"\N")
    assert uuid == RECORD["login"]["uuid"] and len(rest) == FIELDS - 1


def test_text_that_needs_copy_escapes_is_escaped():
    record = broken("name.first", "Tab\there\\back\nline")
    (row,) = staged_line([record])
    assert len(row) == 4 + FIELDS  # page, seq, reason, payload, the columns
    assert row[7] == "Tab\\there\\\\back\\nline"  # name.first, after uuid, gender, title


def test_a_nul_character_is_quarantined_not_fatal():
    ((_, _, reason, payload, *typed),) = staged_line([broken("name.last", "Nul\x00")])
    assert reason == NUL and "\\\\u0000" in payload and set(typed) == {r"\N"}


def test_a_uuid_seen_again_in_the_batch_is_a_duplicate_across_pages():
    transform = Transform()
    first = copy.deepcopy(RECORD)
    again = broken("login.uuid", RECORD["login"]["uuid"].upper())
    assert staged_line([first], transform)[0][2] == r"\N"
    assert staged_line([again], transform)[0][2] == DUPLICATE


def test_the_real_sources_quirks_load_as_sent():
    record = copy.deepcopy(RECORD)
    record["id"] = {"name": "HETU", "value": "NaNNA964undefined"}  # every Finnish id.value
    record["phone"], record["cell"] = "(068) H59-8767", "A00 O46-5550"  # letters: Ukraine, Canada
    record["location"]["street"]["name"] = "Rue Paul Bert "  # kept: the source's value, as sent
    record["location"]["postcode"] = 7349  # Dutch postcodes are integers
    record["location"]["timezone"]["offset"] = "+4:30"
    record["email"] = "zoe.o'brien-smith@example.com"
    record["name"]["title"] = "Ms"
    record["login"]["password"] = ""
    fields = typed_fields(record)
    assert isinstance(fields, list)
    assert fields[22] == "NaNNA964undefined" and fields[7:9] == ["(068) H59-8767", "A00 O46-5550"]
    assert fields[16] == "Rue Paul Bert " and fields[17] == "7349" and fields[20] == "+4:30"
    assert fields[5] == "zoe.o'brien-smith@example.com" and fields[2] == "Ms"
    record["location"]["timezone"]["offset"] = "-12:00"
    assert typed_fields(record)[20] == "-12:00"


def test_a_record_landed_in_storable_form_is_quarantined_with_its_reason():
    poison = {jsontext.POISON: "unencodable_text: name.first", "record": copy.deepcopy(RECORD)}
    ((_, _, reason, payload, *typed),) = staged_line(
        [
            poison,
        ]
    )
    assert reason == "unencodable_text: name.first" and set(typed) == {r"\N"}
    assert jsontext.decode(payload.replace("\\\\", "\\"))["record"] == RECORD


def test_dates_in_any_zone_are_compared_as_instants():
    early = broken("registered.date", "1982-06-04T23:00:00+14:00")  # 09:00 UTC: before birth
    early["dob"]["date"] = "1982-06-04T18:09:18.069Z"
    assert typed_fields(early) == IMPLAUSIBLE_REGISTRATION
    later = broken("registered.date", "1982-06-04T23:00:00-02:00")  # 2 June 01:00 UTC: after
    later["dob"]["date"] = "1982-06-04T18:09:18.069Z"
    assert isinstance(typed_fields(later), list)
