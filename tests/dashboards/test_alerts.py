"""Alert rules as code (grafana/alerting/): provisionable as Grafana reads them, shipped by
the chart byte for byte, and each rule's query, run as Grafana's read-only role, quiet on
a healthy warehouse and firing on one that breaks its condition (issue 13, acceptance 5).

The warehouse the dashboards read (`loaded`) serves where time alone breaks a rule: the
rules take time only from their query's window, so evaluating one later is the warehouse
left alone that long. Breakages that need other rows get a warehouse of their own, loaded
by the real CLI (`etl`), so the shared one stays as the dashboard tests expect it.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
import yaml
from psycopg2 import sql as pgsql
from psycopg2.extensions import connection

from simple_etl.fakeapi import Faults
from tests.charts.render import CHART, RELEASE, render_chart
from tests.dashboards.alerts import (
    EXPRESSIONS,
    THRESHOLDS,
    Evaluation,
    Rule,
    evaluate,
    files,
    groups,
    load,
    prometheus_duration,
    reader_session,
    rule,
    rules,
)
from tests.dashboards.dashboards import DATASOURCE
from tests.dashboards.loaded import SMALL_BATCHES, Loaded
from tests.dashboards.macros import expand
from tests.dashboards.test_structure import REPORTING_VIEWS, ctes, relations
from tests.support.etl import Etl
from tests.support.warehouse import Warehouse

FRESHNESS = "simple-etl-freshness"
FAILED = "simple-etl-failed-batches"
REJECTS = "simple-etl-reject-ratio"
STORAGE = "simple-etl-database-size"
PROVISIONING = "templates/grafana/grafana-provisioning-configmap.yaml"
SOURCE_ERROR = 3  # simple-etl's exit code when the API fails

RULES = rules()
# Grafana's own limits: a uid of at most 40 letters, digits, `-` or `_`; rule groups are
# evaluated on multiples of the scheduler's 10 s base interval.
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
BASE_INTERVAL = timedelta(seconds=10)
NO_DATA_STATES = {"NoData", "Alerting", "OK"}
ERROR_STATES = {"Error", "Alerting", "OK"}
# What a query may call: aggregates and casts, and the size of the database it is on.
FUNCTIONS = {"count", "sum", "min", "max", "coalesce", "nullif", "extract"} | {
    "pg_database_size",
    "current_database",
}
SQL_WORDS = {"from", "join", "in", "exists", "as", "and", "or", "not", "on", "using", "select", "where"}
# A rule reads the time from its window; the server's clock would make it untestable.
SERVER_CLOCK = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\(|"
    r"\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b",
    re.IGNORECASE,
)
ALLOWED_MACROS = {"__timeFilter", "__timeFrom", "__timeTo"}
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def rule_id(alert: Rule) -> str:
    return alert.uid


def at_now() -> datetime:
    return datetime.now(UTC)


# -- the files as Grafana provisions them --------------------------------------------------


def test_the_delivered_rules_are_there():
    assert files(), "grafana/alerting/ holds no provisioning file"
    for path in files():
        document = load(path.name)
        assert document["apiVersion"] == 1
        assert set(document) == {"apiVersion", "groups"}, f"{path.name}: only rule groups are provisioned"
    assert {alert.uid for alert in RULES} == {FRESHNESS, FAILED, REJECTS, STORAGE}


def dashboards_folder() -> str:
    data = render_chart(show_only=[PROVISIONING]).configmap_data(f"{RELEASE}-grafana-provisioning")
    (provider,) = yaml.safe_load(data["dashboards.yaml"])["providers"]
    return provider["folder"]


def test_rule_groups_are_provisionable():
    for name, group in groups():
        assert group["orgId"] == 1 and group["name"].strip() and group["rules"], name
        # Alerting is provisioned before the dashboards: a folder title they share comes out twice.
        assert group["folder"].strip() and group["folder"] != dashboards_folder()
        interval = prometheus_duration(group["interval"])
        assert interval >= BASE_INTERVAL and interval % BASE_INTERVAL == timedelta(0), group["interval"]


def test_rule_uids_are_unique_and_valid_and_titles_unique_per_folder():
    uids = [alert.uid for alert in RULES]
    assert len(set(uids)) == len(uids), uids
    assert all(UID.fullmatch(uid) for uid in uids), uids
    titles = [(alert.group["folder"], alert.spec["title"]) for alert in RULES]
    assert len(set(titles)) == len(titles), titles


@pytest.mark.parametrize("alert", RULES, ids=rule_id)
def test_a_rule_is_one_sql_query_on_the_provisioned_datasource_and_a_threshold(alert):
    ref_ids = [node["refId"] for node in alert.spec["data"]]
    assert len(set(ref_ids)) == len(ref_ids) and alert.spec["condition"] in ref_ids, ref_ids
    for node in alert.spec["data"]:
        assert node["model"]["refId"] == node["refId"]

    query = alert.query
    assert query["datasourceUid"] == DATASOURCE["uid"]
    model = query["model"]
    assert model["datasource"] == DATASOURCE
    # A table with one numeric column is a number to Grafana's alerting (no reduce needed).
    assert model["format"] == "table" and model["rawQuery"] is True and model["editorMode"] == "code"
    assert model["rawSql"].strip()
    span = query["relativeTimeRange"]
    assert all(isinstance(span[key], int) for key in ("from", "to")) and span["from"] > span["to"] >= 0

    condition = alert.condition
    assert condition["datasourceUid"] == EXPRESSIONS
    expression = condition["model"]
    assert expression["datasource"] == {"type": EXPRESSIONS, "uid": EXPRESSIONS}
    assert expression["type"] == "threshold" and expression["expression"] == query["refId"]
    (threshold,) = expression["conditions"]
    evaluator = threshold["evaluator"]
    assert evaluator["type"] in THRESHOLDS
    (limit,) = evaluator["params"]
    assert isinstance(limit, int | float) and not isinstance(limit, bool)
    assert ref_ids == [query["refId"], condition["refId"]], "nothing but the query and its threshold"


@pytest.mark.parametrize("alert", RULES, ids=rule_id)
def test_a_rule_says_what_broke_and_how_urgent_it_is(alert):
    spec = alert.spec
    assert spec["noDataState"] in NO_DATA_STATES and spec["execErrState"] in ERROR_STATES
    # A broken data source or query is its own signal, not this rule's condition.
    assert spec["execErrState"] == "Error"
    prometheus_duration(spec["for"])
    assert spec["labels"]["severity"] in {"critical", "warning"}
    annotations = spec["annotations"]
    assert annotations["summary"].strip() and len(annotations["description"]) > 80
    # Templates may only read the query's value: the one number a rule has.
    for text in annotations.values():
        for ref_id in re.findall(r"\$values\.(\w+)", text):
            assert ref_id == alert.query["refId"], text


def interpolated_fields(name: str, group: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every value Grafana's provisioning expands environment variables in."""
    found = [(f"{name}.{key}", group[key]) for key in ("name", "folder", "interval")]
    for spec in group["rules"]:
        where = f"{name}:{spec['uid']}"
        found += [(f"{where}.{key}", spec[key]) for key in ("uid", "title", "condition", "for")]
        found += [(f"{where}.{key}", spec[key]) for key in ("noDataState", "execErrState")]
        found += [(f"{where}.labels.{key}", value) for key, value in spec["labels"].items()]
        found += [(f"{where}.labels", key) for key in spec["labels"]]
        for node in spec["data"]:
            found += [(f"{where}.{node['refId']}.{key}", node[key]) for key in ("refId", "datasourceUid")]
    return found


def test_no_dollar_where_grafana_expands_environment_variables():
    # Grafana's file provisioning runs os.ExpandEnv on every field but the query model and
    # the annotations: a `$x` there would quietly become "".
    for name, group in groups():
        for where, value in interpolated_fields(name, group):
            assert "$" not in str(value), f"{where}: {value!r}"
        for spec in group["rules"]:
            # Annotations are taken raw; expanding `${…}` in them has been proposed upstream.
            for key, text in spec["annotations"].items():
                assert "${" not in text, f"{spec['uid']}.annotations.{key}"


def functions_called(sql: str) -> set[str]:
    return {name.lower() for name in re.findall(r"\b(\w+)\s*\(", sql)} - SQL_WORDS


@pytest.mark.parametrize("alert", RULES, ids=rule_id)
def test_alert_sql_reads_only_reporting_views_or_its_own_database_size(alert):
    sql = alert.sql(MOMENT)
    assert relations(sql) <= {f"reporting.{view}" for view in REPORTING_VIEWS} | ctes(sql), relations(sql)
    assert not re.search(r"\b(raw|warehouse|pg_catalog|information_schema)\s*\.", sql, re.IGNORECASE)
    assert functions_called(sql) <= FUNCTIONS, functions_called(sql) - FUNCTIONS
    # The size of the database Grafana is connected to, never another one's.
    for argument in re.findall(r"pg_database_size\s*\(([^()]*(?:\(\))?)\)", sql, re.IGNORECASE):
        assert argument.strip().lower() == "current_database()", argument
    assert sql.lower().count("pg_database_size") == len(re.findall(r"pg_database_size\s*\(", sql, re.I))


@pytest.mark.parametrize("alert", RULES, ids=rule_id)
def test_alert_sql_takes_its_time_from_the_rule_window(alert):
    raw = alert.query["model"]["rawSql"]
    assert set(re.findall(r"\$(\w+)\(", raw)) <= ALLOWED_MACROS
    assert not SERVER_CLOCK.search(raw), "time comes from the window ($__timeFilter, $__timeTo)"
    assert expand(raw, alert.window(MOMENT))  # expands like the dashboards' SQL (no comments, no variables)
    if "$__" in raw:
        assert alert.sql(MOMENT) != alert.sql(MOMENT + timedelta(hours=1))


def test_the_sql_checks_can_fail():
    assert functions_called("SELECT now(), count(*) FROM (SELECT 1) x WHERE a IN (1)") == {"now", "count"}
    assert SERVER_CLOCK.search("SELECT current_timestamp - max(t)")
    assert not SERVER_CLOCK.search("SELECT max(finished_at) AS now_ish")


def test_the_chart_provisions_every_alert_file_byte_for_byte():
    data = render_chart(show_only=[PROVISIONING]).configmap_data(f"{RELEASE}-grafana-provisioning")
    shipped = {
        key.removeprefix("alerting-"): text for key, text in data.items() if key.startswith("alerting-")
    }
    assert shipped == {path.name: path.read_text(encoding="utf-8") for path in files()}
    # Through the chart's symlink: the files in grafana/alerting/ are the only copy.
    assert (CHART / "alerting").is_symlink() and (CHART / "alerting").resolve() == files()[0].parent


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes binary quantity such as `8Gi`."""
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** ("KiMiGiTi".index(unit) // 2 + 1)


def test_the_storage_threshold_leaves_room_on_the_default_volume():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    volume = quantity_bytes(values["postgres"]["persistence"]["size"])
    (limit,) = rule(STORAGE).condition["model"]["conditions"][0]["evaluator"]["params"]
    # The volume also holds Airflow's database and the WAL: warn well before it is full.
    assert 0.5 * volume <= limit <= 0.8 * volume, (limit, volume)


# -- every query as the reader, on the loaded warehouse ------------------------------------


@pytest.fixture(scope="module")
def after_load(loaded: Loaded) -> datetime:
    """A minute after the loaded batches' last one finished: a rule evaluation of a healthy
    pipeline, the next run not yet due."""
    return loaded.warehouse.scalar("SELECT max(finished_at) FROM reporting.batches") + timedelta(minutes=1)


@pytest.mark.parametrize("alert", RULES, ids=rule_id)
def test_every_rule_runs_as_the_reader_and_is_quiet_on_the_loaded_warehouse(alert, reader, after_load):
    evaluation = evaluate(alert, reader, after_load)
    assert not evaluation.firing, evaluation


def test_the_rules_read_what_was_loaded(loaded, reader, after_load):
    warehouse = loaded.warehouse
    assert evaluate(rule(FRESHNESS), reader, after_load).value == pytest.approx(60, abs=0.01)
    # batch-5 failed a minute before: Airflow would still be retrying it.
    assert evaluate(rule(FAILED), reader, after_load).value == 0
    extracted, quarantined = warehouse.query(
        "SELECT sum(extracted), sum(quarantined) FROM warehouse.batches WHERE status = 'succeeded'"
    )[0]
    assert quarantined > 0
    assert evaluate(rule(REJECTS), reader, after_load).value == pytest.approx(quarantined / extracted)
    size = warehouse.scalar("SELECT pg_database_size(current_database())")
    assert evaluate(rule(STORAGE), reader, after_load).value == pytest.approx(size, rel=0.01)


# -- no successful batch for too long ------------------------------------------------------


def last_success(warehouse: Warehouse) -> datetime:
    return warehouse.scalar("SELECT max(finished_at) FROM warehouse.batches WHERE status = 'succeeded'")


def test_freshness_fires_half_an_hour_after_the_last_success(loaded, reader):
    # The loaded warehouse left alone: the scheduler stopped after its last batch.
    succeeded = last_success(loaded.warehouse)
    assert not evaluate(rule(FRESHNESS), reader, succeeded + timedelta(minutes=29)).firing
    late = evaluate(rule(FRESHNESS), reader, succeeded + timedelta(minutes=31))
    assert late.firing and late.value == pytest.approx(31 * 60, abs=0.01)


def backdate(warehouse: Warehouse, by: timedelta) -> None:
    """Move every batch's timestamps back, as if it had run `by` earlier."""
    warehouse.query(
        "UPDATE warehouse.batches SET started_at = started_at - %(by)s, finished_at = finished_at - %(by)s, "
        "visited_at = visited_at - %(by)s",
        {"by": by},
    )


def test_freshness_fires_on_a_warehouse_whose_last_success_is_old(etl: Etl):
    with reader_session(etl.warehouse) as session:
        # Freshly installed, nothing ran yet: nothing to be late against.
        assert evaluate(rule(FRESHNESS), session, at_now()) == Evaluation(0, False)
        assert etl.run("batch-1", **SMALL_BATCHES).exit_code == 0
        assert not evaluate(rule(FRESHNESS), session, at_now()).firing
        backdate(etl.warehouse, timedelta(hours=2))
        stale = evaluate(rule(FRESHNESS), session, at_now())
        assert stale.firing and stale.value > 2 * 3600


def test_freshness_fires_when_no_batch_ever_succeeded(etl: Etl):
    etl.api.faults = Faults(schedule=("500",))
    failed = etl.run("batch-1", **SMALL_BATCHES, SIMPLE_ETL_MAX_RETRIES="0")
    assert failed.exit_code == SOURCE_ERROR, failed.stderr
    with reader_session(etl.warehouse) as session:
        assert not evaluate(rule(FRESHNESS), session, at_now()).firing  # trying for seconds only
        backdate(etl.warehouse, timedelta(hours=1))  # and failing ever since
        never = evaluate(rule(FRESHNESS), session, at_now())
        assert never.firing and never.value > 3600


# -- failed batches ------------------------------------------------------------------------


def failed_at(warehouse: Warehouse, batch_id: str) -> datetime:
    return warehouse.scalar(
        "SELECT max(finished_at) FROM warehouse.batches WHERE batch_id = %s AND status = 'failed'",
        (batch_id,),
    )


def test_failed_batches_fires_once_the_retries_are_over(loaded, reader):
    # batch-5 of the loaded warehouse failed for good: the API answered 500.
    failure = failed_at(loaded.warehouse, "batch-5")
    assert not evaluate(rule(FAILED), reader, failure + timedelta(minutes=1)).firing  # retries pending
    after_retries = evaluate(rule(FAILED), reader, failure + timedelta(minutes=11))
    assert after_retries.firing and after_retries.value == 1
    assert not evaluate(rule(FAILED), reader, failure + timedelta(minutes=61)).firing  # an hour on


def test_a_batch_that_a_retry_loaded_is_no_failure(etl: Etl):
    etl.api.faults = Faults(schedule=("500",))
    assert etl.run("batch-1", **SMALL_BATCHES, SIMPLE_ETL_MAX_RETRIES="0").exit_code == SOURCE_ERROR
    failure = failed_at(etl.warehouse, "batch-1")
    with reader_session(etl.warehouse) as session:
        assert evaluate(rule(FAILED), session, failure + timedelta(minutes=11)).firing
        # Airflow's retry (or a cleared task) runs the same batch id again, and it loads.
        assert etl.run("batch-1", **SMALL_BATCHES).exit_code == 0
        assert not evaluate(rule(FAILED), session, failure + timedelta(minutes=11)).firing


def test_an_attempt_abandoned_past_its_lease_is_a_failure(etl: Etl):
    assert etl.run("batch-1", **SMALL_BATCHES).exit_code == 0
    # The pod was killed mid-load: its attempt stays running, its lease ran out 20 minutes ago.
    etl.warehouse.query(
        """
        UPDATE warehouse.batches SET status = 'running', finished_at = NULL;
        UPDATE warehouse.batch_attempts SET status = 'running', finished_at = NULL,
               lease_until = now() - interval '20 minutes';
        """
    )
    with reader_session(etl.warehouse) as session:
        abandoned = evaluate(rule(FAILED), session, at_now())
        assert abandoned.firing and abandoned.value == 1


# -- reject ratio --------------------------------------------------------------------------


def test_reject_ratio_fires_on_a_source_that_sends_broken_records(etl: Etl):
    assert etl.run("batch-1", **SMALL_BATCHES).exit_code == 0
    with reader_session(etl.warehouse) as session:
        assert evaluate(rule(REJECTS), session, at_now()) == Evaluation(0, False)
        etl.api.faults = Faults(corrupt=50)  # 50 of every page of 250
        assert etl.run("batch-2", **SMALL_BATCHES).exit_code == 0
        extracted, quarantined = etl.warehouse.query(
            "SELECT sum(extracted), sum(quarantined) FROM warehouse.batches"
        )[0]
        broken = evaluate(rule(REJECTS), session, at_now())
        assert broken.firing and broken.value == pytest.approx(quarantined / extracted)
        assert quarantined / extracted > 0.05
        # An hour later both batches have left the window.
        assert not evaluate(rule(REJECTS), session, at_now() + timedelta(minutes=61)).firing


# -- storage -------------------------------------------------------------------------------


def inflate(warehouse: Warehouse, size: int) -> None:
    """Give the database a table whose data file is `size` bytes long, sparse: Postgres adds
    up its files' sizes as the file system reports them, so the database is that much
    bigger to pg_database_size without gigabytes written (nothing reads the table)."""
    warehouse.query("CREATE TABLE public.ballast (filler bytea)")
    relative = warehouse.scalar("SELECT pg_relation_filepath('public.ballast')")
    os.truncate(warehouse.server.data / relative, size)


def storage_limit() -> int:
    (limit,) = rule(STORAGE).condition["model"]["conditions"][0]["evaluator"]["params"]
    return int(limit)


def test_database_size_fires_when_the_database_outgrows_the_threshold(warehouse: Warehouse):
    with reader_session(warehouse) as session:
        assert not evaluate(rule(STORAGE), session, at_now()).firing
        inflate(warehouse, storage_limit() + 2**30)
        full = evaluate(rule(STORAGE), session, at_now())
        assert full.firing and full.value > storage_limit() + 2**30
        assert full.value == pytest.approx(warehouse.scalar("SELECT pg_database_size(current_database())"))


def test_the_reader_may_size_only_databases_it_may_connect_to(warehouse_factory):
    # pg_database_size needs CONNECT on the database (or pg_read_all_stats), which is all
    # the reader has; the Grafana role needs no grant for the storage rule.
    own, other = warehouse_factory(), warehouse_factory()
    other.server.execute(
        pgsql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
            pgsql.Identifier(other.dbname), pgsql.Identifier(other.reader.name)
        )
    )
    with reader_session(own) as session:
        assert number_of(session, "SELECT pg_database_size(current_database())") > 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            number_of(session, f"SELECT pg_database_size('{other.dbname}')")


def number_of(session: connection, statement: str) -> float:
    with session.cursor() as cur:
        cur.execute(statement)
        return float(cur.fetchone()[0])
