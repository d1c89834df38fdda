"""helm lint, helm template of every overlay, strict Kubernetes 1.34 validation, values API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.charts.fake_kube_api import fake_kube_api
from tests.charts.render import (
    CHART,
    OVERLAYS,
    REPO,
    Manifests,
    documented_params,
    effective_values,
    helm,
    helm_errors,
    leaf_paths,
    load_yaml,
    render_chart,
    render_error,
)
from tests.support.kubernetes import pod_spec_of, validate

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
CHART_YAML = load_yaml(CHART / "Chart.yaml")
APP_VERSION = CHART_YAML["appVersion"]


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_helm_lint_strict(overlay: str) -> None:
    args = [arg for name in OVERLAYS[overlay] for arg in ("--values", str(REPO / name))]
    result = helm("lint", "--strict", str(CHART), *args, "--kube-version", "1.34.0", check=False)
    assert result.returncode == 0, result.stdout + helm_errors(result.stderr)
    assert "0 chart(s) failed" in result.stdout


def test_every_overlay_renders_objects_valid_for_kubernetes_1_34(manifests: Manifests) -> None:
    assert len(manifests) > 20
    for obj in manifests:
        validate(obj)  # strict: unknown fields and wrong types are errors


def test_every_emptydir_has_a_size_limit(manifests: Manifests) -> None:
    # Without one, a pod filling its scratch space fills the node's disk for everyone.
    unbounded = [
        f"{obj['kind']}/{obj['metadata']['name']}: {volume['name']}"
        for obj in manifests.workloads()
        for volume in pod_spec_of(obj).get("volumes", [])
        if "emptyDir" in volume and "sizeLimit" not in (volume["emptyDir"] or {})
    ]
    assert unbounded == []


def test_validation_is_strict_and_can_fail(default_manifests: Manifests) -> None:
    deployment = default_manifests.get("Deployment", "simple-etl-grafana")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolisy"] = "IfNotPresent"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_the_chart_follows_the_dashboards_symlink_into_lint_and_template() -> None:
    link = CHART / "dashboards"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "grafana" / "dashboards").resolve()
    assert list(link.glob("*.json")), "no dashboard reaches the chart"


# ---- values.yaml is a public API -------------------------------------------------------


def schema_paths(schema: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every fixed property in the schema (free-form maps are leaves)."""
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            sub = SCHEMA["$defs"][sub["$ref"].split("/")[-1]]
        path = f"{prefix}{key}"
        if sub.get("properties"):
            paths |= schema_paths(sub, path + ".")
        else:
            paths.add(path)
    return paths


# A `resources` block is one value (requests and limits, as in any chart), and so is a
# map of labels.
WHOLE_MAPS = re.compile(r"\.(resources|podLabels)\..*$")


def value_paths() -> set[str]:
    return {WHOLE_MAPS.sub(r".\1", p) for p in leaf_paths(load_yaml(CHART / "values.yaml"))}


def test_values_yaml_and_schema_are_in_lockstep() -> None:
    values = value_paths()
    schema = {WHOLE_MAPS.sub(r".\1", p) for p in schema_paths(SCHEMA)}
    assert values - schema == set(), "in values.yaml but not in values.schema.json"
    assert schema - values == set(), "in values.schema.json but not in values.yaml"


def test_schema_forbids_unknown_keys_everywhere() -> None:
    def walk(node: dict, where: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{where} allows unknown keys"
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{key}")
        for key, sub in node.get("$defs", {}).items():
            walk(sub, f"$defs.{key}")

    walk(SCHEMA, "values")


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_values_and_overlays_validate_against_the_schema(overlay: str) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for name in OVERLAYS[overlay]:
        validator.validate(load_yaml(REPO / name))  # each file alone: no typo slips in
    validator.validate(effective_values(overlay))  # and what Helm sees


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"grafana": {"adminPassword": "x"}}, "adminPassword"),
        ({"postgres": {"image": {"tag": "latest"}}}, "/postgres/image/tag"),
        (
            {"airflow": {"apiServer": {"service": {"type": "LoadBalancer"}}}},
            "/airflow/apiServer/service/type",
        ),
        ({"database": {"reader": {"user": "Grafana-Reader"}}}, "/database/reader/user"),
        ({"etl": {"apiUrl": "https://randomuser.me/api/"}}, "/etl/apiUrl"),
        ({"etl": {"settings": {"pageSize": 10000}}}, "/etl/settings/pageSize"),
    ],
)
def test_helm_refuses_values_outside_the_schema(values: dict, message: str) -> None:
    assert message in render_error(values)


def test_every_value_is_documented() -> None:
    leaves = value_paths()
    params = set(documented_params())
    assert leaves - params == set(), "values without a `## @param` line"
    assert params - leaves == set(), "`## @param` lines for values that do not exist"
    assert all(len(text.split()) >= 3 for text in documented_params().values())


def test_images_are_pinned_and_project_tags_follow_app_version(default_manifests: Manifests) -> None:
    images = {
        c["image"]: c["imagePullPolicy"]
        for obj in default_manifests.workloads()
        for spec in [pod_spec_of(obj)]
        for c in spec.get("initContainers", []) + spec["containers"]
    }
    assert set(images) == {"postgres:17.7", "grafana/grafana:12.3.0", f"simple-etl-airflow:{APP_VERSION}"}
    assert set(images.values()) == {"IfNotPresent"}
    scheduler = default_manifests.get("Deployment", "simple-etl-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_IMAGE"] == f"simple-etl:{APP_VERSION}"
    assert env["SIMPLE_ETL_IMAGE_PULL_POLICY"] == "IfNotPresent"


def test_image_references_are_overridable() -> None:
    manifests = render_chart(
        {"etl": {"image": {"repository": "registry.local/etl", "tag": "abc123", "pullPolicy": "Always"}}}
    )
    scheduler = manifests.get("Deployment", "simple-etl-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_IMAGE"] == "registry.local/etl:abc123"
    assert env["SIMPLE_ETL_IMAGE_PULL_POLICY"] == "Always"


def test_images_pinned_by_digest_run_exactly_that_build() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    components = ("postgres", "airflow", "etl", "grafana")
    manifests = render_chart({c: {"image": {"digest": digest}} for c in components})
    images = {
        container["image"]
        for obj in manifests.workloads()
        for key in ("initContainers", "containers")
        for container in pod_spec_of(obj).get(key, [])
    }
    assert images and all(image.endswith(f"@{digest}") for image in images), images
    scheduler = manifests.get("Deployment", "simple-etl-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_IMAGE"] == f"simple-etl:{APP_VERSION}@{digest}", "the DAG's ETL pods too"
    assert "digest" in render_error({"etl": {"image": {"digest": "latest"}}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgres": {"enabled": False}}, "externalDatabase.host"),
        (
            {"postgres": {"enabled": False}, "externalDatabase": {"host": "db.example"}},
            "database.airflow.existingSecret",
        ),
        ({"grafana": {"service": {"nodePort": 30300}}}, "not NodePort"),
        ({"grafana": {"ingress": {"enabled": True}}}, "grafana.ingress.host"),
        ({"airflow": {"apiServer": {"ingress": {"enabled": True}}}}, "airflow.apiServer.ingress.host"),
    ],
)
def test_templates_fail_fast_on_invalid_combinations(values: dict, message: str) -> None:
    assert message in render_error(values)


def test_notes_print_the_commands_to_reach_and_log_in(tmp_path: Path) -> None:
    def notes(*files: str) -> str:
        with fake_kube_api() as api:
            result = helm(
                "install", "simple-etl", str(CHART), "--namespace", "simple-etl", "--dry-run=server",
                "--disable-openapi-validation", *[a for f in files for a in ("--values", str(REPO / f))],
                kubeconfig=api.kubeconfig(tmp_path, "simple-etl"),
            )  # fmt: skip
        return result.stdout.split("NOTES:", 1)[1]

    default = notes()
    assert (
        "kubectl --namespace simple-etl port-forward service/simple-etl-airflow-api-server 8080:8080"
        in default
    )
    assert "kubectl --namespace simple-etl port-forward service/simple-etl-grafana 3000:3000" in default
    for secret in ("simple-etl-airflow-admin", "simple-etl-grafana-admin"):
        assert (
            f"kubectl --namespace simple-etl get secret {secret} -o jsonpath='{{.data.password}}' | base64 -d"
            in default
        )
    assert "helm test simple-etl --namespace simple-etl" in default
    kind = notes("k8s/values-kind.yaml")
    assert "http://localhost:30808/" in kind and "http://localhost:30300/" in kind
    production = notes("k8s/values-production.yaml")
    assert "https://airflow.example.com/" in production and "https://grafana.example.com/" in production


def test_notes_name_only_objects_the_chart_renders(default_manifests: Manifests) -> None:
    text = (CHART / "templates" / "NOTES.txt").read_text()
    helpers = set(re.findall(r'"simple-etl\.[\w.]+"', text))
    assert helpers <= {
        '"simple-etl.componentName"', '"simple-etl.airflowAdmin.secretName"',
        '"simple-etl.grafanaAdmin.secretName"', '"simple-etl.image"', '"simple-etl.etl.apiUrl"',
        '"simple-etl.etl.namespace"',
    }  # fmt: skip
    for kind, name in [
        ("Service", "simple-etl-airflow-api-server"),
        ("Service", "simple-etl-grafana"),
        ("Secret", "simple-etl-airflow-admin"),
        ("Secret", "simple-etl-grafana-admin"),
        ("Namespace", "simple-etl-etl"),
    ]:
        default_manifests.get(kind, name)


def test_overlays_are_plain_yaml_documents() -> None:
    for name in {f for files in OVERLAYS.values() for f in files}:
        docs = list(yaml.safe_load_all((REPO / name).read_text()))
        assert len(docs) == 1 and isinstance(docs[0], dict), name
