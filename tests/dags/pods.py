"""The pods the DAG's tasks would submit, built offline by the operator itself."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from kubernetes.client import ApiClient

BATCH_ID = "scheduled__2025-06-01T10:05:00+00:00"
VISITED_AT = "2025-06-01T10:05:00+00:00"


def manifest(operator: KubernetesPodOperator) -> dict[str, Any]:
    """The pod as the API server would receive it (camelCase JSON, no None fields)."""
    pod = operator.build_pod_request_obj(dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def shard_arguments(dag: DAG, shards: int) -> list[list[str]]:
    """What `plan_shards` hands to the mapped `extract_load` for one run."""
    plan = dag.get_task("plan_shards").python_callable
    return plan(batch_id=BATCH_ID, visited_at=VISITED_AT, shards=str(shards))


def pod_manifests(dag: DAG, shards: int = 2) -> dict[str, dict[str, Any]]:
    """Every pod of one run: `migrate`, `extract_load[i]` for each shard, `quality_check`."""
    pods = {
        task_id: manifest(dag.get_task(task_id))  # type: ignore[arg-type]
        for task_id in ("migrate", "quality_check")
    }
    mapped = dag.get_task("extract_load")
    for shard, arguments in enumerate(shard_arguments(dag, shards)):
        # What Airflow does for each mapped task instance before it runs it.
        pods[f"extract_load[{shard}]"] = manifest(mapped.unmap({"arguments": arguments}))  # type: ignore[union-attr]
    return pods


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    return only
