"""Records → typed rows: validation, de-duplication and the quarantine reasons.

One record at a time, in the loader, as a line of COPY text for the staging table
(`upsert.CREATE_STAGING`): a valid record's fields typed as text Postgres will cast
without error, or a rejected record's reason and payload. Doing this in Python rather
than in SQL over the landed JSON keeps the database doing only what must happen there
(the writes) and lets both run at once (pipeline.load overlaps them); bench/README.md
has the measurements.

Every check here is what lets the staging COPY cast without error: a record that would
make Postgres fail is quarantined with its reason instead, and never aborts the batch.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from simple_etl.client import Page

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").fullmatch
COUNTRY_CODE = re.compile(r"[A-Z]{2}").fullmatch
TIMESTAMP = re.compile(  # ISO-8601 with an explicit zone, as the API writes them
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
).fullmatch
COORDINATE = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,12})?").fullmatch
INTEGER = re.compile(r"-?[0-9]{1,9}").fullmatch

DUPLICATE = "duplicate login.uuid within the batch"
NUL = "a text field contains a NUL character, which Postgres text cannot hold"

NULL = r"\N"
FIELDS = 23  # typed columns of a valid record, after (page, seq, reason, payload)
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
EMPTY: dict[str, Any] = {}


@dataclass
class Transform:
    """The transform of one batch shard. It remembers the uuids it has let through, so
    that a person seen twice in the batch is loaded once, from the first sighting."""

    seen: set[str] = field(default_factory=set)

    def page_rows(self, page: Page) -> bytes:
        """The page's staging rows, as COPY text."""
        lines = []
        for seq, record in enumerate(page.records):
            fields = typed_fields(record)
            if isinstance(fields, str):
                line = _rejected(fields, record)
            else:
                fields[0] = uuid = fields[0].lower()  # one person however the uuid is spelled
                text = _copy_text(fields)
                if text is None:
                    line = _rejected(NUL, record)
                elif uuid in self.seen:
                    line = _rejected(DUPLICATE, record)
                else:
                    self.seen.add(uuid)
                    line = text
            lines.append(f"{page.number}\t{seq}\t{line}\n")
        return "".join(lines).encode()


def typed_fields(record: Any) -> list[str | None] | str:
    """The record's columns as COPY-ready text, or the reason it is rejected.

    The first failing check gives the reason; they run from structure to detail. A field
    is read as Postgres' `->>` would: a string as it is, a number or boolean as its JSON
    text, a missing field (or one under a non-object) as NULL.
    """
    if type(record) is not dict:
        return "payload is not a JSON object"
    get = record.get
    login, name, location = _object(get("login")), _object(get("name")), _object(get("location"))
    uuid = login.get("uuid")
    if type(uuid) is not str or not UUID(uuid):
        return "login.uuid is missing or not a UUID"
    first, last = _text(name.get("first")), _text(name.get("last"))
    if not first or not last:
        return "name.first or name.last is missing"
    gender = get("gender")
    if gender != "female" and gender != "male":
        return "gender is not female or male"
    nationality = get("nat")
    if type(nationality) is not str or not COUNTRY_CODE(nationality):
        return "nat is not a two-letter country code"
    country = _text(location.get("country"))
    if not country:
        return "location.country is missing"
    born_at = _object(get("dob")).get("date")
    if not _is_timestamp(born_at):
        return "dob.date is not an ISO-8601 timestamp"
    registered_at = _object(get("registered")).get("date")
    if not _is_timestamp(registered_at):
        return "registered.date is not an ISO-8601 timestamp"
    coordinates = _object(location.get("coordinates"))
    latitude, longitude = _text(coordinates.get("latitude")), _text(coordinates.get("longitude"))
    if not (_is_coordinate(latitude, 90) and _is_coordinate(longitude, 180)):
        return "location.coordinates are not a latitude/longitude in range"
    street = _object(location.get("street"))
    street_number = _text(street.get("number"))
    if street_number is not None and not INTEGER(street_number):
        return "location.street.number is not an integer"
    identity = _object(get("id"))
    return [
        uuid, gender, _text(name.get("title")), first, last, _text(get("email")),
        _text(login.get("username")), _text(get("phone")), _text(get("cell")), born_at, registered_at,
        nationality, country, _text(location.get("state")), _text(location.get("city")), street_number,
        _text(street.get("name")), _text(location.get("postcode")), latitude, longitude,
        _text(_object(location.get("timezone")).get("offset")), _text(identity.get("name")) or None,
        _text(identity.get("value")),
    ]  # fmt: skip


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else EMPTY


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return orjson.dumps(value).decode()  # numbers and booleans as JSON writes them


def _is_timestamp(value: Any) -> bool:
    if type(value) is not str or not TIMESTAMP(value):
        return False
    year, day = int(value[:4]), int(value[8:10])
    return year > 0 and (day <= 28 or day <= calendar.monthrange(year, int(value[5:7]))[1])


def _is_coordinate(value: str | None, bound: int) -> bool:
    return value is not None and COORDINATE(value) is not None and abs(float(value)) <= bound


def _copy_text(fields: list[str | None]) -> str | None:
    """The fields as one line of COPY text (after page, seq, reason and payload); None
    when one holds a NUL character, which no Postgres text can store."""
    line = "\t".join([NULL if value is None else value for value in fields])
    # Almost no value needs COPY's escapes: check the joined line once, escape only then
    # (the only backslashes allowed are those of the NULL markers).
    escapes = line.count("\\") != fields.count(None)
    if escapes or line.count("\t") != FIELDS - 1 or "\n" in line or "\r" in line:
        line = "\t".join(NULL if value is None else value.translate(COPY_ESCAPES) for value in fields)
    if "\x00" in line:
        return None
    return f"{NULL}\t{NULL}\t{line}"


def _rejected(reason: str, record: Any) -> str:
    payload = orjson.dumps(record).decode().replace("\\", "\\\\")  # JSON escapes the rest itself
    return f"{reason}\t{payload}" + f"\t{NULL}" * FIELDS
