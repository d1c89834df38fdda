"""Grafana's PostgreSQL macros, expanded the way Grafana 12 expands them.

A panel's rawSql reaches Postgres only after two passes, and this module does both:

1. the interval variables (`$__interval`, `$__interval_ms`) and `$__unixEpochFrom()` /
   `$__unixEpochTo()`: plain text replacement, as the backend's `sqleng.Interpolate` does
   (the frontend's template service replaces the interval first, with the same text for
   the round intervals Grafana picks);
2. the data source's macro engine (`pkg/tsdb/grafana-postgresql-datasource/macros.go`):
   every `$name(args)` match of `\\$([_a-zA-Z0-9]+)\\(([^)]*)\\)`, arguments split on
   commas and trimmed of spaces only, evaluated like `evaluateMacro`.

Only the macros the dashboards may use are known here. Anything else that still looks
like a Grafana variable or macro afterwards raises `MacroError`, so a new macro (or a
template variable) cannot reach a dashboard without a test that knows how it expands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

# The macro engine's own pattern: an argument list cannot contain ')'.
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
# Whatever is left that Grafana would still treat as a variable or a macro.
_LEFTOVER = re.compile(r"\$(\{[^}]*\}|\[\[|[_a-zA-Z][_a-zA-Z0-9]*)")
# Go's time.ParseDuration units, in nanoseconds.
_GO_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DAY_NS = 86_400 * 10**9
# gtime.FormatInterval's units, largest first (its "year" is 365 days).
_FORMAT_UNITS = (
    ("y", 365 * _DAY_NS),
    ("d", _DAY_NS),
    ("h", 3600 * 10**9),
    ("m", 60 * 10**9),
    ("s", 10**9),
    ("ms", 10**6),
)


_NEEDS_COLUMN = {
    "__time",
    "__timeEpoch",
    "__timeFilter",
    "__timeGroup",
    "__timeGroupAlias",
    "__unixEpochFilter",
}


class MacroError(ValueError):
    """A query this expander cannot (or Grafana would not) expand."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time picker and the panel's `$__interval` for one request."""

    start: datetime
    end: datetime
    interval: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("time range bounds must be timezone-aware")
        if self.start > self.end:
            raise ValueError("time range starts after it ends")


def expand(sql: str, time_range: TimeRange) -> str:
    """The SQL Grafana sends to Postgres for `sql` over `time_range`."""
    if "--" in sql or "/*" in sql:
        # Recent Grafana strips comments before expanding macros, older releases do not:
        # a comment could expand differently across versions, so panel SQL has none.
        raise MacroError("panel SQL must not contain comments")
    sql = _interpolate_globals(sql, time_range)

    def replace(match: re.Match[str]) -> str:
        name, argument_text = match.group(1), match.group(2)
        # Grafana < 5.3 compatibility, kept by the engine: `$__timeGroup(...)` directly
        # followed by a comma gets `AS "time"`. It looks at the first occurrence only.
        if name == "__timeGroup":
            index = sql.find(match.group(0)) + len(match.group(0))
            if sql[index : index + 1] == ",":
                name = "__timeGroupAlias"
        arguments = [argument.strip(" ") for argument in argument_text.split(",")]
        return _evaluate(name, arguments, time_range)

    expanded = _MACRO.sub(replace, sql)
    leftover = _LEFTOVER.search(expanded)
    if leftover:
        raise MacroError(f"unknown macro or template variable {leftover.group(0)!r} in: {expanded}")
    return expanded


def _interpolate_globals(sql: str, time_range: TimeRange) -> str:
    interval_ns = _nanoseconds(time_range.interval)
    # `$__interval_ms` first: `$__interval` is a prefix of it.
    sql = sql.replace("$__interval_ms", str(interval_ns // 10**6))
    sql = sql.replace("$__interval", format_interval(interval_ns))
    sql = sql.replace("$__unixEpochFrom()", str(_unix_seconds(time_range.start)))
    return sql.replace("$__unixEpochTo()", str(_unix_seconds(time_range.end)))


def _evaluate(name: str, arguments: list[str], time_range: TimeRange) -> str:
    column = arguments[0]
    if name in _NEEDS_COLUMN and not column:
        raise MacroError(f"missing time column argument for macro {name}")
    if name == "__time":
        return f'{column} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {column}) as "time"'
    if name == "__timeFilter":
        return f"{column} BETWEEN '{rfc3339_nano(time_range.start)}' AND '{rfc3339_nano(time_range.end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339_nano(time_range.start)}'"
    if name == "__timeTo":
        return f"'{rfc3339_nano(time_range.end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(arguments) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        if len(arguments) > 2:
            # A fill value changes the response (Grafana resamples the frame), not the SQL:
            # not modelled here, so not allowed on the dashboards.
            raise MacroError(f"macro {name} with a fill value is not supported by these tests")
        seconds = go_float(Fraction(parse_interval(arguments[1].strip("'")), 10**9))
        group = f"floor(extract(epoch from {column})/{seconds})*{seconds}"
        return f'{group} AS "time"' if name == "__timeGroupAlias" else group
    if name == "__unixEpochFilter":
        start, end = _unix_seconds(time_range.start), _unix_seconds(time_range.end)
        return f"{column} >= {start} AND {column} <= {end}"
    raise MacroError(f"unknown macro {name!r}")


# -- Go formatting, as the Grafana backend prints ----------------------------------------


def rfc3339_nano(moment: datetime) -> str:
    """Go's `t.UTC().Format(time.RFC3339Nano)`: fraction without trailing zeros, `Z`."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_float(value: Fraction | float) -> str:
    """Go's `fmt.Sprintf("%v", float64)`: shortest digits, exponent below 1e-4 or from 1e6."""
    number = float(value)
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # the decimal point sits after this many digits
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        formatted = f"{mantissa}e{'-' if decimal_exponent < 0 else '+'}{abs(decimal_exponent):02d}"
    elif point <= 0:
        formatted = "0." + "0" * -point + text
    elif point >= len(text):
        formatted = text + "0" * (point - len(text))
    else:
        formatted = text[:point] + "." + text[point:]
    return ("-" if sign else "") + formatted


def parse_interval(text: str) -> int:
    """grafana-plugin-sdk-go `gtime.ParseInterval`, in nanoseconds.

    `Nd`/`Nw` are whole UTC days; `NM`/`Ny` depend on the calendar at query time and are
    refused; anything else is Go's `time.ParseDuration`.
    """
    calendar = re.fullmatch(r"([0-9]+)([dwMy])", text)
    if calendar:
        count, unit = int(calendar.group(1)), calendar.group(2)
        if unit in "My":
            raise MacroError(f"interval {text!r} depends on the calendar; use days or weeks")
        return count * _DAY_NS * (7 if unit == "w" else 1)
    return _parse_go_duration(text)


def _parse_go_duration(text: str) -> int:
    negative, body = text.startswith("-"), text.lstrip("+-")
    if body == "0":
        return 0
    if not body:
        raise MacroError(f"error parsing interval {text}")
    total, position = Fraction(0), 0
    while position < len(body):
        match = _GO_DURATION.match(body, position)
        if not match or match.group(1) in ("", "."):
            raise MacroError(f"error parsing interval {text}")
        total += Fraction(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    nanoseconds = int(total)  # Go drops fractions of a nanosecond
    return -nanoseconds if negative else nanoseconds


def format_interval(nanoseconds: int) -> str:
    """grafana-plugin-sdk-go `gtime.FormatInterval`: the largest whole unit, truncated."""
    for unit, size in _FORMAT_UNITS:
        if nanoseconds >= size:
            return f"{nanoseconds // size}{unit}"
    return "1ms"


def _nanoseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _unix_seconds(moment: datetime) -> int:
    # Go's Time.Unix() floors towards the past, as does Python's for aware datetimes here.
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1))
