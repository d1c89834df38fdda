"""JSON in and out of the ETL: one place that decides how source text becomes values
and values become text again (the client's pages, the spool, the raw zone, quarantine).

orjson does nearly all the work. The rare text it refuses — a lone surrogate
(`"\\ud800"`), a number beyond a double (`1e400`), nesting deeper than its 1024 levels,
bytes that are not UTF-8 — is decoded again by the standard library, so that one bad
record never makes its whole page "not valid JSON" (issue 16, point 8): the values
orjson could not hold come back as what the rest of the ETL recognises as poison (a
str holding a surrogate, an `Unrepresentable` number). Writing back is the mirror: the
orjson fast path, and only when it refuses, `storable` makes the value writable and
says what it changed; `marked` wraps such a record with the reason (POISON), so the
transform quarantines it however many times it has been written and read since.

Duplicate keys are not rejected: orjson keeps the last one, as Postgres' jsonb does,
and finding them would cost an object hook on every object of every page.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError

# A record `marked` had to change to write it is landed as {POISON: reason, "record": its
# storable form}: the transform quarantines it with that reason, the raw zone keeps it.
POISON = "simple_etl_unstorable"
TOO_DEEP = "too_deep"
UNENCODABLE_TEXT = "unencodable_text"
NON_FINITE_NUMBER = "non_finite_number"
NUMBER_OUT_OF_RANGE = "number_out_of_range"
UNENCODABLE_VALUE = "unencodable_value"

# orjson writes 254 levels below the value it is given; the spool writes a page's
# records one level down, so a record is cut below this many levels (the real source
# nests 4). The standard library reads deeper text than orjson, up to FALLBACK_DEPTH
# (its C parser recurses once per level, within Python's recursion limit).
MAX_DEPTH = 200
FALLBACK_DEPTH = 4096
SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1

_recursion = threading.Lock()


class Unrepresentable:
    """A number no double holds (`1e400`, or an integer of 400 digits), kept as its
    source text. Neither a str subclass nor a dataclass on purpose: orjson would write
    either (as a string, as an object) and the poison would pass unseen; as it is,
    orjson refuses it and `storable` sees it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return type(other) is Unrepresentable and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Unrepresentable({self.text!r})"


def decode(text: bytes | str) -> Any:
    """The value of JSON text; raises DecodeError only when it is not JSON at all."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _tolerant(text)


def encode(value: Any) -> bytes:
    """JSON text of any value `decode` returns; never raises for one.

    What orjson (and Postgres' json/jsonb) cannot hold is changed, and only that:
    lone surrogates become U+FFFD (no UTF-8 holds them); an Unrepresentable number
    becomes a JSON string of its source text (no double holds it; the text keeps it
    exactly); a container more than MAX_DEPTH levels down becomes a JSON string of its
    own JSON text (orjson cannot write it; the text keeps it, one level as a string).
    """
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return orjson.dumps(storable(value)[0])


def encode_records(records: list[Any]) -> bytes:
    """A JSON array of the records, each poison one `marked`: the spool's and raw zone's form."""
    try:
        return orjson.dumps(records)
    except TypeError:
        return orjson.dumps([marked(record) for record in records])


def marked(record: Any) -> Any:
    """The record as it is if orjson can write it; else {POISON: the reason it must be
    quarantined, "record": its storable form}."""
    try:
        orjson.dumps([record])  # as the page holds it: one level down
    except TypeError:
        value, problem = storable(record)
        return {POISON: problem or TOO_DEEP, "record": value}
    return record


def storable(value: Any) -> tuple[Any, str | None]:
    """The value with what no JSON writer can hold changed (see `encode`), and the first
    change as a quarantine reason ('too_deep: <path>', 'unencodable_text: <path>',
    'non_finite_number: <path>', 'number_out_of_range: <path>'), or None when nothing had to change."""
    problems: list[str] = []
    fixed = _storable(value, 0, "", problems)
    return fixed, (problems[0] if problems else None)


def _storable(value: Any, depth: int, path: str, problems: list[str]) -> Any:
    kind = type(value)
    if kind is str:
        if SURROGATE.search(value):
            problems.append(_problem(UNENCODABLE_TEXT, path))
            return SURROGATE.sub(REPLACEMENT, value)
        return value
    if kind is Unrepresentable:
        problems.append(_problem(NON_FINITE_NUMBER, path))
        return value.text
    if kind is float and not math.isfinite(value):
        problems.append(_problem(NON_FINITE_NUMBER, path))
        return repr(value)
    if kind is dict or kind is list:
        if depth >= MAX_DEPTH:
            problems.append(_problem(TOO_DEEP, path))
            return _deep_text(value)
        if kind is list:
            return [_storable(item, depth + 1, f"{path}[{i}]", problems) for i, item in enumerate(value)]
        return {
            _storable(str(key), depth + 1, path, problems): _storable(
                item, depth + 1, _join(path, key), problems
            )
            for key, item in value.items()
        }
    if kind is int and not INT64_MIN <= value <= UINT64_MAX:
        problems.append(_problem(NUMBER_OUT_OF_RANGE, path))
        return str(value)
    if value is None or kind is bool or kind is int or kind is float:
        return value
    problems.append(_problem(UNENCODABLE_VALUE, path))  # no JSON value: not from `decode`
    return repr(value)


def _problem(kind: str, path: str) -> str:
    # The path is the source's own keys: no surrogate may reach the reason column.
    where = SURROGATE.sub(REPLACEMENT, path or ".")
    return f"{kind}: {where if len(where) <= 120 else where[:117] + '...'}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _deep_text(value: Any) -> str:
    """A container too deep for orjson, as its JSON text (ASCII: surrogates escaped)."""
    with _deep_recursion():
        return json.dumps(value, default=lambda v: v.text if type(v) is Unrepresentable else repr(v))


def _tolerant(text: bytes | str) -> Any:
    """The standard library's reading of text orjson refused, poison kept recognisable."""
    if not isinstance(text, str):
        # Bytes that are not UTF-8 become lone surrogates: poison, quarantined as such.
        text = text.decode("utf-8", "surrogateescape")
    try:
        with _deep_recursion():
            return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_constant)
    except RecursionError:
        raise DecodeError(f"nested deeper than {FALLBACK_DEPTH} levels", text[:80], 0) from None
    except json.JSONDecodeError as error:
        raise DecodeError(error.msg, error.doc, error.pos) from None


def _float(text: str) -> float | Unrepresentable:
    number = float(text)
    return number if math.isfinite(number) else Unrepresentable(text)


def _int(text: str) -> int | float | Unrepresentable:
    number = int(text)
    if INT64_MIN <= number <= UINT64_MAX:
        return number
    # As orjson reads it on its fast path (a double), so a page reads the same either way.
    return _float(text)


def _constant(text: str) -> Unrepresentable:
    return Unrepresentable(text)  # NaN, Infinity, -Infinity: not JSON, but Python writes them


@contextmanager
def _deep_recursion() -> Iterator[None]:
    with _recursion:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, FALLBACK_DEPTH + 1000))
        try:
            yield
        finally:
            sys.setrecursionlimit(limit)
