"""Every reference lands on something the chart renders; pods are locked down."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from tests.charts.pods import all_containers
from tests.charts.render import (
    ETL_NAMESPACE,
    NAMESPACE,
    RELEASE,
    REPO,
    Manifests,
    documented_existing_secrets,
    effective_values,
    render_chart,
    render_error,
    render_overlay,
)
from tests.charts.wiring import (
    airflow_cfg,
    configured_addresses,
    grafana_datasource,
    pod_templates,
    references,
    selects,
    service_backends,
)
from tests.support.kubernetes import baseline_violations, pod_spec_of, restricted_violations

RECOMMENDED_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
LAUNCHERS = {"airflow-scheduler", "airflow-triggerer"}
DAG_ENV = {
    "SIMPLE_ETL_INSTANCE",
    "SIMPLE_ETL_DB_CA_SECRET",
    "SIMPLE_ETL_DB_CA_KEY",
    "SIMPLE_ETL_IMAGE",
    "SIMPLE_ETL_IMAGE_PULL_POLICY",
    "SIMPLE_ETL_NAMESPACE",
    "SIMPLE_ETL_SERVICE_ACCOUNT",
    "SIMPLE_ETL_DB_SECRET",
    "SIMPLE_ETL_CONFIGMAP",
    "SIMPLE_ETL_API_URL",
    "SIMPLE_ETL_FAILED_POD_GRACE_HOURS",
}


def test_every_secret_and_configmap_reference_resolves(manifests: Manifests, overlay: str) -> None:
    existing = documented_existing_secrets(effective_values(overlay))
    checked = 0
    for template in pod_templates(manifests):
        for ref in references(template):
            checked += 1
            obj = manifests.find(ref.kind, ref.name)
            if obj is None:
                assert ref.kind == "Secret" and ref.name in existing, (
                    f"{ref.where}: {ref.kind}/{ref.name} missing"
                )
                assert ref.key is None or ref.key in existing[ref.name], (
                    f"{ref.where}: key {ref.key!r} is not documented for the existing Secret {ref.name}"
                )
                continue
            keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
            assert ref.key is None or ref.key in keys, (
                f"{ref.where}: {ref.kind}/{ref.name} has no key {ref.key}"
            )
    assert checked > 30


def test_every_service_account_role_and_backend_exists(manifests: Manifests) -> None:
    for template in pod_templates(manifests):
        manifests.get("ServiceAccount", template.spec["serviceAccountName"])
    for binding in manifests.of_kind("RoleBinding"):
        manifests.get(binding["roleRef"]["kind"], binding["roleRef"]["name"])
        for subject in binding["subjects"]:
            assert subject["namespace"] == NAMESPACE
            manifests.get("ServiceAccount", subject["name"])
    for sts in manifests.of_kind("StatefulSet"):
        governing = manifests.get("Service", sts["spec"]["serviceName"])
        assert governing["spec"]["clusterIP"] == "None"
    for ingress in manifests.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = manifests.get("Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    for service in manifests.of_kind("Service"):
        for port in service["spec"]["ports"]:
            assert service_backends(manifests, service["metadata"]["name"], port["port"]), (
                f"Service {service['metadata']['name']}:{port['port']} forwards to no container port"
            )


def test_every_configured_address_is_a_rendered_service_and_port(manifests: Manifests, overlay: str) -> None:
    values = effective_values(overlay)
    external = {values["externalDatabase"]["host"], "randomuser.me"} - {""}
    addresses = configured_addresses(manifests)
    assert len(addresses) >= 5
    for address in addresses:
        if address.host in external:
            assert manifests.find("Service", address.host) is None
            continue
        backends = service_backends(manifests, address.host, address.port)
        assert backends, f"{address.where}: {address.host}:{address.port} is no rendered Service port"


def test_the_dag_contract_points_at_rendered_objects(manifests: Manifests, overlay: str) -> None:
    """docs/interfaces.md: the scheduler environment the DAG builds its ETL pods from."""
    existing = documented_existing_secrets(effective_values(overlay))
    envs = {}
    for component in ("scheduler", "dag-processor"):
        deployment = manifests.get("Deployment", f"{RELEASE}-airflow-{component}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        envs[component] = {
            e["name"]: e.get("value") for e in container["env"] if e["name"].startswith("SIMPLE_ETL_")
        }
    assert set(envs["scheduler"]) == DAG_ENV
    assert envs["dag-processor"] == envs["scheduler"], "the parsing and the running DAG must agree"
    env = envs["scheduler"]
    etl_namespace = env["SIMPLE_ETL_NAMESPACE"]
    assert etl_namespace == ETL_NAMESPACE != NAMESPACE, "the ETL pods run in a namespace of their own"
    assert env["SIMPLE_ETL_INSTANCE"] == RELEASE
    there = manifests.in_namespace(etl_namespace)
    account = there.get("ServiceAccount", env["SIMPLE_ETL_SERVICE_ACCOUNT"])
    assert account["automountServiceAccountToken"] is False
    bound = {s["name"] for b in manifests.of_kind("RoleBinding") for s in b["subjects"]}
    assert env["SIMPLE_ETL_SERVICE_ACCOUNT"] not in bound, "the ETL pods must have no API rights"
    secret = env["SIMPLE_ETL_DB_SECRET"]
    keys = set(there.secret_data(secret)) if there.find("Secret", secret) else existing[secret]
    assert {"username", "password"} <= keys
    config = there.configmap_data(env["SIMPLE_ETL_CONFIGMAP"])
    assert {"PGHOST", "PGPORT", "PGDATABASE", "PGSSLMODE", "SIMPLE_ETL_READER_ROLE"} <= set(config)
    assert not {"PGUSER", "PGPASSWORD"} & set(config), "credentials only through the Secret"
    assert "SIMPLE_ETL_API_URL" not in config, "the DAG forwards the API URL itself"
    assert env["SIMPLE_ETL_API_URL"].endswith("/api/1.4/")


def test_the_etl_configmap_holds_only_settings_the_etl_knows() -> None:
    from simple_etl.config import PREFIX, Settings, require_database

    everything = {
        "seed": "drill", "batchSize": 1000, "pageSize": 500, "poolPages": 10, "nat": "DE,FR",
        "httpTimeout": 10.5, "maxRetries": 3, "backoffBase": 0.5, "backoffMax": 30, "maxRejectRatio": 0.1,
        "maxStaleness": 900, "logLevel": "DEBUG", "lockTimeout": 5, "statementTimeout": 300,
        "idleInTransactionTimeout": 30, "clientCheckInterval": 2, "leaseSeconds": 60, "rateLimit": 10000,
        "rateLimitWait": 120.5, "rawRetentionDays": 3, "visitRetentionDays": 30,
        "retentionChunkRecords": 5000,
    }  # fmt: skip
    known = {f.name.upper() for f in dataclasses.fields(Settings)}
    chart_set = {"API_URL", "READER_ROLE"}  # by the chart itself (DAG env, database.reader.user)
    dag_set = {"SCHEDULE_SECONDS", "DEADLINE_SECONDS"}  # by the DAG, per task (its schedule and timeout)
    assert set(_snake(everything)) == known - chart_set - dag_set, "etl.settings ≠ the ETL's settings"
    manifests = render_chart(
        {"etl": {"settings": everything}}, show_only=["templates/etl/etl-configmap.yaml"]
    )
    config = manifests.configmap_data(f"{RELEASE}-etl")
    settings = Settings.from_env(
        {**config, "SIMPLE_ETL_API_URL": "http://x:8080/api/1.4/"}
    )  # the ETL accepts it
    require_database(config)
    assert settings.batch_size == 1000 and settings.max_reject_ratio == 0.1 and settings.nat == "DE,FR"
    assert settings.reader_role == "grafana_reader"
    defaults = render_chart(show_only=["templates/etl/etl-configmap.yaml"]).configmap_data(f"{RELEASE}-etl")
    assert {k for k in defaults if k.startswith(PREFIX)} == {"SIMPLE_ETL_READER_ROLE"}, (
        "null keeps ETL defaults"
    )


def _snake(settings: dict) -> list[str]:
    return [re.sub(r"(?<!^)([A-Z])", r"_\1", key).upper() for key in settings]


def test_the_offline_overlay_points_the_dag_at_the_in_cluster_api() -> None:
    manifests = render_overlay("offline")
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_API_URL"] == f"http://{RELEASE}-fake-api.{NAMESPACE}.svc:8080/api/1.4/"
    fake = manifests.get("Deployment", f"{RELEASE}-fake-api")
    (container,) = fake["spec"]["template"]["spec"]["containers"]
    assert container["image"] == env["SIMPLE_ETL_IMAGE"], "the fake API is the ETL image"
    assert container["args"] == ["fake-api", "--port", "8080"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_airflow_components_share_one_configuration(default_manifests: Manifests) -> None:
    cfg = airflow_cfg(default_manifests)
    assert cfg["core"]["executor"] == "LocalExecutor"
    assert cfg["core"]["auth_manager"].endswith("SimpleAuthManager")
    assert cfg["core"]["execution_api_server_url"] == f"http://{RELEASE}-airflow-api-server:8080/execution/"
    secret_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                  "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"}  # fmt: skip
    seen = {}
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        spec = default_manifests.get("Deployment", f"{RELEASE}-airflow-{component}")["spec"]["template"][
            "spec"
        ]
        for container in all_containers(spec):
            if container["name"] == "write-passwords":
                continue
            env = {e["name"]: e for e in container["env"]}
            assert secret_env <= set(env), f"{component}/{container['name']}"
            for name in secret_env:
                assert "value" not in env[name], f"{name} must come from a Secret"
                seen.setdefault(name, set()).add(repr(env[name]["valueFrom"]))
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[env["AIRFLOW_CONFIG"]["value"].rsplit("/", 1)[0]]["readOnly"] is True
    assert all(len(refs) == 1 for refs in seen.values()), "every component must read the same keys"
    api = default_manifests.get("Deployment", f"{RELEASE}-airflow-api-server")["spec"]["template"]["spec"]
    passwords = cfg["core"]["simple_auth_manager_passwords_file"].rsplit("/", 1)[0]
    (mount,) = [m for m in api["containers"][0]["volumeMounts"] if m["mountPath"] == passwords]
    (volume,) = [v for v in api["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory", "the admin password stays off disk"


def test_grafana_datasource_is_the_read_only_role_with_a_fixed_uid(default_manifests: Manifests) -> None:
    source = grafana_datasource(default_manifests)
    assert source["uid"] == "simple-etl-warehouse"
    assert source["jsonData"]["database"] == "warehouse"
    assert source["user"] == "$WAREHOUSE_READER_USER"
    assert source["secureJsonData"]["password"] == "$WAREHOUSE_READER_PASSWORD"
    grafana = default_manifests.get("Deployment", f"{RELEASE}-grafana")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in grafana["containers"][0]["env"]}
    for name, key in (("WAREHOUSE_READER_USER", "username"), ("WAREHOUSE_READER_PASSWORD", "password")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": f"{RELEASE}-reader-db", "key": key}
    assert env["GF_AUTH_ANONYMOUS_ENABLED"]["value"] == "false"
    assert (
        env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-grafana-admin"
    )


def test_verify_full_reaches_every_database_client_with_the_ca_bundle() -> None:
    """The production overlay checks the server's certificate: every container that speaks
    to the database finds the CA bundle where PGSSLROOTCERT says, from the named Secret."""
    manifests = render_overlay("production")
    clients = 0
    for obj in manifests.workloads():
        spec = pod_spec_of(obj)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in all_containers(spec):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if env.get("PGSSLMODE") != "verify-full":
                continue
            clients += 1
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            directory, file = env["PGSSLROOTCERT"].rsplit("/", 1)
            volume = volumes[mounts[directory]]["secret"]
            assert volume["secretName"] == "warehouse-db-ca", container["name"]
            assert volume["items"] == [{"key": "ca.crt", "path": file}], container["name"]
    assert clients >= 5, "every Airflow component, its migrations and the database test"
    source = grafana_datasource(manifests)["jsonData"]
    assert source["sslmode"] == "verify-full" and source["tlsConfigurationMethod"] == "file-path"
    grafana = pod_spec_of(manifests.get("Deployment", f"{RELEASE}-grafana"))
    mounts = {m["mountPath"]: m["name"] for m in grafana["containers"][0]["volumeMounts"]}
    assert mounts[source["sslRootCertFile"].rsplit("/", 1)[0]] == "db-ca"
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    dag_env = {e["name"]: e.get("value") for e in pod_spec_of(scheduler)["containers"][0]["env"]}
    assert dag_env["SIMPLE_ETL_DB_CA_SECRET"] == "warehouse-db-ca", "the DAG mounts it into the ETL pods"


def test_verify_full_without_a_ca_bundle_is_refused() -> None:
    overlay = ["-f", str(REPO / "k8s/values-production.yaml"), "--set", "externalDatabase.caSecret.name="]
    assert "externalDatabase.caSecret.name" in render_error(extra_args=overlay)


# ---- security -------------------------------------------------------------------------


def test_every_pod_meets_pod_security_baseline(manifests: Manifests) -> None:
    for template in pod_templates(manifests):
        assert baseline_violations(template.spec) == [], template.name


def test_every_pod_meets_pod_security_restricted(manifests: Manifests) -> None:
    """The issue asks "restricted" of the ETL-image and Grafana pods; every pod meets it."""
    components = set()
    for template in pod_templates(manifests):
        components.add(template.component)
        assert restricted_violations(template.spec) == [], template.name
        assert template.spec["enableServiceLinks"] is False, template.name
        for container in all_containers(template.spec):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, template.name
            assert {"requests", "limits"} <= set(container["resources"]), (
                f"{template.name}/{container['name']}"
            )
    assert "grafana" in components


def test_the_etl_image_pods_are_restricted() -> None:
    manifests = render_overlay("offline")
    (fake,) = [t for t in pod_templates(manifests) if t.component == "fake-api"]
    assert restricted_violations(fake.spec) == []
    assert fake.spec["serviceAccountName"] == f"{RELEASE}-etl"
    assert fake.spec["securityContext"]["runAsUser"] == 10001


def test_api_tokens_only_where_the_kubernetes_api_is_used(manifests: Manifests) -> None:
    for template in pod_templates(manifests):
        mounted = template.spec.get("automountServiceAccountToken")
        if template.component in LAUNCHERS:
            assert mounted is True, template.name
            assert template.spec["serviceAccountName"] == f"{RELEASE}-airflow-launcher"
        else:
            assert mounted is False, template.name
    for account in manifests.of_kind("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False, "pods opt in, accounts never"


@pytest.mark.parametrize("pod_exec", [False, True])
def test_the_launcher_role_is_namespaced_and_minimal(pod_exec: bool) -> None:
    manifests = render_chart({"airflow": {"rbac": {"podExec": pod_exec}}})
    assert not manifests.of_kind("ClusterRole", "ClusterRoleBinding")
    (role,) = manifests.of_kind("Role")
    rules = {(tuple(r["apiGroups"]), r["resources"][0]): set(r["verbs"]) for r in role["rules"]}
    expected = {
        (("",), "pods"): {"create", "delete", "get", "list", "patch", "watch"},
        (("",), "pods/log"): {"get"},
        (("",), "events"): {"get", "list", "watch"},
    }
    if pod_exec:
        expected[(("",), "pods/exec")] = {"create", "get"}
    assert rules == expected
    assert all(len(r["resources"]) == 1 for r in role["rules"])


def test_recommended_labels_on_every_object(manifests: Manifests) -> None:
    for obj in manifests:
        labels = obj["metadata"].get("labels") or {}
        assert set(labels) >= RECOMMENDED_LABELS, f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
    for template in pod_templates(manifests):
        assert set(template.labels) >= RECOMMENDED_LABELS, template.name
        if template.workload["kind"] not in ("Pod", "CronJob", "Job"):  # a Job's selector is its own
            assert selects(template.workload["spec"]["selector"], template.labels), template.name


def test_hook_pods_run_only_under_helm_test(default_manifests: Manifests) -> None:
    hooks = [o for o in default_manifests if "helm.sh/hook" in (o["metadata"].get("annotations") or {})]
    assert {o["metadata"]["annotations"]["helm.sh/hook"] for o in hooks} == {"test"}
    pods = {o["metadata"]["name"] for o in hooks if o["kind"] == "Pod"}
    assert pods == {f"{RELEASE}-database-test", f"{RELEASE}-airflow-test", f"{RELEASE}-grafana-test"}
    assert not default_manifests.of_kind("Job"), (
        "no Job, no hook: nothing for `helm install --wait` to deadlock on"
    )


def test_dev_sync_makes_the_dags_folder_writable_on_a_read_only_root() -> None:
    """skaffold dev syncs DAG files into every pod running the Airflow image."""
    manifests = render_overlay("kind")
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        spec = manifests.get("Deployment", f"{RELEASE}-airflow-{component}")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        seed = spec["initContainers"][0]
        assert seed["name"] == "seed-dags", "seeded before anything reads the DAGs"
        (seed_mount,) = seed["volumeMounts"]
        assert "emptyDir" in volumes[seed_mount["name"]]
        assert seed_mount["mountPath"] in seed["args"][-1] and "/opt/airflow/dags/." in seed["args"][-1]
        (container,) = spec["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/opt/airflow/dags"]
        assert mount["name"] == seed_mount["name"] and not mount.get("readOnly")
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_inline_scripts_parse(manifests: Manifests) -> None:
    """Every `python -c` and `bash -c` a pod runs is at least valid code."""
    scripts = 0
    for template in pod_templates(manifests):
        for container in all_containers(template.spec):
            argv = (container.get("command") or []) + (container.get("args") or [])
            if len(argv) == 3 and argv[1] == "-c":
                scripts += 1
                if argv[0] == "python":
                    compile(argv[2], f"{template.name}/{container['name']}", "exec")
                else:
                    assert argv[0] == "bash", argv[0]
                    result = subprocess.run(["bash", "-n", "-c", argv[2]], capture_output=True, text=True)
                    assert result.returncode == 0, f"{template.name}/{container['name']}: {result.stderr}"
    for configmap in manifests.of_kind("ConfigMap"):
        for key, text in (configmap.get("data") or {}).items():
            if key.endswith(".sh"):
                scripts += 1
                result = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
                assert result.returncode == 0, f"{key}: {result.stderr}"
    assert scripts >= 3
