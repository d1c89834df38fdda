"""Backup and restore, with the chart's own script and pods' environment (issue 13).

The backup CronJob's container runs here as rendered (its script from the ConfigMap, its
Secrets resolved, the database Service mapped to a real server set up by the chart's
init); then the database is lost, a fresh install's init recreates it empty, and the
restore Job (`backup.restoreFrom`) brings back every row.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from simple_etl.fakeapi import FakeApiServer
from tests.charts.conftest import run_chart_init
from tests.charts.pods import VENV_BIN, Addresses, LocalPod
from tests.charts.render import RELEASE, Manifests, render_overlay
from tests.support.kubernetes import pod_template_of
from tests.support.postgres import PostgresServer, ensure_binaries, environ_without_libpq, running_server

OVERLAY = "kind"
BACKUP = {"backup": {"enabled": True, "keep": 2}}
# Every table the ETL writes, and the migrations' own record.
TABLES = (
    "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('raw', 'warehouse', 'public')"
)


def run_container(
    manifests: Manifests, workload: dict[str, Any], server: PostgresServer, addresses: Addresses, claim: Path
) -> subprocess.CompletedProcess[str]:
    """The workload's one container as rendered, its database Service mapped to `server`,
    its backup volume the directory `claim` (one PersistentVolumeClaim for every pod), the
    Postgres client tools from this machine (the image's are the same programs)."""
    template = pod_template_of(workload)
    assert template is not None
    pod_like = {"kind": "Pod", "metadata": workload["metadata"], "spec": template["spec"]}
    pod = LocalPod(manifests, pod_like, claim.parent / "pods", addresses)
    pod.volume("backups").rmdir()
    pod.volume("backups").symlink_to(claim)
    (container,) = pod.spec["containers"]
    argv, env = pod.command(container)
    env.update(PGHOST=server.host, PGPORT=str(server.port), PATH=f"{ensure_binaries()}:{env['PATH']}")
    return subprocess.run(["sh", *argv[1:]], env=env, capture_output=True, text=True, timeout=120)


def load_a_batch(manifests: Manifests, server: PostgresServer) -> None:
    """`simple-etl migrate` and `run` as the ETL pods run them: the ConfigMap and the Secret."""
    config = manifests.in_namespace(f"{RELEASE}-etl").configmap_data(f"{RELEASE}-etl")
    secret = manifests.secret_data(f"{RELEASE}-etl-db")
    with FakeApiServer(rate_limit=None) as api:
        env = environ_without_libpq({
            **config, "PGUSER": secret["username"], "PGPASSWORD": secret["password"],
            "PGHOST": server.host, "PGPORT": str(server.port), "SIMPLE_ETL_API_URL": api.base_url,
            "SIMPLE_ETL_BATCH_SIZE": "1000", "SIMPLE_ETL_PAGE_SIZE": "500",
        })  # fmt: skip
        for args in (["migrate"], ["run", "--batch-id", "before-the-loss"]):
            done = subprocess.run(
                [str(VENV_BIN / "simple-etl"), *args], env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr


def every_row(server: PostgresServer) -> dict[str, list[str]]:
    conn = server.connect("warehouse")
    try:
        with conn.cursor() as cur:
            cur.execute(TABLES)
            tables = sorted(name for (name,) in cur.fetchall())
            rows = {}
            for table in tables:
                cur.execute(f"SELECT t::text FROM {table} t ORDER BY 1")  # noqa: S608 - catalog names
                rows[table] = [row for (row,) in cur.fetchall()]
    finally:
        conn.close()
    return rows


@pytest.fixture(scope="module")
def manifests() -> Manifests:
    return render_overlay(OVERLAY, BACKUP)


def test_a_backup_restores_every_row_into_a_fresh_install(manifests: Manifests, tmp_path: Path) -> None:
    cronjob = manifests.get("CronJob", f"{RELEASE}-backup")
    with running_server() as server:
        addresses, _ = run_chart_init(server, manifests, tmp_path / "init")
        load_a_batch(manifests, server)
        before = every_row(server)
        assert sum(map(len, before.values())) > 2000 and before["warehouse.visits"], "data to lose"

        volume = tmp_path / "claim"
        volume.mkdir()
        backup = run_container(manifests, cronjob, server, addresses, volume)
        assert backup.returncode == 0, backup.stderr
        (name,) = [p.name for p in volume.iterdir()]
        assert {p.name for p in (volume / name).iterdir()} == {"warehouse.dump", "airflow.dump"}
        assert f"backup {name}:" in backup.stdout

        # The database is lost; a fresh install's init makes it again, empty.
        server.execute("DROP DATABASE warehouse WITH (FORCE)")
        run_chart_init(server, manifests, tmp_path / "reinstall")
        assert every_row(server) == {}

        restoring = render_overlay(OVERLAY, {"backup": {**BACKUP["backup"], "restoreFrom": name}})
        (job,) = restoring.of_kind("Job")
        # The upgrade's lookup keeps every Secret: the Job reads the install's.
        restored = run_container(manifests, job, server, addresses, volume)
        assert restored.returncode == 0, restored.stderr
        assert every_row(server) == before


def test_backups_rotate_and_a_missing_one_is_named(manifests: Manifests, tmp_path: Path) -> None:
    cronjob = manifests.get("CronJob", f"{RELEASE}-backup")
    with running_server() as server:
        addresses, _ = run_chart_init(server, manifests, tmp_path / "init")
        volume = tmp_path / "claim"
        for old in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z.partial"):
            (volume / old).mkdir(parents=True)  # earlier backups, and one a killed run left
        assert run_container(manifests, cronjob, server, addresses, volume).returncode == 0
        kept = sorted(p.name for p in volume.iterdir())
        assert len(kept) == 2 and kept[0] == "20250102T000000Z", "keep 2: the newest two, no partial"

        restoring = render_overlay(
            OVERLAY, {"backup": {**BACKUP["backup"], "restoreFrom": "20240101T000000Z"}}
        )
        (job,) = restoring.of_kind("Job")
        missing = run_container(manifests, job, server, addresses, volume)
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0, "one line"
    assert "no backup '20240101T000000Z'" in missing.stderr and kept[1] in missing.stderr


def test_backups_are_opt_in_and_production_writes_to_its_own_claim() -> None:
    """A chart-made claim on a WaitForFirstConsumer class would bind only at the first
    backup, and `helm install --wait` (make up) would wait for it until it times out."""
    assert render_overlay("kind").of_kind("CronJob", "PersistentVolumeClaim") == []
    production = render_overlay("production")
    (cronjob,) = production.of_kind("CronJob")
    assert production.of_kind("PersistentVolumeClaim") == []
    volumes = pod_template_of(cronjob)["spec"]["volumes"]
    assert {"name": "backups", "persistentVolumeClaim": {"claimName": "warehouse-backups"}} in volumes
