"""What a real API server says about the chart: validation, RBAC and Pod Security admission.

These need an API server and the controllers, not a node: pods may stay Pending. The
namespace enforces Pod Security `restricted`, so a pod the chart or the DAG would create
that breaks it is rejected here, by the server, with its reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Release
from tests.e2e.kube import REPO, wait_until

pytestmark = pytest.mark.e2e

WORKLOAD_KINDS = ("Deployment", "StatefulSet")

# What KubernetesPodOperator does with its pods (airflow-role.yaml says why each verb).
LAUNCHER_RIGHTS = [
    ("create", "pods"),
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("patch", "pods"),
    ("delete", "pods"),
    ("get", "pods/log"),
    ("list", "events"),
]


def pod_template_service_account(workload: dict[str, Any]) -> str:
    return workload["spec"]["template"]["spec"].get("serviceAccountName", "default")


def test_every_object_of_the_release_exists_on_the_server(release: Release) -> None:
    """helm install went through the server's schema validation; each object is really there."""
    assert release.objects, "helm get manifest returned nothing"
    for obj in release.objects:
        release.kube.run("get", obj["kind"], obj["metadata"]["name"], "--namespace", release.namespace)
    status = json.loads(
        release.kube.helm("status", release.name, "--namespace", release.namespace, "-o", "json").stdout
    )
    assert status["info"]["status"] == "deployed"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_controllers_create_every_pod_under_restricted(release: Release, kind: str) -> None:
    """The controllers' pod creations pass Pod Security `restricted` admission.

    Admission only warns about a Deployment's template; the controller's create of the
    Pod is what gets rejected, and it shows up as a FailedCreate event, quoted here.
    """
    for workload in release.find(kind):
        name = workload["metadata"]["name"]
        wanted = workload["spec"].get("replicas", 1)
        selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())

        def created(selector: str = selector, wanted: int = wanted, name: str = name) -> bool:
            pods = release.kube.json("pods", "--selector", selector, namespace=release.namespace)["items"]
            if len(pods) >= wanted:
                return True
            refused = refused_creates(release, name)
            assert not refused, f"{kind} {name}: the controller could not create its pods:\n" + "\n".join(
                refused
            )
            return False

        wait_until(f"pods of {kind} {name}", 180, created)


def refused_creates(release: Release, workload: str) -> list[str]:
    """The distinct FailedCreate messages of a workload's controllers (ReplicaSet or StatefulSet)."""
    events = release.kube.json("events", namespace=release.namespace)["items"]
    messages = {
        re.sub(r'pods "[^"]+"', "pods", event["message"]).removeprefix("(combined from similar events): ")
        for event in events
        if event.get("reason") == "FailedCreate" and event["involvedObject"]["name"].startswith(workload)
    }
    return sorted(messages)


def test_airflow_may_launch_and_watch_etl_pods(release: Release) -> None:
    """The scheduler and triggerer ServiceAccounts hold what KubernetesPodOperator needs."""
    launchers = {
        pod_template_service_account(release.one("Deployment", component))
        for component in ("airflow-scheduler", "airflow-triggerer")
    }
    missing = []
    for account in sorted(launchers):
        user = f"system:serviceaccount:{release.namespace}:{account}"
        for verb, resource in LAUNCHER_RIGHTS:
            if not release.kube.can_i(verb, resource, namespace=release.namespace, as_user=user):
                missing.append(f"{account} may not {verb} {resource}")
    assert not missing, "RBAC: " + "; ".join(missing)


def test_launcher_rights_stop_at_the_namespace(release: Release) -> None:
    account = pod_template_service_account(release.one("Deployment", "airflow-scheduler"))
    user = f"system:serviceaccount:{release.namespace}:{account}"
    for verb, resource in (("get", "secrets"), ("create", "pods/exec"), ("create", "roles")):
        assert not release.kube.can_i(verb, resource, namespace=release.namespace, as_user=user), (
            f"{account} may {verb} {resource}"
        )
    assert not release.kube.can_i("create", "pods", namespace="default", as_user=user), (
        f"{account} may create pods outside its namespace"
    )


def test_etl_service_account_has_no_api_rights(release: Release) -> None:
    (account,) = release.find("ServiceAccount", "etl")
    user = f"system:serviceaccount:{release.namespace}:{account['metadata']['name']}"
    for verb, resource in (("get", "pods"), ("list", "secrets"), ("create", "pods")):
        assert not release.kube.can_i(verb, resource, namespace=release.namespace, as_user=user)


def scheduler_env(release: Release) -> dict[str, str]:
    """The literal SIMPLE_ETL_* variables the chart gives the scheduler (what the DAG reads)."""
    spec = release.one("Deployment", "airflow-scheduler")["spec"]["template"]["spec"]
    env: dict[str, str] = {}
    for container in spec["containers"]:
        for variable in container.get("env", []):
            if variable["name"].startswith("SIMPLE_ETL_") and "value" in variable:
                env[variable["name"]] = variable["value"]
    env.setdefault("SIMPLE_ETL_NAMESPACE", release.namespace)
    return env


# Builds every pod of a two-shard run with KubernetesPodOperator itself, in a child
# process: Airflow reads its configuration from the environment when first imported.
BUILD_PODS = """
import json, os, sys, tempfile
home = tempfile.mkdtemp(prefix="simple-etl-e2e-airflow-")
dags = os.path.join(os.getcwd(), "dags")
os.environ.update(AIRFLOW_HOME=home, AIRFLOW__CORE__DAGS_FOLDER=dags, AIRFLOW__CORE__LOAD_EXAMPLES="False",
                  AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db")
sys.path.insert(0, dags)
from airflow.dag_processing.dagbag import DagBag
from tests.dags.pods import pod_manifests
bag = DagBag(dag_folder=dags)
assert not bag.import_errors, bag.import_errors
print(json.dumps(pod_manifests(bag.dags["random_users_etl"], shards=2)))
"""


def test_dag_pods_are_admitted_by_the_server(release: Release) -> None:
    """Each pod the DAG would submit passes validation, ServiceAccount and `restricted` admission."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPLE_ETL_", "AIRFLOW"))}
    env.update(scheduler_env(release))
    built = subprocess.run(
        [sys.executable, "-c", BUILD_PODS], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-3000:]
    pods: dict[str, dict[str, Any]] = json.loads(built.stdout.strip().splitlines()[-1])
    assert pods, "the DAG built no pods"
    refused = {}
    for task, pod in pods.items():
        assert pod["metadata"]["namespace"] == release.namespace, task
        result = release.kube.run(
            "create", "--dry-run=server", "--namespace", release.namespace, "-f", "-", "-o", "name",
            input=json.dumps(pod), check=False,
        )  # fmt: skip
        if result.returncode != 0 or "Warning" in result.stderr:
            refused[task] = result.stderr.strip()
    assert not refused, "the API server refused the DAG's pods:\n" + json.dumps(refused, indent=2)
