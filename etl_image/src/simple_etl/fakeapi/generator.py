"""Deterministic people in the exact JSON shape of Random User API 1.4.

`generate(seed, page, results)` is a pure function of its arguments and the day: the same
arguments give the same people, byte for byte, on every machine and Python version
(3.11+); only `dob.age` and `registered.age` follow the wall clock, as the live API's do.
The live API's rules that the ETL must survive are kept:

* the page seed is the seed with the page number appended, except on page 1, which is
  the bare seed: seed "a1" page 5 is seed "a" page 15, and seed "a12" page 1 is seed "a"
  page 12 (the live API's `seedRNG`);
* `login.uuid` and the coordinates depend on that page seed and the position only, not on
  `nat` or `gender`: the same seed and page with another nationality list give different
  people under the same uuids;
* the number of results is not part of the seed: asking for 10 people returns the first
  10 of the 5000 the same seed and page would return.

Speed matters (one process must outrun the live API, ~10k people/s, by 2x with JSON
encoding included), so everything that can be prepared is prepared once at import:
calendar days with their ISO prefix and age, portrait URLs, e-mail parts of names.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from simple_etl.fakeapi.identity import FORMATS, Born, Draw, Formats, between, digits
from simple_etl.fakeapi.nationalities import (
    CODES,
    FEMALE_TITLES,
    FRENCH_FEMALE_TITLES,
    LOCALES,
    PASSWORDS,
    TIMEZONES,
    USERNAME_ADJECTIVES,
    USERNAME_ANIMALS,
    Locale,
)

# Birth dates end before registrations begin, so nobody registers before being born; the
# live API's registrations end in 2022.
_BIRTHS = (date(1944, 9, 1), date(2001, 12, 31))
_REGISTRATIONS = (date(2002, 1, 1), date(2022, 12, 31))
# The live API's small flaws, at about its rates.
_STREET_WITH_TRAILING_SPACE = 1 / 30
_EMPTY_PASSWORD = 1 / 200

FIELDS: tuple[str, ...] = (
    "gender",
    "name",
    "location",
    "email",
    "login",
    "dob",
    "registered",
    "phone",
    "cell",
    "id",
    "picture",
    "nat",
)

_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# A salt is four draws of two characters: half the work of eight single draws.
_SALT_PAIRS = tuple(a + b for a in _ALPHANUMERIC for b in _ALPHANUMERIC)
_PAIR_COUNT = len(_SALT_PAIRS)
_PORTRAIT = "https://randomuser.me/api/portraits/"
# The live API has 100 portraits of men and 97 of women.
_PORTRAITS = {
    "male": tuple(
        (f"{_PORTRAIT}men/{n}.jpg", f"{_PORTRAIT}med/men/{n}.jpg", f"{_PORTRAIT}thumb/men/{n}.jpg")
        for n in range(100)
    ),
    "female": tuple(
        (f"{_PORTRAIT}women/{n}.jpg", f"{_PORTRAIT}med/women/{n}.jpg", f"{_PORTRAIT}thumb/women/{n}.jpg")
        for n in range(97)
    ),
}
_UUID_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_UUID_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


Day = tuple[str, tuple[int, int], str, int]  # ISO date prefix, (month, day), ddmmyy, year


def _calendar(first: date, last: date) -> tuple[Day, ...]:
    days = []
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = date.fromordinal(ordinal)
        days.append(
            (
                f"{day.isoformat()}T",
                (day.month, day.day),
                f"{day.day:02d}{day.month:02d}{day.year % 100:02d}",
                day.year,
            )
        )
    return tuple(days)


def _age(day: Day, today: date) -> int:
    """Completed years on `today`."""
    return today.year - day[3] - (day[1] > (today.month, today.day))


@functools.cache
def _calendars() -> tuple[tuple[Day, ...], tuple[Day, ...]]:
    # Built on first use, not at import: the CLI imports this package for every command.
    return _calendar(*_BIRTHS), _calendar(*_REGISTRATIONS)


def generate(
    seed: str,
    page: int,
    results: int,
    nat: Sequence[str] | None = None,
    gender: str | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """`results` people for this seed and page; `nat` limits nationalities, `gender` fixes one;
    ages count to `today` (default: today, UTC).

    Arguments are expected to be valid already (the server applies the live API's
    fallbacks for invalid query parameters); anything else raises ValueError.
    """
    if results < 0:
        raise ValueError(f"results must not be negative, got {results}")
    if gender not in (None, "male", "female"):
        raise ValueError(f"gender must be 'male', 'female' or None, got {gender!r}")
    codes = tuple(nat) if nat else CODES
    unknown = [code for code in codes if code not in LOCALES]
    if unknown:
        raise ValueError(f"unknown nationalities {unknown}; known: {', '.join(CODES)}")

    page_seed = page_seed_of(seed, page)
    # Two streams: one for what nat and gender do not change (uuid, coordinates), one for
    # the rest. Reproducible test data, not secrets.
    place = random.Random(_seed_number(page_seed))  # noqa: S311
    rng = random.Random(_seed_number(page_seed, codes, gender))  # noqa: S311
    choices = tuple((LOCALES[code], FORMATS[code]) for code in codes)
    births, registrations = _calendars()
    today = today or datetime.now(UTC).date()
    return [_person(rng, place, choices, gender, births, registrations, today) for _ in range(results)]


def page_seed_of(seed: str, page: int) -> str:
    """What the live API seeds a page with: the seed, plus the page number unless it is 1.

    Collisions included, on purpose: the ETL must be the one that avoids them.
    """
    return seed if page == 1 else f"{seed}{page}"


def _seed_number(page_seed: str, codes: tuple[str, ...] = (), gender: str | None = None) -> int:
    # A digest (Python's hash() is salted per process) of an unambiguous encoding.
    key = json.dumps([page_seed, list(codes), gender], ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:16], "big")


def _person(
    rng: random.Random,
    place: random.Random,
    choices: tuple[tuple[Locale, Formats], ...],
    gender: str | None,
    births: tuple[Day, ...],
    registrations: tuple[Day, ...],
    today: date,
) -> dict[str, Any]:
    draw = rng.random
    uuid = _uuid4(place.getrandbits(128))
    coordinates = {"latitude": _degrees(place.random, 90), "longitude": _degrees(place.random, 180)}
    locale, formats = choices[int(draw() * len(choices))]
    if gender is None:
        gender = "male" if draw() < 0.5 else "female"
    male = gender == "male"

    first = _pick(draw, locale.male if male else locale.female)
    last = _pick(draw, locale.last)
    french = locale.code == "CH"  # the live API's French people are Mr, Mrs, Miss and Ms
    if male:
        title = "Monsieur" if french else "Mr"
    else:
        title = _pick(draw, FRENCH_FEMALE_TITLES if french else FEMALE_TITLES)

    offset, zone = _pick(draw, TIMEZONES)
    street = _pick(draw, locale.streets)
    if draw() < _STREET_WITH_TRAILING_SPACE:
        street += " "
    location = {
        "street": {"number": between(draw, 1, 9999), "name": street},
        "city": _pick(draw, locale.cities),
        "state": _pick(draw, locale.states),
        "country": locale.country,
        "postcode": formats.postcode(draw),
        "coordinates": coordinates,
        "timezone": {"offset": offset, "description": zone},
    }

    password = "" if draw() < _EMPTY_PASSWORD else _pick(draw, PASSWORDS)
    salt = (
        _SALT_PAIRS[int(draw() * _PAIR_COUNT)]
        + _SALT_PAIRS[int(draw() * _PAIR_COUNT)]
        + _SALT_PAIRS[int(draw() * _PAIR_COUNT)]
        + _SALT_PAIRS[int(draw() * _PAIR_COUNT)]
    )
    salted = (password + salt).encode()
    username = _pick(draw, USERNAME_ADJECTIVES) + _pick(draw, USERNAME_ANIMALS)
    login = {
        "uuid": uuid,
        "username": f"{username}{between(draw, 100, 999)}",
        "password": password,
        "salt": salt,
        "md5": hashlib.md5(salted, usedforsecurity=False).hexdigest(),
        "sha1": hashlib.sha1(salted, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(salted).hexdigest(),
    }

    birth = _pick(draw, births)
    registration = _pick(draw, registrations)
    birth_prefix, _, ddmmyy, birth_year = birth
    born = Born(ddmmyy, birth_year, male, last.text[0])
    id_name, id_value = formats.identity(draw, born)
    large, medium, thumbnail = _pick(draw, _PORTRAITS[gender])

    return {
        "gender": gender,
        "name": {"title": title, "first": first.text, "last": last.text},
        "location": location,
        "email": f"{first.email_part}.{last.email_part}@example.com",
        "login": login,
        "dob": {"date": birth_prefix + _time_of_day(draw), "age": _age(birth, today)},
        "registered": {"date": registration[0] + _time_of_day(draw), "age": _age(registration, today)},
        "phone": formats.phone(draw),
        "cell": formats.cell(draw),
        "id": {"name": id_name, "value": id_value},
        "picture": {"large": large, "medium": medium, "thumbnail": thumbnail},
        "nat": locale.code,
    }


def _pick(draw: Draw, items: Sequence[Any]) -> Any:
    return items[int(draw() * len(items))]


def _degrees(draw: Draw, limit: int) -> str:
    """A coordinate as the live API sends it: a string with exactly four decimals."""
    ten_thousandths = int(draw() * (2 * limit * 10000 + 1)) - limit * 10000
    sign = "-" if ten_thousandths < 0 else ""
    whole, fraction = divmod(abs(ten_thousandths), 10000)
    return f"{sign}{whole}.{fraction:04d}"


def _time_of_day(draw: Draw) -> str:
    """'HH:MM:SS.mmmZ', the tail of JavaScript's Date.toISOString()."""
    seconds = int(draw() * 86400)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{digits(draw, 3)}Z"


def _uuid4(bits: int) -> str:
    text = "%032x" % (bits & _UUID_VERSION_MASK | _UUID_VERSION_BITS)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
