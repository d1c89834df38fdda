"""Records → staging rows: every rejection has its reason, every row is COPY-exact."""

import copy

import pytest

from simple_etl.client import Page
from simple_etl.fakeapi import generate
from simple_etl.transform import DUPLICATE, FIELDS, NUL, Transform, typed_fields

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
    ],
)  # fmt: skip
def test_each_broken_field_is_rejected_with_its_reason(record, reason):
    assert typed_fields(record) == reason


def test_values_are_read_as_postgres_text():
    record = broken("location.street.number", "-42")
    record["location"]["postcode"] = 62198
    record["id"] = {"name": "", "value": None}
    record["dob"]["date"] = "2024-02-29T23:59:59.5+05:30"  # a leap day, an offset
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
