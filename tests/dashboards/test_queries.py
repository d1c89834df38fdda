"""Acceptance 1 and 3 against real data: every panel's SQL, expanded as Grafana does,
runs as the read-only Grafana role on a warehouse loaded by real batches.

Each dashboard's time picker works in its own domain: the visitors dashboard filters on
when visitors came (the batches' `--visited-at`, January 2026 here), the pipeline
dashboard on when batches ran (the wall clock). In production both are "now".
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg2.extensions import connection

from tests.dashboards.dashboards import Query, files, load, panels, queries
from tests.dashboards.loaded import CORRUPT_PER_PAGE, Loaded
from tests.dashboards.macros import TimeRange, expand, parse_interval
from tests.dashboards.shapes import Result, check, execute

TIME_DOMAINS = {"visitors.json": "visits", "pipeline.json": "runs"}
NOTHING_LOADED = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
# Grafana's $__interval when zoomed out; the panel's minimum interval is the zoomed-in one.
ZOOMED_OUT = timedelta(hours=1)
DEFAULT_INTERVAL = timedelta(minutes=1)

# Column names that would carry direct PII (the warehouse's and the API's own names).
PII_COLUMNS = {
    "name",
    "first_name",
    "last_name",
    "title",
    "email",
    "username",
    "phone",
    "cell",
    "street",
    "street_name",
    "street_number",
    "postcode",
    "id_name",
    "id_value",
    "person_uuid",
    "uuid",
    "born_at",
    "dob",
    "payload",
    "picture",
    "password",
}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)

QUERIES = queries()
TIME_FILTERED = [query for query in QUERIES if "$__timeFilter(" in query.sql]


def query_id(query: Query) -> str:
    return query.id


def min_interval(panel: dict[str, Any]) -> timedelta:
    if "interval" not in panel:
        return DEFAULT_INTERVAL
    return timedelta(microseconds=parse_interval(panel["interval"]) // 1000)


def time_range(loaded: Loaded, query: Query, interval: timedelta | None = None) -> TimeRange:
    domain: TimeRange = getattr(loaded, TIME_DOMAINS[query.file])
    return replace(domain, interval=interval or min_interval(query.panel))


def run(reader: connection, query: Query, window: TimeRange) -> Result:
    return execute(reader, expand(query.sql, window))


def test_every_dashboard_has_a_time_domain():
    assert {path.name for path in files()} == TIME_DOMAINS.keys()


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_panel_sql_runs_as_the_grafana_reader_and_fits_the_panel(query, loaded, reader):
    for interval in (min_interval(query.panel), ZOOMED_OUT):
        window = time_range(loaded, query, interval)
        result = run(reader, query, window)
        assert result.rows, f"no rows between {window.start} and {window.end}"
        check(query.panel, query.target, result)
        if "$__interval" not in query.sql:
            break


@pytest.mark.parametrize("query", TIME_FILTERED, ids=query_id)
def test_the_time_picker_filters_the_panel(query, loaded, reader):
    window = time_range(loaded, query)
    inside = run(reader, query, window)
    outside = run(reader, query, replace(NOTHING_LOADED, interval=window.interval))
    assert inside.rows != outside.rows
    if query.panel["type"] in ("timeseries", "table", "geomap", "piechart", "bargauge", "barchart"):
        assert outside.rows == [], "rows from outside the time range"
    if query.panel["type"] == "timeseries":
        lowest = window.start - window.interval  # a bucket starts at or before the range
        for moment in inside.values("time"):
            when = moment if isinstance(moment, datetime) else datetime.fromtimestamp(float(moment), UTC)
            assert lowest <= when <= window.end


@pytest.fixture(scope="session")
def personal_data(loaded: Loaded) -> set[str]:
    """Every name, e-mail, phone number and street address in the warehouse."""
    rows = loaded.warehouse.query(
        """
        SELECT first_name || ' ' || last_name, email, username, phone, cell,
               street_number || ' ' || street_name, street_name, id_value
        FROM warehouse.people
        """
    )
    values = {value for row in rows for value in row if value}
    assert len(values) > 5000
    return values


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_no_panel_shows_names_emails_phones_or_addresses(query, loaded, reader, personal_data):
    result = run(reader, query, time_range(loaded, query))
    assert not set(result.columns) & PII_COLUMNS
    shown = {value for row in result.rows for value in row if isinstance(value, str)}
    assert not shown & personal_data
    assert not [value for value in shown if EMAIL.search(value)]


# -- what the panels say matches what was loaded --------------------------------------------


def panel_result(loaded: Loaded, reader: connection, file: str, title: str) -> Result:
    matches = [q for q in QUERIES if q.file == file and q.panel["title"] == title]
    assert len(matches) == 1, f"{file} has no single panel {title!r}"
    return run(reader, matches[0], time_range(loaded, matches[0]))


def test_visitor_panels_count_what_was_loaded(loaded, reader):
    warehouse = loaded.warehouse
    visits = warehouse.scalar("SELECT count(*) FROM warehouse.visits")
    people = warehouse.scalar("SELECT count(*) FROM warehouse.people")
    assert panel_result(loaded, reader, "visitors.json", "Visits").rows == [(visits,)]
    assert panel_result(loaded, reader, "visitors.json", "New visitors").rows == [(people,)]
    over_time = panel_result(loaded, reader, "visitors.json", "Visits over time")
    assert sum(over_time.values("new")) == people
    assert sum(over_time.values("new")) + sum(over_time.values("returning")) == visits
    assert sum(over_time.values("returning")) > 0, "the small pool should bring visitors back"
    split = dict(panel_result(loaded, reader, "visitors.json", "New vs returning").rows)
    assert split == {"new": people, "returning": visits - people}
    cohorts = panel_result(loaded, reader, "visitors.json", "Registration cohorts")
    assert sum(cohorts.values("new")) == people
    assert sum(cohorts.values("new")) + sum(cohorts.values("returning")) == visits
    genders = dict(panel_result(loaded, reader, "visitors.json", "Gender split").rows)
    assert set(genders) == {"female", "male"} and sum(genders.values()) == visits
    latest = panel_result(loaded, reader, "visitors.json", "Latest visits")
    assert len(latest.rows) == 100
    assert latest.values("visited_at")[0] == warehouse.scalar("SELECT max(visited_at) FROM warehouse.visits")


def test_pipeline_panels_count_what_was_loaded(loaded, reader):
    warehouse = loaded.warehouse
    by_status: dict[str, int] = {}
    for _, status, count in panel_result(loaded, reader, "pipeline.json", "Batches by status").rows:
        by_status[status] = by_status.get(status, 0) + count
    assert by_status == {"succeeded": 5, "failed": 1}  # batch-4's two shards count once
    assert panel_result(loaded, reader, "pipeline.json", "Failed batches").rows == [(1,)]

    quarantined = warehouse.scalar("SELECT count(*) FROM warehouse.quarantine")
    assert quarantined == 4 * CORRUPT_PER_PAGE  # one batch of 4 pages
    reasons = panel_result(loaded, reader, "pipeline.json", "Quarantine reasons")
    assert sum(reasons.values("records")) == quarantined and len(reasons.rows) > 1

    rows = panel_result(loaded, reader, "pipeline.json", "Rows per batch")
    assert len(rows.rows) == 5
    assert sum(rows.values("loaded")) == warehouse.scalar("SELECT count(*) FROM warehouse.visits")
    assert sum(rows.values("quarantined")) == quarantined
    assert panel_result(loaded, reader, "pipeline.json", "Rows loaded").rows == [
        (sum(rows.values("loaded")),)
    ]

    durations = panel_result(loaded, reader, "pipeline.json", "Batch duration").values("duration")
    assert len(durations) == 5 and all(0 < seconds < 120 for seconds in durations)

    recent = panel_result(loaded, reader, "pipeline.json", "Recent batches")
    batches = {row[0]: dict(zip(recent.columns, row, strict=True)) for row in recent.rows}
    assert batches["batch-4"]["shards"] == 2 and batches["batch-4"]["status"] == "succeeded"
    assert batches["batch-5"]["status"] == "failed" and "HTTP 500" in batches["batch-5"]["error"]
    assert batches["batch-3"]["reject_ratio"] == pytest.approx(quarantined / 1000)

    (since,) = panel_result(loaded, reader, "pipeline.json", "Since last successful batch").rows[0]
    ran_for = (datetime.now(UTC) - loaded.runs.start).total_seconds()
    assert 0 <= since <= ran_for


def test_every_panel_is_exercised():
    titles = {(path.name, panel["title"]) for path in files() for panel in panels(load(path.name))}
    assert titles == {(query.file, query.panel["title"]) for query in QUERIES}
