"""The chart's ValidatingAdmissionPolicy, run on the pods the DAG really builds.

The policy's CEL expressions are evaluated with a CEL implementation (cel-python) on the
pods of the DAG parsed with the scheduler environment the same render gives it: every
pod the DAG makes is admitted, and each way a stolen launcher token could abuse its
rights is refused by the rule that names it. The API server's own evaluation is the
end-to-end tier's (tests/e2e/test_admission.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import celpy
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG

from tests.charts.render import ETL_NAMESPACE, NAMESPACE, RELEASE, Manifests, render_chart, render_overlay
from tests.dags.pods import container, manifest, pod_manifests

LAUNCHER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-airflow-launcher"


class Policy:
    """A rendered ValidatingAdmissionPolicy: its match conditions, variables and validations."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._env = celpy.Environment()
        self.spec = spec
        self._conditions = [self._program(c["expression"]) for c in spec.get("matchConditions", [])]
        self._variables = [(v["name"], self._program(v["expression"])) for v in spec.get("variables", [])]
        self._validations = [(self._program(v["expression"]), v["message"]) for v in spec["validations"]]

    def _program(self, expression: str) -> Any:
        return self._env.program(self._env.compile(expression))

    def refusals(self, pod: dict[str, Any], username: str = LAUNCHER) -> list[str]:
        """The messages of the validations the pod fails; [] when admitted or not matched."""
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(pod),
            "request": celpy.json_to_cel({"userInfo": {"username": username}}),
        }
        if not all(condition.evaluate(activation) for condition in self._conditions):
            return []
        variables = celpy.celtypes.MapType()
        for name, program in self._variables:  # each may use the ones before it
            variables[celpy.celtypes.StringType(name)] = program.evaluate(
                {**activation, "variables": variables}
            )
        activation["variables"] = variables
        return [message for program, message in self._validations if not program.evaluate(activation)]


def scheduler_env(manifests: Manifests) -> dict[str, str]:
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    (main,) = scheduler["spec"]["template"]["spec"]["containers"]
    return {
        e["name"]: e["value"] for e in main["env"] if e["name"].startswith("SIMPLE_ETL_") and "value" in e
    }


@pytest.fixture(scope="module", params=["default", "production"])
def rendered(request: pytest.FixtureRequest) -> Manifests:
    return render_overlay(request.param)


@pytest.fixture
def pods(rendered: Manifests, parse_dags: Callable[..., DagBag]) -> dict[str, dict[str, Any]]:
    """Every pod the DAGs build: a two-shard load's, and the maintenance DAG's `retain`."""
    bag = parse_dags(**scheduler_env(rendered))
    assert bag.import_errors == {}
    retain = bag.dags["simple_etl_maintenance"].get_task("retain")
    return {**pod_manifests(bag.dags["random_users_etl"], shards=2), "retain": manifest(retain)}


@pytest.fixture
def policy(rendered: Manifests) -> Policy:
    (vap,) = rendered.of_kind("ValidatingAdmissionPolicy")
    return Policy(vap["spec"])


def test_the_policy_binds_to_the_etl_namespace_and_denies(rendered: Manifests) -> None:
    (vap,) = rendered.of_kind("ValidatingAdmissionPolicy")
    (binding,) = rendered.of_kind("ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": ETL_NAMESPACE}
    }
    assert vap["spec"]["failurePolicy"] == "Fail"


def test_every_pod_the_dag_builds_is_admitted(policy: Policy, pods: dict[str, dict[str, Any]]) -> None:
    assert {task: policy.refusals(pod) for task, pod in pods.items()} == {task: [] for task in pods}


def test_the_database_ca_bundle_is_the_one_other_secret_admitted(parse_etl_dag: Callable[..., DAG]) -> None:
    rendered = render_overlay("production")
    env = scheduler_env(rendered)
    assert env["SIMPLE_ETL_DB_CA_SECRET"], "the production overlay verifies the server (verify-full)"
    (vap,) = rendered.of_kind("ValidatingAdmissionPolicy")
    policy = Policy(vap["spec"])
    for task, pod in pod_manifests(parse_etl_dag(**env), shards=1).items():
        mounted = {v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
        assert mounted == {env["SIMPLE_ETL_DB_CA_SECRET"]}, task
        assert policy.refusals(pod) == [], task


def _mount(pod: dict[str, Any]) -> None:
    pod["spec"].setdefault("volumes", []).append(
        {"name": "loot", "secret": {"secretName": f"{RELEASE}-postgres"}}
    )


def _projected(pod: dict[str, Any]) -> None:
    source = {"secret": {"name": f"{RELEASE}-airflow"}}
    pod["spec"].setdefault("volumes", []).append({"name": "loot", "projected": {"sources": [source]}})


def _env(pod: dict[str, Any]) -> None:
    ref = {"secretKeyRef": {"name": f"{RELEASE}-grafana-admin", "key": "password"}}
    container(pod)["env"].append({"name": "LOOT", "valueFrom": ref})


def _env_from(pod: dict[str, Any]) -> None:
    container(pod).setdefault("envFrom", []).append({"secretRef": {"name": f"{RELEASE}-airflow-db"}})


def _image(pod: dict[str, Any]) -> None:
    container(pod)["image"] = "busybox:1.36"


def _init_container(pod: dict[str, Any]) -> None:
    pod["spec"]["initContainers"] = [{**container(pod), "name": "first", "image": "busybox:1.36"}]


def _account(pod: dict[str, Any]) -> None:
    pod["spec"]["serviceAccountName"] = "default"


def _labels(pod: dict[str, Any]) -> None:
    pod["metadata"]["labels"] = {"app": "stray"}


def _instance(pod: dict[str, Any]) -> None:
    pod["metadata"]["labels"]["app.kubernetes.io/instance"] = "another-release"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_mount, "mount no Secret but the ETL's"),
        (_projected, "mount no Secret but the ETL's"),
        (_env, "read no Secret but the ETL's"),
        (_env_from, "read no Secret but the ETL's"),
        (_image, "only start the ETL image"),
        (_init_container, "only start the ETL image"),
        (_account, "run under the ETL ServiceAccount"),
        (_labels, "carry the ETL pod labels"),
        (_instance, "carry the ETL pod labels"),
    ],
)
def test_each_abuse_of_the_launcher_is_refused_by_its_rule(
    policy: Policy, pods: dict[str, dict[str, Any]], change: Callable[[dict[str, Any]], None], message: str
) -> None:
    pod = copy.deepcopy(pods["extract_load[0]"])
    change(pod)
    refusals = policy.refusals(pod)
    assert any(message in refusal for refusal in refusals), refusals


def test_only_the_launcher_is_held_to_it(policy: Policy, pods: dict[str, dict[str, Any]]) -> None:
    """Anyone else's pods (an administrator's, a controller's) are Pod Security's and RBAC's business."""
    pod = copy.deepcopy(pods["migrate"])
    _image(pod)
    assert policy.refusals(pod, username="system:serviceaccount:kube-system:replicaset-controller") == []
    assert policy.refusals(pod) != []


def test_the_policy_is_optional() -> None:
    manifests = render_chart({"etl": {"admissionPolicy": {"enabled": False}}})
    assert manifests.of_kind("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") == []
