"""What a failed ETL pod means for Airflow's retries, through the operator's own cleanup.

`cleanup` is the operator's real code: it reads the finished pod and raises what the task
ends with. It talks to the Kubernetes API on the way (pod events, labels); a stand-in API
(tests/charts/fake_kube_api.py) answers, through an Airflow connection as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s

from random_users_etl import FINAL_EXIT_CODES, EtlPodOperator, EtlPodSettings, etl_pod_kwargs
from tests.charts.fake_kube_api import fake_kube_api


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EtlPodOperator]:
    """An ETL pod task as the DAG builds it, connected to a stand-in Kubernetes API."""
    with fake_kube_api() as api:
        kubeconfig = api.kubeconfig(tmp_path, "etl")
        connection = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}
        monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(connection))
        settings = EtlPodSettings.from_env()
        yield EtlPodOperator(**etl_pod_kwargs(settings, "quality_check", timeout=timedelta(minutes=5)))


def finished_pod(phase: str, code: int) -> k8s.V1Pod:
    terminated = k8s.V1ContainerStateTerminated(exit_code=code, message='{"error": "…"}')
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="etl-pod", namespace="simple-etl"),
        status=k8s.V1PodStatus(
            phase=phase,
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="base", image="simple-etl", image_id="", ready=False, restart_count=0,
                    state=k8s.V1ContainerState(terminated=terminated),
                )
            ],
        ),
    )  # fmt: skip


@pytest.mark.parametrize("code", sorted(FINAL_EXIT_CODES))
def test_a_configuration_or_quality_failure_is_not_retried(operator: EtlPodOperator, code: int) -> None:
    pod = finished_pod("Failed", code)
    with pytest.raises(AirflowFailException, match=f"exit code {code}, .*not retried"):
        operator.cleanup(pod, pod)


@pytest.mark.parametrize("code", [1, 3, 4])
def test_source_database_and_unexpected_failures_are_retried(operator: EtlPodOperator, code: int) -> None:
    pod = finished_pod("Failed", code)
    with pytest.raises(AirflowException) as raised:
        operator.cleanup(pod, pod)
    assert not isinstance(raised.value, AirflowFailException)
    assert "returned a failure" in str(raised.value)


def test_a_succeeded_pod_is_not_a_failure(operator: EtlPodOperator) -> None:
    pod = finished_pod("Succeeded", 0)
    operator.cleanup(pod, pod)
