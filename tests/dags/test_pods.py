"""The pod every task submits: valid for Kubernetes 1.34, "restricted", wired as the chart expects.

Pods come from the operator's own `build_pod_request_obj(dry_run=True)`; no cluster needed.
The expected values are spelled out here (docs/interfaces.md), not imported from the DAG.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG

from tests.dags.pods import BATCH_ID, VISITED_AT, container, pod_manifests
from tests.support.kubernetes import restricted_violations, validate

POD_NAMES = ["migrate", "extract_load[0]", "extract_load[1]", "quality_check"]

ETL_LABELS = {
    "app.kubernetes.io/name": "simple-etl",
    "app.kubernetes.io/instance": "simple-etl",
    "app.kubernetes.io/component": "etl",
    "app.kubernetes.io/part-of": "simple-etl",
    "app.kubernetes.io/managed-by": "airflow",
}

ALL_SETTINGS = {
    "SIMPLE_ETL_IMAGE": "registry.example.com/simple-etl:1.2.3",
    "SIMPLE_ETL_IMAGE_PULL_POLICY": "Always",
    "SIMPLE_ETL_NAMESPACE": "etl-jobs",
    "SIMPLE_ETL_SERVICE_ACCOUNT": "release-etl",
    "SIMPLE_ETL_DB_SECRET": "release-etl-db",
    "SIMPLE_ETL_CONFIGMAP": "release-etl-config",
    "SIMPLE_ETL_API_URL": "http://release-fake-api:8080/api/1.4/",
    "SIMPLE_ETL_DEFERRABLE": "false",
    "SIMPLE_ETL_INSTANCE": "release",
}


@pytest.fixture(params=POD_NAMES)
def pod(request: pytest.FixtureRequest, default_pods: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return default_pods[request.param]


def secret_refs(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Env var → (Secret, key) for every secretKeyRef of the container."""
    return {
        env["name"]: (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for env in container(pod).get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


# Every pod is told the DAG's pace, and its task's execution_timeout less a minute.
PACE_AND_DEADLINE = {"SIMPLE_ETL_SCHEDULE_SECONDS", "SIMPLE_ETL_DEADLINE_SECONDS"}
DEADLINES = {"migrate": "240", "extract_load[0]": "840", "extract_load[1]": "840", "quality_check": "240"}


def plain_env(pod: dict[str, Any]) -> dict[str, str]:
    """The container's literal env, less the pace and deadline every pod gets."""
    env = {env["name"]: env["value"] for env in container(pod).get("env", []) if "value" in env}
    return {name: value for name, value in env.items() if name not in PACE_AND_DEADLINE}


# -- Kubernetes schema and Pod Security -----------------------------------------------------


def test_pod_is_valid_for_kubernetes_1_34(pod: dict[str, Any]) -> None:
    validate(pod)  # strict: an unknown or misspelt field fails too


def test_pod_meets_pod_security_restricted(pod: dict[str, Any]) -> None:
    assert restricted_violations(pod["spec"]) == []


def test_the_schema_check_catches_a_broken_pod(default_pods: dict[str, dict[str, Any]]) -> None:
    broken = {**default_pods["migrate"], "spec": {**default_pods["migrate"]["spec"], "restartPolicy": 3}}
    with pytest.raises(Exception, match="restartPolicy"):
        validate(broken)


# -- image, arguments, pod shape --------------------------------------------------------------


def test_pod_runs_the_default_etl_image(pod: dict[str, Any]) -> None:
    assert container(pod)["image"] == "simple-etl:0.1.0"
    assert container(pod)["imagePullPolicy"] == "IfNotPresent"
    # The image's ENTRYPOINT is `simple-etl`; the tasks only pass its arguments.
    assert container(pod).get("command", []) == []


def test_each_task_runs_its_cli_command(default_pods: dict[str, dict[str, Any]]) -> None:
    assert container(default_pods["migrate"])["args"] == ["migrate"]
    assert container(default_pods["quality_check"])["args"] == ["check", "--batch-id", "{{ run_id }}"]
    for shard in (0, 1):
        assert container(default_pods[f"extract_load[{shard}]"])["args"] == [
            "run", "--batch-id", BATCH_ID, "--shard", str(shard), "--shards", "2", "--visited-at", VISITED_AT,
        ]  # fmt: skip


def test_pod_is_one_container_that_never_restarts(pod: dict[str, Any]) -> None:
    # No XCom sidecar (it would run an image outside the restricted profile), and a failed
    # ETL run is retried by Airflow, with backoff, not restarted in place by the kubelet.
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base"]
    assert pod["spec"].get("initContainers", []) == []
    assert pod["spec"]["restartPolicy"] == "Never"


def test_pod_labels_are_the_recommended_set(pod: dict[str, Any]) -> None:
    labels = pod["metadata"]["labels"]
    recommended = {key: value for key, value in labels.items() if key.startswith("app.kubernetes.io/")}
    assert recommended == ETL_LABELS


def test_pod_names_say_which_task(default_pods: dict[str, dict[str, Any]]) -> None:
    assert default_pods["migrate"]["metadata"]["name"].startswith("simple-etl-migrate-")
    assert default_pods["extract_load[0]"]["metadata"]["name"].startswith("simple-etl-extract-load-")
    assert default_pods["quality_check"]["metadata"]["name"].startswith("simple-etl-quality-check-")


def test_pods_stop_on_their_own_at_the_task_timeout(default_pods: dict[str, dict[str, Any]]) -> None:
    # Kubernetes ends a pod Airflow lost track of (e.g. a scheduler restart) at the same deadline.
    deadlines = {name: pod["spec"]["activeDeadlineSeconds"] for name, pod in default_pods.items()}
    assert deadlines == {"migrate": 300, "extract_load[0]": 900, "extract_load[1]": 900, "quality_check": 300}


# -- identity and security -----------------------------------------------------------------------


def test_pod_runs_under_the_etl_service_account_without_a_token(pod: dict[str, Any]) -> None:
    assert pod["spec"]["serviceAccountName"] == "simple-etl-etl"
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_pod_security_context(pod: dict[str, Any]) -> None:
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_container_security_context(pod: dict[str, Any]) -> None:
    assert container(pod)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_tmp_is_the_only_writable_path(pod: dict[str, Any]) -> None:
    assert pod["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    assert container(pod)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108


def test_pod_gets_no_service_link_variables(pod: dict[str, Any]) -> None:
    # A Service named like `simple-etl-fake-api` would otherwise inject SIMPLE_ETL_FAKE_API_PORT…,
    # which the ETL's settings reject as unknown.
    assert pod["spec"]["enableServiceLinks"] is False


def test_pod_requests_and_limits(pod: dict[str, Any]) -> None:
    assert container(pod)["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "512Mi"},
    }


def test_shards_of_a_run_prefer_different_nodes(pod: dict[str, Any]) -> None:
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"  # kind has one node
    assert spread["labelSelector"] == {"matchLabels": ETL_LABELS}
    assert spread["matchLabelKeys"] == ["run_id"]


# -- configuration and credentials -----------------------------------------------------------


def test_database_credentials_come_only_from_the_secret(pod: dict[str, Any]) -> None:
    assert secret_refs(pod) == {
        "PGUSER": ("simple-etl-etl-db", "username"),
        "PGPASSWORD": ("simple-etl-etl-db", "password"),
    }
    assert not {"PGUSER", "PGPASSWORD"} & plain_env(pod).keys()
    assert all("secretRef" not in source for source in container(pod)["envFrom"])


def test_settings_come_from_the_configmap_and_the_api_url(pod: dict[str, Any]) -> None:
    assert container(pod)["envFrom"] == [{"configMapRef": {"name": "simple-etl-etl", "optional": False}}]
    assert plain_env(pod) == {"SIMPLE_ETL_API_URL": "https://randomuser.me/api/1.4/"}


def test_each_pod_knows_the_schedule_and_ends_before_its_task_times_out(
    default_pods: dict[str, dict[str, Any]],
) -> None:
    for name, pod in default_pods.items():
        env = {e["name"]: e.get("value") for e in container(pod)["env"]}
        assert env["SIMPLE_ETL_SCHEDULE_SECONDS"] == "300", name
        assert env["SIMPLE_ETL_DEADLINE_SECONDS"] == DEADLINES[name], name
        assert int(env["SIMPLE_ETL_DEADLINE_SECONDS"]) < pod["spec"]["activeDeadlineSeconds"], name


def test_namespace_defaults_to_default_outside_a_cluster(pod: dict[str, Any]) -> None:
    assert pod["metadata"]["namespace"] == "default"


# -- the scheduler's environment -------------------------------------------------------------


def test_simple_etl_image_changes_the_image_of_every_task(parse_etl_dag: Callable[..., DAG]) -> None:
    image = "localhost:5001/simple-etl:dev-3f2a1b"
    pods = pod_manifests(parse_etl_dag(SIMPLE_ETL_IMAGE=image), shards=3)
    assert set(pods) == {"migrate", "extract_load[0]", "extract_load[1]", "extract_load[2]", "quality_check"}
    assert {name: container(p)["image"] for name, p in pods.items()} == dict.fromkeys(pods, image)


def test_every_pod_setting_follows_the_scheduler_environment(parse_etl_dag: Callable[..., DAG]) -> None:
    dag = parse_etl_dag(**ALL_SETTINGS)
    for name, pod in pod_manifests(dag).items():
        validate(pod)
        assert pod["metadata"]["namespace"] == "etl-jobs", name
        assert pod["spec"]["serviceAccountName"] == "release-etl", name
        assert container(pod)["image"] == "registry.example.com/simple-etl:1.2.3", name
        assert container(pod)["imagePullPolicy"] == "Always", name
        assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "release", name
        assert container(pod)["envFrom"] == [
            {"configMapRef": {"name": "release-etl-config", "optional": False}}
        ]
        assert plain_env(pod) == {"SIMPLE_ETL_API_URL": "http://release-fake-api:8080/api/1.4/"}
        assert secret_refs(pod) == {
            "PGUSER": ("release-etl-db", "username"),
            "PGPASSWORD": ("release-etl-db", "password"),
        }
    assert all(dag.get_task(t).deferrable is False for t in ("migrate", "quality_check"))
    assert dag.get_task("extract_load").partial_kwargs["deferrable"] is False  # type: ignore[union-attr]


def test_empty_variables_mean_the_defaults(parse_etl_dag: Callable[..., DAG]) -> None:
    # Helm renders an unset value as an empty string.
    dag = parse_etl_dag(**dict.fromkeys(ALL_SETTINGS, ""))
    pods = pod_manifests(dag)
    assert {container(p)["image"] for p in pods.values()} == {"simple-etl:0.1.0"}
    assert {p["metadata"]["namespace"] for p in pods.values()} == {"default"}
    assert dag.get_task("migrate").deferrable is True


@pytest.mark.parametrize(
    ("name", "value"),
    [("SIMPLE_ETL_DEFERRABLE", "maybe"), ("SIMPLE_ETL_IMAGE_PULL_POLICY", "Sometimes")],
)
def test_a_bad_setting_is_an_import_error_naming_it(
    parse_dags: Callable[..., Any], name: str, value: str
) -> None:
    bag = parse_dags(**{name: value})
    assert "random_users_etl" not in bag.dags
    (error,) = bag.import_errors.values()
    assert name in error
    assert repr(value) in error


def test_a_database_ca_bundle_is_mounted_and_used(parse_etl_dag: Callable[..., DAG]) -> None:
    dag = parse_etl_dag(SIMPLE_ETL_DB_CA_SECRET="warehouse-db-ca", SIMPLE_ETL_DB_CA_KEY="bundle.pem")
    for name, pod in pod_manifests(dag).items():
        validate(pod)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["db-ca"]["secret"] == {
            "secretName": "warehouse-db-ca",
            "items": [{"key": "bundle.pem", "path": "ca.crt"}],
        }, name
        mounts = {m["name"]: m for m in container(pod)["volumeMounts"]}
        assert mounts["db-ca"] == {"name": "db-ca", "mountPath": "/etc/simple-etl/db-ca", "readOnly": True}
        env = {e["name"]: e.get("value") for e in container(pod)["env"]}
        assert env["PGSSLROOTCERT"] == "/etc/simple-etl/db-ca/ca.crt", name
