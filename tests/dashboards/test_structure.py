"""Acceptance 2 and 3, statically: the dashboards as Grafana provisions them.

Every panel and target uses the provisioned data source by its fixed uid, panel ids are
unique, the grid has no overlaps, and the SQL reads only `reporting` views.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.dashboards.dashboards import DATASOURCE, Query, files, load, panels, queries
from tests.dashboards.macros import TimeRange, expand, parse_interval

EXPECTED = {"visitors.json": "simple-etl-visitors", "pipeline.json": "simple-etl-pipeline"}
PANEL_TYPES = {"timeseries", "stat", "piechart", "bargauge", "barchart", "table", "geomap", "row"}
GRID_COLUMNS = 24
REPORTING_VIEWS = {"visits", "people", "batches", "quarantine", "freshness"}
# Panels that show "now" whatever the time picker says; every other panel must follow it.
NOT_TIME_FILTERED = {("pipeline.json", "Since last successful batch")}

QUERIES = queries()
NAMES = [path.name for path in files()]


def query_id(query: Query) -> str:
    return query.id


def walk(node: Any, path: str = "$") -> list[tuple[str, Any]]:
    """Every (path, value) pair of a JSON document."""
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found += walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, f"{path}[{index}]")
    return found


def test_the_delivered_dashboards_are_there_with_fixed_unique_uids():
    assert {name: load(name)["uid"] for name in NAMES} == EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_metadata(name):
    board = load(name)
    assert board.get("id") is None, "a provisioned dashboard must not carry a database id"
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 39
    assert isinstance(board["version"], int) and board["version"] >= 1
    assert board["title"].strip() and len(board["description"]) > 40
    assert "simple-etl" in board["tags"]
    assert board["time"]["to"] == "now" and re.fullmatch(r"now-\d+[mhd]", board["time"]["from"])
    assert board["refresh"] in board["timepicker"]["refresh_intervals"]
    assert timedelta(seconds=30) <= timedelta(microseconds=parse_interval(board["refresh"]) // 1000)
    assert board["templating"]["list"] == [], "template variables would need their own expansion tests"
    # The export-for-sharing form (`__inputs`, `${DS_…}`) does not provision.
    assert not {"__inputs", "__requires"} & board.keys()
    assert "${DS_" not in str(board)


@pytest.mark.parametrize("name", NAMES)
def test_every_datasource_reference_is_the_provisioned_uid(name):
    board = load(name)
    references = [(path, value) for path, value in walk(board) if path.endswith(".datasource")]
    assert references
    for path, value in references:
        assert value == DATASOURCE, f"{path} is {value!r}, not the provisioned data source"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
    # Numeric data source ids differ per install; only the uid is stable.
    assert not [path for path, _ in walk(board) if path.endswith((".datasourceId", ".datasourceUid"))]


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_are_unique_and_the_grid_has_no_overlap(name):
    board_panels = list(panels(load(name)))
    ids = [panel["id"] for panel in board_panels]
    assert all(isinstance(i, int) and i > 0 for i in ids) and len(set(ids)) == len(ids), ids
    boxes = []
    for panel in board_panels:
        grid = panel["gridPos"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        assert all(isinstance(v, int) for v in (x, y, w, h)), grid
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= GRID_COLUMNS, f"{panel['title']}: {grid}"
        boxes.append((panel["title"], x, y, w, h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in itertools.combinations(boxes, 2):
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"panels {a!r} and {b!r} overlap"


@pytest.mark.parametrize("name", NAMES)
def test_panels_are_known_types_with_titles_and_descriptions(name):
    for panel in panels(load(name)):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"].strip() and panel.get("description", "").strip(), panel["title"]
        if panel["type"] != "row":
            refs = [target["refId"] for target in panel["targets"]]
            assert len(set(refs)) == len(refs), f"{panel['title']}: duplicate refIds"
            if "interval" in panel:
                parse_interval(panel["interval"])


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_targets_are_raw_sql_in_a_format_grafana_knows(query):
    target = query.target
    assert target["rawQuery"] is True and target["editorMode"] == "code"
    assert target["format"] in ("table", "time_series")
    assert target["rawSql"].strip()


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_panels_follow_the_time_picker(query):
    if (query.file, query.panel["title"]) in NOT_TIME_FILTERED:
        assert "$__time" not in query.sql
        return
    assert "$__timeFilter(" in query.sql, "a panel that ignores the time picker confuses its readers"
    if query.panel["type"] == "timeseries":
        assert "$__timeGroupAlias(" in query.sql or 'AS "time"' in query.sql


@pytest.mark.parametrize("query", QUERIES, ids=query_id)
def test_panel_sql_reads_only_reporting_views(query):
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    sql = expand(query.sql, TimeRange(moment, moment + timedelta(hours=1)))
    assert relations(sql) <= {f"reporting.{view}" for view in REPORTING_VIEWS} | ctes(sql), relations(sql)
    assert not re.search(r"\b(raw|warehouse|pg_catalog|information_schema)\s*\.", sql, re.IGNORECASE)


def relations(sql: str) -> set[str]:
    """The names after FROM and JOIN: tables, views or CTEs (not functions or subqueries)."""
    # `extract(field FROM …)` is a function argument, not a relation.
    sql = re.sub(r"\bextract\s*\(\s*\w+\s+FROM\b", "extract(", sql, flags=re.IGNORECASE)
    found = set()
    for match in re.finditer(r"\b(?:FROM|JOIN)\s+([\w.\"]+)\s*(\(?)", sql, re.IGNORECASE):
        if not match.group(2):
            found.add(match.group(1).replace('"', "").lower())
    return found


def ctes(sql: str) -> set[str]:
    return {name.lower() for name in re.findall(r"(?:\bWITH|,)\s*(\w+)\s+AS\s*\(", sql, re.IGNORECASE)}


def test_the_relation_check_catches_direct_reads():
    # The check above must be able to fail.
    assert relations("SELECT 1 FROM warehouse.people p JOIN raw.pages USING (x)") == {
        "warehouse.people",
        "raw.pages",
    }
    assert relations("SELECT extract(epoch FROM max(t)) FROM reporting.batches") == {"reporting.batches"}
    assert ctes("WITH batch AS (SELECT 1), other AS (SELECT 2) SELECT 1") == {"batch", "other"}
