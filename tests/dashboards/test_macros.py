"""The macro expander against Grafana's own expectations.

Most cases are those of Grafana's `macros_test.go` for the PostgreSQL data source (time
range 2018-04-12 18:00 to 18:05 UTC); the number formats were checked against Go's `fmt`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from tests.dashboards.macros import MacroError, TimeRange, expand, format_interval, go_float, parse_interval

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
RANGE = TimeRange(FROM, FROM + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("select min($__time(time_column))", 'select min(time_column AS "time")'),
        ("select $__timeEpoch(time_column)", 'select extract(epoch from time_column) as "time"'),
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
        ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
        # The pre-5.3 compatibility: a comma right after $__timeGroup adds the alias.
        (
            "SELECT $__timeGroup(time_column,'5m'), value",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value',
        ),
        (
            "SELECT $__timeGroup(time_column,'5m') as time, value",
            "SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
        ),
        ("SELECT $__timeGroup(time_column,'5m')", "SELECT floor(extract(epoch from time_column)/300)*300"),
        (
            "SELECT $__timeGroupAlias(time_column,'5m')",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"',
        ),
        ("$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"),
        ("$__timeGroupAlias(time_column , '5m')", 'floor(extract(epoch from time_column)/300)*300 AS "time"'),
        ("$__timeGroup(t, '12d')", "floor(extract(epoch from t)/1.0368e+06)*1.0368e+06"),
        ("$__timeGroup(t, '20ms')", "floor(extract(epoch from t)/0.02)*0.02"),
        ("$__timeGroup(t, 1h30m)", "floor(extract(epoch from t)/5400)*5400"),
        ("select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"),
        ("select $__unixEpochFrom(), $__unixEpochTo()", "select 1523556000, 1523556300"),
    ],
)
def test_expands_like_grafana(sql, expanded):
    assert expand(sql, RANGE) == expanded


def test_time_filter_keeps_go_nanosecond_formatting():
    half = timedelta(milliseconds=500)
    old = TimeRange(datetime(1960, 2, 1, 7, tzinfo=UTC) + half, datetime(1980, 2, 3, 8, tzinfo=UTC) + half)
    assert expand("WHERE $__timeFilter(t)", old) == (
        "WHERE t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"
    )
    assert expand("select $__unixEpochFilter(t)", old) == "select t >= -312915600 AND t <= 318412800"


def test_interval_variables_use_the_request_interval():
    one_minute = TimeRange(RANGE.start, RANGE.end, timedelta(minutes=1))
    assert (
        expand("SELECT $__timeGroupAlias(t, $__interval), $__interval_ms", one_minute)
        == 'SELECT floor(extract(epoch from t)/60)*60 AS "time", 60000'
    )


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(seconds=90), "1m"),  # the largest whole unit, truncated
        (timedelta(milliseconds=1500), "1s"),
        (timedelta(days=2, hours=3), "2d"),
        (timedelta(days=400), "1y"),
        (timedelta(microseconds=10), "1ms"),
    ],
)
def test_format_interval(interval, text):
    nanoseconds = int(interval / timedelta(microseconds=1)) * 1000
    assert format_interval(nanoseconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (300, "300"),
        (0.02, "0.02"),
        (1036800, "1.0368e+06"),
        (1036801, "1.036801e+06"),
        (604800, "604800"),
        (999999.5, "999999.5"),
        (1000000.5, "1.0000005e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (31536000, "3.1536e+07"),
    ],
)
def test_go_float_formatting(value, text):
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("5m", 300 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1.5s", 1_500_000_000),
        ("2d", 172_800 * 10**9),
        ("1w", 604_800 * 10**9),
        ("250ms", 250_000_000),
    ],
)
def test_parse_interval(text, nanoseconds):
    assert parse_interval(text) == nanoseconds
    assert Fraction(parse_interval(text), 10**9) == Fraction(nanoseconds, 10**9)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT $__unixEpochNanoFilter(t)",  # a real Grafana macro, but unknown to these tests
        "SELECT $__timeFilter",  # no argument list: Grafana would send it to Postgres as is
        "WHERE country = '$country'",  # a template variable
        "WHERE country IN (${country:sqlstring})",
        "SELECT $__timeGroup(t, '5m', 0)",  # a fill value reshapes the response
        "SELECT $__timeGroup(t, '1M')",  # calendar months depend on the day of the query
        "SELECT $__timeGroup(t, 'soon')",
        "SELECT $__timeGroup(t)",
        "SELECT $__timeFilter()",
        "SELECT 1 -- $__timeFilter(t)",  # comments are stripped by some Grafana versions only
        "SELECT 1 /* note */",
    ],
)
def test_anything_unknown_fails_loudly(sql):
    with pytest.raises(MacroError):
        expand(sql, RANGE)


def test_time_ranges_must_be_aware_and_ordered():
    with pytest.raises(ValueError, match="timezone-aware"):
        TimeRange(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="starts after"):
        TimeRange(RANGE.end, RANGE.start)
