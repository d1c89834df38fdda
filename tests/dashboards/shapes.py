"""What each panel type needs from its query's result, as Grafana 12 reads it.

The PostgreSQL data source turns a result into a data frame: for `time_series` it needs a
column named `time` (timestamp or epoch), sorted, with numeric values and at most one
text column (the `metric` that names the series); a `table` result goes through as is.
The panels then pick their fields: stat and pie/bar gauges reduce numeric fields (one
value per row with `reduceOptions.values`, labelled by the text field), the bar chart
needs its `xField`, the Geomap its latitude/longitude fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg2.extensions import connection

Json = dict[str, Any]

# Postgres type OIDs by how Grafana's frame conversion treats them.
_NUMBER = {20, 21, 23, 700, 701, 1700}  # int8 int2 int4 float4 float8 numeric
_TIME = {1082, 1114, 1184}  # date timestamp timestamptz
_TEXT = {18, 19, 25, 1042, 1043}  # char name text bpchar varchar
_BOOL = {16}


@dataclass(frozen=True)
class Result:
    columns: list[str]
    kinds: list[str]  # number | time | text | bool | other
    rows: list[tuple[Any, ...]]

    def kind(self, column: str) -> str:
        return self.kinds[self.columns.index(column)]

    def values(self, column: str) -> list[Any]:
        index = self.columns.index(column)
        return [row[index] for row in self.rows]

    def of_kind(self, kind: str) -> list[str]:
        return [name for name, k in zip(self.columns, self.kinds, strict=True) if k == kind]


def execute(conn: connection, sql: str) -> Result:
    with conn.cursor() as cur:
        cur.execute(sql)
        assert cur.description, "the query returns no result set"
        columns = [column.name for column in cur.description]
        kinds = [_kind(column.type_code) for column in cur.description]
        return Result(columns, kinds, cur.fetchall())


def _kind(oid: int) -> str:
    for kind, oids in (("number", _NUMBER), ("time", _TIME), ("text", _TEXT), ("bool", _BOOL)):
        if oid in oids:
            return kind
    return "other"


def check(panel: Json, target: Json, result: Result) -> None:
    """Assert that `result` is what `panel` (of its type) can draw."""
    assert len(set(result.columns)) == len(result.columns), f"duplicate column names: {result.columns}"
    checks = {
        "timeseries": _time_series,
        "stat": _stat,
        "piechart": _labelled_values,
        "bargauge": _labelled_values,
        "barchart": _bar_chart,
        "table": _table,
        "geomap": _geomap,
    }
    assert panel["type"] in checks, f"no result check for panel type {panel['type']!r}"
    checks[panel["type"]](panel, target, result)
    _overrides_name_real_fields(panel, target, result)


def _time_series(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "time_series"
    assert "time" in result.columns, f"a time series needs a column named time, got {result.columns}"
    assert result.kind("time") in ("time", "number")
    times = result.values("time")
    assert None not in times, "null time values"
    texts = result.of_kind("text")
    # Grafana names the series after a text column (the metric); more than one is ambiguous.
    assert texts in ([], ["metric"]), f"only a column named metric may be text, got {texts}"
    values = [c for c in result.columns if c not in ("time", "metric")]
    assert values, "no value column"
    assert all(result.kind(c) == "number" for c in values), f"value columns must be numeric: {result.kinds}"
    # Long results are pivoted to one series per metric; that needs ascending time and no duplicates.
    keys = list(zip(times, result.values("metric") if texts else times, strict=True))
    assert times == sorted(times), "rows must be sorted by time"
    assert len(set(keys)) == len(keys), "two rows for one series at one time"


def _stat(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "table"
    assert result.of_kind("number"), f"a stat needs a numeric column, got {result.kinds}"
    assert len(result.rows) == 1, f"a stat shows one value, got {len(result.rows)} rows"


def _labelled_values(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "table"
    assert panel["options"]["reduceOptions"]["values"] is True, "one slice or bar per row needs values: true"
    labels = result.of_kind("text")
    assert len(labels) == 1, f"exactly one text column labels the rows, got {labels}"
    assert result.of_kind("number"), "no numeric column"
    names = result.values(labels[0])
    assert None not in names and len(set(names)) == len(names), f"labels must be unique: {names}"


def _bar_chart(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "table"
    x_field = panel["options"].get("xField")
    assert x_field in result.columns, f"xField {x_field!r} is not a column of {result.columns}"
    assert result.kind(x_field) == "text", "the bar chart's x axis is categorical"
    labels = result.values(x_field)
    assert None not in labels and len(set(labels)) == len(labels), f"x values must be unique: {labels}"
    values = [c for c in result.columns if c != x_field]
    assert values and all(result.kind(c) == "number" for c in values), f"bars must be numeric: {result.kinds}"


def _table(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "table"
    for sort in panel["options"].get("sortBy", []):
        assert sort["displayName"] in result.columns, f"sortBy {sort['displayName']!r} is no column"


def _geomap(panel: Json, target: Json, result: Result) -> None:
    assert target["format"] == "table"
    layers = panel["options"]["layers"]
    assert layers, "a Geomap without data layers"
    for layer in layers:
        location = layer["location"]
        assert location["mode"] == "coords", "the map places visits by their coordinates"
        for field, bound in ((location["latitude"], 90), (location["longitude"], 180)):
            assert field in result.columns and result.kind(field) == "number", (
                f"{field} must be a numeric column"
            )
            values = result.values(field)
            assert None not in values and all(-bound <= float(v) <= bound for v in values), (
                f"{field} out of range"
            )
        size = layer["config"]["style"].get("size", {}).get("field")
        if size:
            assert size in result.columns and result.kind(size) == "number", (
                f"size field {size!r} must be numeric"
            )


def _overrides_name_real_fields(panel: Json, target: Json, result: Result) -> None:
    """A byName override must name something the panel can show, or it silently does nothing."""
    shown = set(result.columns)
    shown |= {value for column in result.of_kind("text") for value in result.values(column)}
    shown |= set(re.findall(r"'([^']*)'", target["rawSql"]))  # series that may be absent right now
    for override in panel["fieldConfig"].get("overrides", []):
        matcher = override["matcher"]
        if matcher["id"] == "byName":
            assert matcher["options"] in shown, f"override for unknown field {matcher['options']!r}"
