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
from datetime import UTC, datetime
from typing import Any

from simple_etl import jsontext
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
# "not_text: <field>": a text column given an object, an array, a boolean, or a number
# where the source sends text (it sends numbers only as postcodes and street numbers).
NOT_TEXT = "not_text"
# "number_out_of_range: location.postcode": an integer beyond 64 bits, which orjson reads
# as a double; stored, it would be that double's text (1.2345678901234568e+22).
NUMBER_OUT_OF_RANGE = jsontext.NUMBER_OUT_OF_RANGE
IMPLAUSIBLE_BIRTH = "dob.date is before 1900 or in the future"
IMPLAUSIBLE_REGISTRATION = "registered.date is before dob.date or in the future"
EARLIEST_BIRTH = "1900"
BIGINT = 1 << 63  # an integer the source sends as a number stays within 64 bits
INT4 = 1 << 31  # street_number is an integer column
# The fields read by `_text` / `_number_text`, in the order they are read.
TEXT_FIELDS = (
    "name.title", "email", "login.username", "phone", "cell", "location.state", "location.city",
    "location.street.name", "location.postcode", "location.timezone.offset", "id.name", "id.value",
)  # fmt: skip

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
        """The page's staging rows, as COPY text. The records are as landing.read_pages
        gives them: what JSON cannot store already replaced and marked (jsontext.marked)."""
        lines = []
        now = datetime.now(UTC)
        for seq, record in enumerate(page.records):
            fields = typed_fields(record, now)
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


def typed_fields(record: Any, now: datetime | None = None) -> list[str | None] | str:
    """The record's columns as COPY-ready text, or the reason it is rejected.

    The first failing check gives the reason; they run from structure to detail. A text
    field takes a string as it is; the postcode and street number also an integer, as its
    digits (the source sends Dutch postcodes and every street number as numbers); a missing
    field (or one under a non-object) is NULL; anything else rejects the record, naming
    the field ("not_text: name.title"). Text is kept as sent, trailing spaces included
    (about 1 street name in 30 ends with one at the source): trimmed, the warehouse would
    disagree with the raw zone and the source. A record landing.copy_line could only land in
    storable form (a lone surrogate, 1e400, nesting too deep) is rejected with the reason
    it was marked with (jsontext.marked).
    """
    if type(record) is not dict:
        return "payload is not a JSON object"
    if jsontext.POISON in record:  # landed in storable form (jsontext.marked)
        return str(record[jsontext.POISON])
    get = record.get
    login, name, location = _object(get("login")), _object(get("name")), _object(get("location"))
    uuid = login.get("uuid")
    if type(uuid) is not str or not UUID(uuid):
        return "login.uuid is missing or not a UUID"
    first, last = name.get("first"), name.get("last")
    if type(first) is not str or type(last) is not str or not first.strip() or not last.strip():
        return "name.first or name.last is missing"
    gender = get("gender")
    if gender != "female" and gender != "male":
        return "gender is not female or male"
    nationality = get("nat")
    if type(nationality) is not str or not COUNTRY_CODE(nationality):
        return "nat is not a two-letter country code"
    country = location.get("country")
    if country is not None and type(country) is not str:
        return f"{NOT_TEXT}: location.country"
    if not country:
        return "location.country is missing"
    born_at = _object(get("dob")).get("date")
    if not _is_timestamp(born_at):
        return "dob.date is not an ISO-8601 timestamp"
    registered_at = _object(get("registered")).get("date")
    if not _is_timestamp(registered_at):
        return "registered.date is not an ISO-8601 timestamp"
    implausible = _implausible_dates(born_at, registered_at, now or datetime.now(UTC))
    if implausible:
        return implausible
    coordinates = _object(location.get("coordinates"))
    latitude, longitude = coordinates.get("latitude"), coordinates.get("longitude")
    if not (_is_coordinate(latitude, 90) and _is_coordinate(longitude, 180)):
        return "location.coordinates are not a latitude/longitude in range"
    street = _object(location.get("street"))
    street_number = street.get("number")
    if type(street_number) is int and -INT4 <= street_number < INT4:
        street_number = str(street_number)
    elif street_number is not None and (type(street_number) is not str or not INTEGER(street_number)):
        return "location.street.number is not an integer"
    identity = _object(get("id"))
    try:  # the text checks raise, so that a valid record pays nothing for them
        return [
            uuid, gender, _text(name.get("title")), first, last, _text(get("email")),
            _text(login.get("username")), _text(get("phone")), _text(get("cell")), born_at, registered_at,
            nationality, country, _text(location.get("state")), _text(location.get("city")), street_number,
            _text(street.get("name")), _number_text(location.get("postcode")), latitude, longitude,
            _text(_object(location.get("timezone")).get("offset")), _text(identity.get("name")) or None,
            _text(identity.get("value")),
        ]  # fmt: skip
    except _NotText:
        return _not_text(record)


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else EMPTY


class _NotText(Exception):
    """A text column's value is no text (or an integer out of range): `_not_text` names it."""


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _NotText


def _number_text(value: Any) -> str | None:
    """A field the source sends as text or as an integer (a Dutch postcode)."""
    if value is None or type(value) is str:
        return value
    if type(value) is int and -BIGINT <= value < BIGINT:
        return str(value)
    raise _NotText


def _not_text(record: dict[str, Any]) -> str:
    """The reason of a record with a text field that is no text, naming the first one."""
    for path in TEXT_FIELDS:
        value: Any = record
        for key in path.split("."):
            value = _object(value).get(key)
        if value is None or type(value) is str:
            continue
        if path == "location.postcode":
            if type(value) is int and -BIGINT <= value < BIGINT:
                continue
            # An integer beyond 64 bits, or what orjson reads one as: a double.
            if type(value) is int or (type(value) is float and value.is_integer() and abs(value) >= BIGINT):
                return f"{NUMBER_OUT_OF_RANGE}: {path}"
        return f"{NOT_TEXT}: {path}"
    raise AssertionError("_NotText raised for a record with text in every text field")


def _implausible_dates(born_at: str, registered_at: str, now: datetime) -> str | None:
    """Why these (valid ISO-8601) dates cannot be a person's, or None."""
    if born_at < EARLIEST_BIRTH:  # a year below 1900, whatever the zone
        return IMPLAUSIBLE_BIRTH
    # The source writes every date as UTC with milliseconds ("1982-06-04T18:09:18.069Z"):
    # such strings compare in time order as they are, at no cost. Anything else is parsed.
    utc_now = _utc_text(now)
    if len(born_at) == len(registered_at) == len(utc_now) and born_at[-1] == registered_at[-1] == "Z":
        born, registered, now_key = born_at, registered_at, utc_now
    else:
        born, registered, now_key = _instant(born_at), _instant(registered_at), now  # type: ignore[assignment]
    if born > now_key:
        return IMPLAUSIBLE_BIRTH
    if registered < born or registered > now_key:
        return IMPLAUSIBLE_REGISTRATION
    return None


_formatted: tuple[datetime | None, str] = (None, "")


def _utc_text(now: datetime) -> str:
    """`now` as the source writes dates; one `now` per page, so formatted once per page."""
    global _formatted  # a one-entry cache, swapped whole: safe across threads
    cached = _formatted
    if cached[0] is not now:
        utc = now.astimezone(UTC)
        cached = _formatted = (now, utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z")
    return cached[1]


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _is_timestamp(value: Any) -> bool:
    if type(value) is not str or not TIMESTAMP(value):
        return False
    year, day = int(value[:4]), int(value[8:10])
    return year > 0 and (day <= 28 or day <= calendar.monthrange(year, int(value[5:7]))[1])


def _is_coordinate(value: str | None, bound: int) -> bool:
    return type(value) is str and COORDINATE(value) is not None and abs(float(value)) <= bound


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
    payload = jsontext.encode(record).decode().replace("\\", "\\\\")  # JSON escapes the rest itself
    return f"{reason}\t{payload}" + f"\t{NULL}" * FIELDS
