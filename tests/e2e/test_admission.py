"""What a real API server says about the chart: validation, RBAC and admission.

These need an API server and the controllers, not a node: pods may stay Pending. Both
namespaces enforce Pod Security `restricted`, so a pod the chart or the DAG would create
that breaks it is rejected here, by the server, with its reason; and in the ETL pods'
namespace the chart's ValidatingAdmissionPolicy admits from the launcher only ETL pods.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
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
        release.kube.run(
            "get", obj["kind"], obj["metadata"]["name"], "--namespace", release.namespace_of(obj)
        )
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
            if not release.kube.can_i(verb, resource, namespace=release.etl_namespace, as_user=user):
                missing.append(f"{account} may not {verb} {resource} in {release.etl_namespace}")
    assert not missing, "RBAC: " + "; ".join(missing)


def launcher(release: Release) -> str:
    account = pod_template_service_account(release.one("Deployment", "airflow-scheduler"))
    return f"system:serviceaccount:{release.namespace}:{account}"


# Rights that would reach a Secret, or a way around the admission policy.
FORBIDDEN = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "pods/exec"),
    ("create", "roles"),
    ("create", "rolebindings"),
    ("create", "serviceaccounts/token"),
    ("create", "configmaps"),
]


def test_the_scheduler_token_reaches_no_secret_and_launches_only_in_the_etl_namespace(
    release: Release,
) -> None:
    """Issue 15: whoever holds the scheduler's token can neither read nor mount the release's Secrets."""
    user = launcher(release)
    granted = [
        f"{verb} {resource} in {namespace}"
        for namespace in (release.namespace, release.etl_namespace)
        for verb, resource in FORBIDDEN
        if release.kube.can_i(verb, resource, namespace=namespace, as_user=user)
    ]
    granted += [
        f"create pods in {namespace}"
        for namespace in (release.namespace, "default", "kube-system")
        if release.kube.can_i("create", "pods", namespace=namespace, as_user=user)
    ]
    assert not granted, "the scheduler's token may " + "; ".join(granted)
    assert release.kube.can_i("create", "pods", namespace=release.etl_namespace, as_user=user)


def test_etl_service_account_has_no_api_rights(release: Release) -> None:
    accounts = release.find("ServiceAccount", "etl")
    assert {release.namespace_of(a) for a in accounts} == {release.namespace, release.etl_namespace}
    for account in accounts:
        namespace = release.namespace_of(account)
        user = f"system:serviceaccount:{namespace}:{account['metadata']['name']}"
        for verb, resource in (("get", "pods"), ("list", "secrets"), ("create", "pods")):
            assert not release.kube.can_i(verb, resource, namespace=namespace, as_user=user)


def test_the_etl_namespace_holds_one_secret_and_enforces_restricted(release: Release) -> None:
    namespace = release.kube.json("namespace", release.etl_namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    secrets = release.kube.json("secrets", namespace=release.etl_namespace)["items"]
    assert [s["metadata"]["name"] for s in secrets] == [scheduler_env(release)["SIMPLE_ETL_DB_SECRET"]]


def scheduler_env(release: Release) -> dict[str, str]:
    """The literal SIMPLE_ETL_* variables the chart gives the scheduler (what the DAG reads)."""
    spec = release.one("Deployment", "airflow-scheduler")["spec"]["template"]["spec"]
    env: dict[str, str] = {}
    for container in spec["containers"]:
        for variable in container.get("env", []):
            if variable["name"].startswith("SIMPLE_ETL_") and "value" in variable:
                env[variable["name"]] = variable["value"]
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


@pytest.fixture(scope="module")
def built_pods(release: Release) -> dict[str, dict[str, Any]]:
    """Every pod of a two-shard run, as the DAG builds them from the scheduler's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPLE_ETL_", "AIRFLOW"))}
    env.update(scheduler_env(release))
    built = subprocess.run(
        [sys.executable, "-c", BUILD_PODS], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-3000:]
    pods: dict[str, dict[str, Any]] = json.loads(built.stdout.strip().splitlines()[-1])
    assert pods, "the DAG built no pods"
    return pods


def create_as_launcher(release: Release, pod: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """A server-side dry run of creating the pod with the scheduler's identity: RBAC, Pod
    Security and the ValidatingAdmissionPolicy all decide; nothing is created."""
    return release.kube.run(
        "create", "--dry-run=server", "--namespace", release.etl_namespace, "--as", launcher(release),
        "-f", "-", "-o", "name", input=json.dumps(pod), check=False,
    )  # fmt: skip


def test_dag_pods_are_admitted_by_the_server(release: Release, built_pods: dict[str, dict[str, Any]]) -> None:
    """Each pod the DAG would submit passes validation, RBAC, `restricted` and the admission policy."""
    refused = {}
    for task, pod in built_pods.items():
        assert pod["metadata"]["namespace"] == release.etl_namespace, task
        result = create_as_launcher(release, pod)
        if result.returncode != 0 or "Warning" in result.stderr:
            refused[task] = result.stderr.strip()
    assert not refused, "the API server refused the DAG's pods:\n" + json.dumps(refused, indent=2)


def _mounting_another_secret(pod: dict[str, Any]) -> None:
    pod["spec"].setdefault("volumes", []).append({"name": "loot", "secret": {"secretName": "not-the-etl-db"}})


def _reading_another_secret(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0].setdefault("envFrom", []).append({"secretRef": {"name": "not-the-etl-db"}})


def _another_image(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["image"] = "busybox:1.36"


def _another_account(pod: dict[str, Any]) -> None:
    pod["spec"]["serviceAccountName"] = "default"


def _unlabelled(pod: dict[str, Any]) -> None:
    pod["metadata"]["labels"] = {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_mounting_another_secret, "mount no Secret but the ETL's"),
        (_reading_another_secret, "read no Secret but the ETL's"),
        (_another_image, "only start the ETL image"),
        (_another_account, "run under the ETL ServiceAccount"),
        (_unlabelled, "carry the ETL pod labels"),
    ],
)
def test_the_launcher_may_start_nothing_but_etl_pods(
    release: Release,
    built_pods: dict[str, dict[str, Any]],
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    """Issue 15: a stolen scheduler token cannot start any other pod in the ETL namespace."""
    pod = copy.deepcopy(next(iter(built_pods.values())))
    change(pod)
    result = create_as_launcher(release, pod)
    assert result.returncode != 0, f"the server admitted a pod it should refuse ({message})"
    assert message in result.stderr, result.stderr
