"""The provisioned alert rules as the tests read them, and Grafana's evaluation of one.

Grafana evaluates a rule at an instant: each data source query runs over its
`relativeTimeRange` back from that instant, with the SQL macros expanded against that
range (tests/dashboards/macros.py, as for the dashboards); a `format: table` result with
one numeric column and no time column becomes a number per row (its text columns would
be labels, these rules have none); a threshold expression turns a number into 1 or 0;
the rule's condition is Alerting where it is not 0 (pkg/expr/converter.go,
pkg/expr/threshold.go and pkg/services/ngalert/eval/eval.go in grafana/grafana).
`evaluate` does the same against a real Postgres session. Grafana's pending period
(`for`) is not modelled: a condition that holds is Pending first, then Firing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from psycopg2.extensions import connection

from tests.dashboards.macros import TimeRange, expand
from tests.dashboards.shapes import execute
from tests.support.warehouse import Warehouse

ALERTING = Path(__file__).resolve().parents[2] / "grafana" / "alerting"
EXPRESSIONS = "__expr__"  # the datasourceUid of server-side expressions
# The evaluators these tests can evaluate; Grafana knows more, every release knows these.
THRESHOLDS: dict[str, Callable[[float, float], bool]] = {"gt": operator.gt, "lt": operator.lt}
# Prometheus' duration syntax (model.ParseDuration), which Grafana reads `for` and
# `interval` with.
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DURATION_UNITS = (
    timedelta(days=365),
    timedelta(weeks=1),
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
    timedelta(seconds=1),
    timedelta(milliseconds=1),
)

Json = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One alert rule of one group of one provisioning file."""

    file: str
    group: Json
    spec: Json

    @property
    def uid(self) -> str:
        return self.spec["uid"]

    def node(self, ref_id: str) -> Json:
        (node,) = [node for node in self.spec["data"] if node["refId"] == ref_id]
        return node

    @property
    def query(self) -> Json:
        """The rule's one data source query."""
        (query,) = [node for node in self.spec["data"] if node["datasourceUid"] != EXPRESSIONS]
        return query

    @property
    def condition(self) -> Json:
        return self.node(self.spec["condition"])

    def window(self, at: datetime) -> TimeRange:
        """The query's time range when the rule is evaluated at `at`."""
        span = self.query["relativeTimeRange"]
        return TimeRange(at - timedelta(seconds=span["from"]), at - timedelta(seconds=span["to"]))

    def sql(self, at: datetime) -> str:
        """The SQL Grafana sends to Postgres when it evaluates the rule at `at`."""
        return expand(self.query["model"]["rawSql"], self.window(at))


@dataclass(frozen=True)
class Evaluation:
    value: float  # what the query returned
    firing: bool  # the condition holds


def files() -> list[Path]:
    return sorted(ALERTING.glob("*.yaml"))


@cache
def load(name: str) -> Json:
    return yaml.safe_load((ALERTING / name).read_text(encoding="utf-8"))


def groups() -> list[tuple[str, Json]]:
    return [(path.name, group) for path in files() for group in load(path.name)["groups"]]


def rules() -> list[Rule]:
    return [Rule(name, group, spec) for name, group in groups() for spec in group["rules"]]


def rule(uid: str) -> Rule:
    (found,) = [candidate for candidate in rules() if candidate.uid == uid]
    return found


def evaluate(alert: Rule, conn: connection, at: datetime) -> Evaluation:
    """Evaluate `alert` at `at` on the session `conn`, as Grafana would."""
    values: dict[str, float] = {}

    def value_of(ref_id: str) -> float:
        if ref_id not in values:
            values[ref_id] = _evaluate_node(alert, alert.node(ref_id), conn, at, value_of)
        return values[ref_id]

    condition = value_of(alert.spec["condition"])
    return Evaluation(values[alert.query["refId"]], condition != 0)


def _evaluate_node(
    alert: Rule, node: Json, conn: connection, at: datetime, value_of: Callable[[str], float]
) -> float:
    if node["datasourceUid"] != EXPRESSIONS:
        return number(conn, alert.sql(at))
    model = node["model"]
    assert model["type"] == "threshold", f"{alert.uid}: no evaluation of {model['type']!r} expressions here"
    (condition,) = model["conditions"]
    evaluator = condition["evaluator"]
    predicate = THRESHOLDS[evaluator["type"]]
    return 1.0 if predicate(value_of(model["expression"]), float(evaluator["params"][0])) else 0.0


def number(conn: connection, sql: str) -> float:
    """The one number a numeric table result gives Grafana: one row, one numeric column."""
    result = execute(conn, sql)
    assert "time" not in result.kinds, f"a time column makes it a time series: {result.columns}"
    assert result.kinds == ["number"], f"one numeric column, no labels: {result.columns} {result.kinds}"
    assert len(result.rows) == 1, f"one alert instance, got {len(result.rows)} rows"
    (value,) = result.rows[0]
    assert value is not None, "a NULL reads as no value: the query must coalesce"
    return float(value)


@contextmanager
def reader_session(warehouse: Warehouse) -> Iterator[connection]:
    """A read-only session of the role the chart gives Grafana's data source, on `warehouse`."""
    conn = warehouse.server.connect(warehouse.dbname, warehouse.reader)
    conn.set_session(readonly=True, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET statement_timeout = '10s'")
    try:
        yield conn
    finally:
        conn.close()


def prometheus_duration(text: str) -> timedelta:
    """Prometheus' `model.ParseDuration`: units from years to milliseconds, largest first."""
    match = _DURATION.fullmatch(text)
    if text == "0":
        return timedelta(0)
    if not text or not match:
        raise ValueError(f"not a duration: {text!r}")
    return sum(
        (int(count) * unit for count, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if count),
        timedelta(0),
    )
