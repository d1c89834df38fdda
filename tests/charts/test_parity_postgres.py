"""Parity (a): the Postgres init the chart mounts, run on a real server, serves exactly the
databases and roles the Airflow, ETL and Grafana settings use; after the real ETL
migration the Grafana role reads `reporting` and nothing else."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg2
import pytest
from psycopg2 import errors

from tests.charts.conftest import ChartDatabase
from tests.charts.pods import VENV_BIN, LocalPod, resolve_env
from tests.charts.render import NAMESPACE, RELEASE
from tests.charts.wiring import grafana_datasource
from tests.support.postgres import environ_without_libpq

# The Service by the name that resolves from the ETL namespace too.
POSTGRES_HOST = f"{RELEASE}-postgres.{NAMESPACE}.svc"


def settings_of(db: ChartDatabase) -> dict[str, dict[str, Any]]:
    """What each component is configured with, Secrets resolved, hosts as rendered."""
    m = db.manifests
    airflow = urlsplit(m.secret_data(f"{RELEASE}-airflow-db")["connection"])
    etl_config = m.configmap_data(f"{RELEASE}-etl")
    etl_secret = m.secret_data(f"{RELEASE}-etl-db")
    source = grafana_datasource(m)
    grafana = m.get("Deployment", f"{RELEASE}-grafana")["spec"]["template"]["spec"]["containers"][0]
    grafana_env = resolve_env(m, grafana)
    expand = lambda text: re.sub(r"\$\{?(\w+)\}?", lambda g: grafana_env[g.group(1)], text)  # noqa: E731
    host, port = source["url"].rsplit(":", 1)
    return {
        "airflow": {"host": airflow.hostname, "port": airflow.port, "dbname": airflow.path.lstrip("/"),
                    "user": unquote(airflow.username or ""), "password": unquote(airflow.password or "")},
        "etl": {"host": etl_config["PGHOST"], "port": int(etl_config["PGPORT"]),
                "dbname": etl_config["PGDATABASE"], "user": etl_secret["username"],
                "password": etl_secret["password"]},
        "grafana": {"host": host, "port": int(port), "dbname": source["jsonData"]["database"],
                    "user": expand(source["user"]), "password": expand(source["secureJsonData"]["password"])},
    }  # fmt: skip


def connect(
    db: ChartDatabase, setting: dict[str, Any], dbname: str | None = None
) -> psycopg2.extensions.connection:
    """Connect as a component would, its Service address mapped to the test server."""
    assert setting["host"] == POSTGRES_HOST and setting["port"] == 5432
    return psycopg2.connect(
        host=db.server.host, port=db.server.port, dbname=dbname or setting["dbname"],
        user=setting["user"], password=setting["password"], connect_timeout=5,
    )  # fmt: skip


def superuser_rows(db: ChartDatabase, statement: str) -> set[tuple[Any, ...]]:
    conn = db.server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return set(cur.fetchall())
    finally:
        conn.close()


def test_the_init_creates_exactly_the_databases_and_roles_the_components_use(chart_db: ChartDatabase) -> None:
    settings = settings_of(chart_db)
    databases = superuser_rows(chart_db, "SELECT datname FROM pg_database WHERE NOT datistemplate")
    assert databases == {("postgres",)} | {(s["dbname"],) for s in settings.values()}
    assert {s["dbname"] for s in settings.values()} == {"airflow", "warehouse"}
    roles = superuser_rows(
        chart_db,
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
        "WHERE rolcanlogin AND rolname <> 'postgres'",
    )
    assert roles == {(s["user"], False, False, False) for s in settings.values()}
    assert {s["user"] for s in settings.values()} == {"airflow", "etl", "grafana_reader"}
    owners = superuser_rows(
        chart_db,
        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('airflow', 'warehouse')",
    )
    assert owners == {("airflow", settings["airflow"]["user"]), ("warehouse", settings["etl"]["user"])}
    for component, setting in settings.items():
        with connect(chart_db, setting) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == (setting["user"], setting["dbname"]), component
        conn.close()


@pytest.mark.parametrize(
    ("component", "database"),
    [("airflow", "warehouse"), ("etl", "airflow"), ("grafana", "airflow"), ("grafana", "postgres")],
)
def test_each_role_is_kept_out_of_the_other_databases(
    chart_db: ChartDatabase, component: str, database: str
) -> None:
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(chart_db, settings_of(chart_db)[component], dbname=database)


def test_the_init_is_idempotent(chart_db: ChartDatabase, tmp_path: Path) -> None:
    """An operator may re-run it (password rotation): same roles, same databases, still working."""
    before = superuser_rows(chart_db, "SELECT datname, datdba FROM pg_database")
    statefulset = chart_db.manifests.get("StatefulSet", f"{RELEASE}-postgres")
    pod = LocalPod(chart_db.manifests, statefulset, tmp_path, chart_db.addresses)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    _, env = pod.command(container)
    env.update(PGHOST=str(chart_db.server.socket_dir), PGPORT=str(chart_db.server.port))
    script = pod.filesystem(container)["/docker-entrypoint-initdb.d"] / "10-simple-etl.sh"
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert superuser_rows(chart_db, "SELECT datname, datdba FROM pg_database") == before
    connect(chart_db, settings_of(chart_db)["grafana"]).close()
    # ...and refuses to run half-configured.
    del env["INIT_READER_PASSWORD"]
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "INIT_READER_PASSWORD is not set" in result.stderr


def test_the_database_helm_test_passes_against_the_chart_database(
    chart_db: ChartDatabase, tmp_path: Path
) -> None:
    """The `helm test` pod's own script, with its rendered environment, against this server."""
    test_pod = chart_db.manifests.get("Pod", f"{RELEASE}-database-test")
    pod = LocalPod(chart_db.manifests, test_pod, tmp_path, chart_db.addresses)
    argv, env = pod.command(test_pod["spec"]["containers"][0])
    assert env["PGHOST"] == POSTGRES_HOST
    env.update(PGHOST=chart_db.server.host, PGPORT=str(chart_db.server.port))
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Postgres OK" in result.stdout
    assert "grafana_reader @ warehouse" in result.stdout


@pytest.fixture(scope="module")
def migrated(chart_db: ChartDatabase) -> ChartDatabase:
    """`simple-etl migrate` as an ETL pod runs it: the ETL ConfigMap (envFrom) and the Secret."""
    cli = VENV_BIN / "simple-etl"
    config = chart_db.manifests.configmap_data(f"{RELEASE}-etl")
    secret = chart_db.manifests.secret_data(f"{RELEASE}-etl-db")
    env = environ_without_libpq({**config, "PGUSER": secret["username"], "PGPASSWORD": secret["password"]})
    env.update(PGHOST=chart_db.server.host, PGPORT=str(chart_db.server.port))
    assert config["PGHOST"] == POSTGRES_HOST and config["PGPORT"] == "5432"
    result = subprocess.run([str(cli), "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"simple-etl migrate failed:\n{result.stdout}\n{result.stderr}"
    return chart_db


def test_the_grafana_role_reads_reporting_only(migrated: ChartDatabase) -> None:
    grafana = settings_of(migrated)["grafana"]
    conn = connect(migrated, grafana)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for view in ("batches", "visits", "people", "quarantine", "freshness"):
                cur.execute(f"SELECT count(*) FROM reporting.{view}")  # noqa: S608
                assert cur.fetchone() is not None
            for table in (
                "warehouse.people",
                "warehouse.batches",
                "raw.pages",
                "warehouse.quarantine",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    cur.execute(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608
            with pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
                cur.execute("CREATE TABLE reporting.mine (x int)")
    finally:
        conn.close()


def test_the_etl_role_owns_what_migrate_created(migrated: ChartDatabase) -> None:
    etl = settings_of(migrated)["etl"]
    with connect(migrated, etl) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace "
            "WHERE nspname IN ('raw', 'warehouse', 'reporting')"
        )
        assert set(cur.fetchall()) == {(schema, etl["user"]) for schema in ("raw", "warehouse", "reporting")}
    conn.close()
