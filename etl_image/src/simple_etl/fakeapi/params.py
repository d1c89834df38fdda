"""Query parameters of the live API, with its own fallbacks for invalid values.

The rules follow the live service's source (RandomAPI/Randomuser.me-Node,
`routes/api.js` and `api/1.4/api.js`), not its documentation, which is silent on them:

* `results` and `page` are read like JavaScript's parseInt: leading digits count, the
  rest is ignored ("1e3" is 1, "2.5" is 2, "12abc" is 12).
* `results`: missing, empty, not a number, below 1 or above 5000 -> 1 (not clamped to
  5000: an oversized request quietly gets one person).
* `page`: missing, 0, not a number, negative or above 10000 -> 1 (so page 10001 serves
  page 1's people, and says so in `info.page`).
* `seed`: missing or empty -> a fresh 16-hex-character seed, echoed in `info.seed`. A
  seed of exactly 18 characters carries a nationality in its last two: as a hex number
  they index the alphabetical list of nationalities (00 AU ... 0a IE ... 14 US) whatever
  `nat` says, and only the first 16 characters seed the people. Anything else (not hex,
  or past the 21st nationality) makes the live server fail: 500.
* `nat` (alias `nationality`): comma list, case-insensitive, empty items dropped; if ANY
  code is unknown the whole filter is dropped and every nationality is used.
* `gender`: exactly "male" or "female"; anything else means both. A client-supplied
  seed also disables it (the seed alone decides who is generated).
* `inc` / `exc`: comma lists of top-level fields; unknown names are ignored; a field in
  both is excluded.
* `noinfo`: present with any value -> no `info` block.
* `format` (alias `fmt`): missing, `json` or anything unrecognised -> compact JSON;
  `pretty` / `prettyjson` -> indented JSON. The live API's other formats (csv, yaml,
  xml) are not served here: they get a 400 with a JSON error, so a test that asks for
  them fails loudly instead of silently receiving JSON.
* Repeated parameters: the first value wins.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simple_etl.fakeapi.generator import FIELDS
from simple_etl.fakeapi.nationalities import CODES, LOCALES

MAX_RESULTS = 5000
MAX_PAGE = 10000
UNSUPPORTED_FORMATS = frozenset({"csv", "yaml", "xml"})


NATIONALITY_SEED_LENGTH = 18
# [0-9], not \d: parseInt reads ASCII digits only, and Python's int() would take "٣".
_LEADING_INTEGER = re.compile(r"\s*([+-]?[0-9]+)")
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")


class UnsupportedFormat(ValueError):
    """The request asked for a format the offline stand-in does not produce."""


class MisreadSeed(ValueError):
    """An 18-character seed whose last two characters are not hex: the live server fails."""


@dataclass(frozen=True, slots=True)
class ApiQuery:
    results: int
    page: int
    seed: str  # as requested (echoed in info.seed)
    people_seed: str  # what the people are generated from: 16 characters of an 18-character seed
    nat: tuple[str, ...] | None
    gender: str | None
    fields: tuple[str, ...]
    info: bool
    pretty: bool


def parse_query(query: Mapping[str, Sequence[str]]) -> ApiQuery:
    """Turn parsed query parameters (as from urllib.parse.parse_qs) into an ApiQuery.

    Raises UnsupportedFormat for csv/yaml/xml and MisreadSeed for an 18-character seed
    that does not end in hex; every other oddity has a fallback.
    """

    def last(*names: str) -> str | None:  # the first value, as Express's query parser gives it
        for name in names:
            values = query.get(name)
            if values:
                return values[0]
        return None

    output_format = (last("format", "fmt") or "json").lower()
    if output_format in UNSUPPORTED_FORMATS:
        raise UnsupportedFormat(f"format={output_format} is not served by the offline API; use format=json")

    client_seed = last("seed") or ""
    gender = last("gender")
    if gender not in ("male", "female") or client_seed:
        gender = None

    nat = _nationalities(last("nat", "nationality"))
    seed = client_seed or secrets.token_hex(8)
    people_seed = seed
    if len(seed) == NATIONALITY_SEED_LENGTH:
        nat = (_seed_nationality(seed),)
        people_seed = seed[: NATIONALITY_SEED_LENGTH - 2]
    return ApiQuery(
        results=requested_people(query),
        page=_whole_number(last("page"), 1, MAX_PAGE),
        seed=seed,
        people_seed=people_seed,
        nat=nat,
        gender=gender,
        fields=_fields(last("inc"), last("exc")),
        info="noinfo" not in query,
        pretty=output_format in ("pretty", "prettyjson"),
    )


def requested_people(query: Mapping[str, Sequence[str]]) -> int:
    """How many people the request asks for, by the rules of `results` (what the rate
    limit counts before anything is generated)."""
    values = query.get("results")
    return _whole_number(values[0] if values else None, 1, MAX_RESULTS)


def _whole_number(raw: str | None, low: int, high: int) -> int:
    """parseInt(raw) if it is in [low, high], else 1 (the live API's fallback)."""
    match = _LEADING_INTEGER.match(raw or "")
    if match is None:
        return 1
    value = int(match[1])
    return value if low <= value <= high else 1


def _seed_nationality(seed: str) -> str:
    tail = seed[-2:]
    index = int(tail, 16) if _HEX_PAIR.fullmatch(tail) else len(CODES)
    if index >= len(CODES):
        raise MisreadSeed(
            f"seed {seed!r}: an 18-character seed must end in the hex index of a nationality, "
            f"00 to {len(CODES) - 1:02x}"
        )
    return CODES[index]


def _nationalities(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    codes = tuple(code.upper() for code in raw.split(",") if code)
    if not codes or any(code not in LOCALES for code in codes):
        return None
    return codes


def _fields(inc: str | None, exc: str | None) -> tuple[str, ...]:
    def names(raw: str | None) -> set[str]:
        return {name.strip().lower() for name in (raw or "").split(",") if name}

    included = names(inc) if inc else set(FIELDS)
    excluded = names(exc)
    return tuple(field for field in FIELDS if field in included and field not in excluded)
