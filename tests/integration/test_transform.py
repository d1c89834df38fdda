"""The real API's quirks survive the transform into typed rows."""

from datetime import UTC, datetime
from decimal import Decimal

from simple_etl.config import Settings
from simple_etl.fakeapi import generate


def test_source_values_arrive_typed(etl):
    assert etl.run("batch-1", SIMPLE_ETL_BATCH_SIZE="500").exit_code == 0
    pages = etl.warehouse.query("SELECT page FROM raw.pages")
    assert len(pages) == 1
    source = generate(Settings().api_seed, pages[0][0], 500)  # the seed the client sends
    rows = {
        str(r[0]): r
        for r in etl.warehouse.query(
            "SELECT person_uuid, pg_typeof(person_uuid)::text, first_name, postcode, id_value, latitude, "
            "born_at, registered_at, street_number FROM warehouse.people"
        )
    }
    assert len(rows) == 500
    for record in source:
        _, uuid_type, first, postcode, id_value, latitude, born, registered, street = rows[
            record["login"]["uuid"]
        ]
        assert uuid_type == "uuid"
        assert first == record["name"]["first"]
        assert postcode == str(record["location"]["postcode"])
        assert id_value == record["id"]["value"]
        assert latitude == Decimal(record["location"]["coordinates"]["latitude"])
        assert born == datetime.fromisoformat(record["dob"]["date"]).astimezone(UTC)
        assert registered == datetime.fromisoformat(record["registered"]["date"]).astimezone(UTC)
        assert street == record["location"]["street"]["number"]
    # The quirks this test exists for are really in the data.
    assert {type(r["location"]["postcode"]) for r in source} == {int, str}
    assert any(r["id"]["value"] is None for r in source)
    assert any(not r["name"]["first"].isascii() for r in source)
    assert any(r[4] is None for r in rows.values())


def test_emails_and_usernames_may_repeat_across_people(etl):
    assert etl.run("batch-1").exit_code == 0
    repeated = etl.warehouse.scalar(
        "SELECT count(*) FROM (SELECT email FROM warehouse.people GROUP BY email HAVING count(*) > 1) e"
    )
    assert repeated > 0
    assert etl.warehouse.scalar("SELECT count(DISTINCT person_uuid) FROM warehouse.people") == 5000
