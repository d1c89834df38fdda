"""The maintenance DAG: retention in an ETL pod, and finished ETL pods deleted after a grace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from random_users_etl import MAINTENANCE_DAG_ID, MaintenanceSettings, expired_pods
from tests.dags.conftest import load_dagbag
from tests.dags.pods import container, manifest

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
GRACE = timedelta(hours=24)


@pytest.fixture
def maintenance(monkeypatch: pytest.MonkeyPatch) -> DAG:
    bag = load_dagbag({}, monkeypatch)
    assert bag.import_errors == {}
    return bag.dags[MAINTENANCE_DAG_ID]


def test_retention_runs_hourly_in_an_etl_pod_like_the_loads(maintenance: DAG, etl_dag: DAG) -> None:
    assert set(maintenance.task_ids) == {"migrate", "retain", "delete_finished_pods"}
    assert maintenance.get_task("migrate").downstream_task_ids == {"retain"}  # a fresh install's schema first
    assert maintenance.max_active_runs == 1 and maintenance.catchup is False
    retain = manifest(maintenance.get_task("retain"))  # type: ignore[arg-type]
    load = manifest(etl_dag.get_task("migrate"))  # type: ignore[arg-type]
    assert container(retain)["args"] == ["retain"]
    # The same image, account, labels, security and Secret as every ETL pod: the admission
    # policy and the NetworkPolicies treat it as one.
    for key in ("serviceAccountName", "securityContext", "automountServiceAccountToken"):
        assert retain["spec"][key] == load["spec"][key], key
    assert retain["metadata"]["labels"] == load["metadata"]["labels"]
    assert container(retain)["image"] == container(load)["image"]
    assert container(retain)["env"][3:] == container(load)["env"][3:]  # credentials by secretKeyRef


def pod(name: str, phase: str, finished: datetime | None, created: datetime = NOW - 10 * GRACE) -> k8s.V1Pod:
    terminated = k8s.V1ContainerStateTerminated(exit_code=0, finished_at=finished) if finished else None
    statuses = [
        k8s.V1ContainerStatus(
            name="base", image="simple-etl", image_id="", ready=False, restart_count=0,
            state=k8s.V1ContainerState(terminated=terminated),
        )
    ]  # fmt: skip
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp=created),
        status=k8s.V1PodStatus(phase=phase, container_statuses=statuses),
    )


def test_finished_pods_go_once_their_grace_is_over() -> None:
    pods = [
        pod("failed-long-ago", "Failed", NOW - GRACE - timedelta(minutes=1)),
        pod("failed-just-now", "Failed", NOW - timedelta(hours=1)),
        pod("succeeded-lost-task", "Succeeded", NOW - 2 * GRACE),
        pod("running", "Running", None),
        pod("pending-for-ages", "Pending", None),
        pod("failed-before-starting", "Failed", None, created=NOW - 2 * GRACE),
        pod("failed-at-the-edge", "Failed", NOW - GRACE),
    ]
    expired = ["failed-at-the-edge", "failed-before-starting", "failed-long-ago", "succeeded-lost-task"]
    assert expired_pods(pods, NOW, GRACE) == expired


@pytest.mark.parametrize("hours", ["0", "-1", "1.5", "a day"])
def test_a_bad_grace_is_refused_naming_the_variable(hours: str) -> None:
    with pytest.raises(ValueError, match="SIMPLE_ETL_FAILED_POD_GRACE_HOURS"):
        MaintenanceSettings.from_env({"SIMPLE_ETL_FAILED_POD_GRACE_HOURS": hours})


def test_the_grace_follows_the_scheduler_environment(parse_dags: Callable[..., DagBag]) -> None:
    assert MaintenanceSettings.from_env({}).failed_pod_grace == GRACE
    assert (
        MaintenanceSettings.from_env({"SIMPLE_ETL_FAILED_POD_GRACE_HOURS": "72"}).failed_pod_grace
        == 3 * GRACE
    )
    bag = parse_dags(SIMPLE_ETL_FAILED_POD_GRACE_HOURS="0")  # what the chart's value would set
    (error,) = bag.import_errors.values()
    assert "SIMPLE_ETL_FAILED_POD_GRACE_HOURS" in error and MAINTENANCE_DAG_ID not in bag.dags
