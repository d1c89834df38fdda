"""Secrets: generated once, identical on every later render, never taken from values."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from cryptography.fernet import Fernet

from tests.charts.fake_kube_api import FakeKubeApi, fake_kube_api
from tests.charts.render import (
    CHART,
    ETL_NAMESPACE,
    KUBE_VERSION,
    NAMESPACE,
    OVERLAYS,
    RELEASE,
    REPO,
    Manifests,
    effective_values,
    helm,
    iter_strings,
    leaf_paths,
    load_yaml,
    parse_manifests,
    render_chart,
    render_error,
    render_overlay,
)
from tests.charts.wiring import pod_templates, references

GENERATED = {
    f"{RELEASE}-postgres": {"password"},
    f"{RELEASE}-airflow": {"fernet-key", "api-secret-key", "jwt-secret"},
    f"{RELEASE}-airflow-db": {"username", "password", "connection"},
    f"{RELEASE}-airflow-admin": {"password"},
    f"{RELEASE}-etl-db": {"username", "password"},
    f"{RELEASE}-reader-db": {"username", "password"},
    f"{RELEASE}-grafana-admin": {"password"},
}
# Tied to data on a volume (or encrypting it): they must outlive `helm uninstall` with it.
KEPT = {f"{RELEASE}-postgres", f"{RELEASE}-airflow", f"{RELEASE}-airflow-db", f"{RELEASE}-etl-db",
        f"{RELEASE}-reader-db"}  # fmt: skip
SECRET_KEYS = {"password", "fernet-key", "api-secret-key", "jwt-secret"}
SECRET_LOOKING = re.compile(
    r"(?i)(passw|secret|token|fernet|credential|private_?key|api_?key|sql_alchemy_conn)"
)


def render_with_cluster(
    api: FakeKubeApi, tmp_path: Path, *values_files: str, chart: Path = CHART
) -> Manifests:
    """`helm template --dry-run=server`: the chart's `lookup` sees the fake cluster's Secrets."""
    result = helm(
        "template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
        "--dry-run=server", *[a for f in values_files for a in ("--values", str(REPO / f))],
        kubeconfig=api.kubeconfig(tmp_path, NAMESPACE),
    )  # fmt: skip
    return parse_manifests(result.stdout)


def store_secrets(api: FakeKubeApi, manifests: Manifests) -> None:
    """What `helm install` would have created."""
    for secret in manifests.of_kind("Secret"):
        api.store(secret, secret["metadata"].get("namespace", NAMESPACE))


def secrets_of(manifests: Manifests) -> dict[str, dict[str, str]]:
    return {s["metadata"]["name"]: s["data"] for s in manifests.of_kind("Secret")}


def test_the_default_install_generates_every_secret(default_manifests: Manifests) -> None:
    secrets = {s["metadata"]["name"]: s for s in default_manifests.in_namespace(NAMESPACE).of_kind("Secret")}
    assert {name: set(s["data"]) for name, s in secrets.items()} == GENERATED
    kept = {
        n for n, s in secrets.items() if s["metadata"].get("annotations", {}).get("helm.sh/resource-policy")
    }
    assert kept == KEPT
    data = default_manifests.secret_data
    for name, keys in GENERATED.items():
        for key in keys & SECRET_KEYS:
            assert len(data(name)[key]) >= 32, f"{name}/{key} is too short"
    fernet_key = data(f"{RELEASE}-airflow")["fernet-key"]
    Fernet(fernet_key.encode())  # a valid Fernet key, or it raises
    # 32 random bytes (256 bits), not 32 letters and digits (190 bits) dressed as bytes.
    assert not base64.urlsafe_b64decode(fernet_key).isalnum()
    # The ETL namespace holds one Secret: the same credentials, for the ETL pods.
    (copy,) = default_manifests.in_namespace(ETL_NAMESPACE).of_kind("Secret")
    assert (
        copy["metadata"]["name"] == f"{RELEASE}-etl-db"
        and copy["data"] == secrets[f"{RELEASE}-etl-db"]["data"]
    )
    url = urlsplit(data(f"{RELEASE}-airflow-db")["connection"])
    assert unquote(url.password or "") == data(f"{RELEASE}-airflow-db")["password"]
    assert url.username == data(f"{RELEASE}-airflow-db")["username"] == "airflow"


@pytest.mark.parametrize("values_file", ["", "k8s/values-kind.yaml"])
def test_rendering_twice_with_lookup_keeps_every_secret(tmp_path: Path, values_file: str) -> None:
    files = [values_file] if values_file else []
    with fake_kube_api() as api:
        first = render_with_cluster(api, tmp_path, *files)
        assert any(path.endswith("/secrets/simple-etl-airflow") for path in api.requests), (
            "lookup was not used"
        )
        store_secrets(api, first)
        second = render_with_cluster(api, tmp_path, *files)
        third = render_with_cluster(api, tmp_path, *files)
    assert secrets_of(second) == secrets_of(first)
    assert secrets_of(third) == secrets_of(first)
    # ...and the objects that carry them (connection string, checksums) do not move either.
    assert second == first


def test_without_a_cluster_each_render_generates_new_secrets() -> None:
    """The control for the test above: stability comes from lookup, not from fixed values."""
    show = ["templates/airflow/airflow-secret.yaml"]
    first = secrets_of(render_chart(show_only=show, cache=False))
    second = secrets_of(render_chart(show_only=show, cache=False))
    for key in GENERATED[f"{RELEASE}-airflow"]:
        assert first[f"{RELEASE}-airflow"][key] != second[f"{RELEASE}-airflow"][key]


def test_a_secret_missing_a_key_gets_only_that_key_generated(tmp_path: Path) -> None:
    with fake_kube_api() as api:
        first = render_with_cluster(api, tmp_path)
        partial = next(s for s in first.of_kind("Secret") if s["metadata"]["name"] == f"{RELEASE}-airflow")
        kept = dict(partial["data"])
        del partial["data"]["jwt-secret"]
        api.store(partial, NAMESPACE)
        second = render_with_cluster(api, tmp_path)
    data = secrets_of(second)[f"{RELEASE}-airflow"]
    assert data["fernet-key"] == kept["fernet-key"] and data["api-secret-key"] == kept["api-secret-key"]
    assert data["jwt-secret"] != kept["jwt-secret"]


EVERY_EXISTING_SECRET = {
    "database": {
        "airflow": {"existingSecret": "my-airflow-db"},
        "etl": {"existingSecret": "my-etl-db"},
        "reader": {"existingSecret": "my-reader-db"},
    },
    "postgres": {"existingSecret": "my-postgres"},
    "airflow": {"existingSecret": "my-airflow-keys", "admin": {"existingSecret": "my-airflow-admin"}},
    "grafana": {"admin": {"existingSecret": "my-grafana-admin"}},
}


def test_with_existing_secrets_nothing_secret_is_rendered_and_renders_are_identical() -> None:
    first = render_chart(EVERY_EXISTING_SECRET, cache=False)
    second = render_chart(EVERY_EXISTING_SECRET, cache=False)
    assert first == second
    assert first.of_kind("Secret") == []
    referenced = {ref.name for t in pod_templates(first) for ref in references(t) if ref.kind == "Secret"}
    assert referenced == {
        "my-airflow-db", "my-etl-db", "my-reader-db", "my-postgres", "my-airflow-keys", "my-airflow-admin",
        "my-grafana-admin",
    }  # fmt: skip
    scheduler = first.get("Deployment", f"{RELEASE}-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_DB_SECRET"] == "my-etl-db"


@pytest.mark.parametrize(
    "values",
    [
        {"grafana": {"admin": {"password": "hunter2hunter2"}}},
        {"airflow": {"config": {"core": {"fernet_key": "c2VjcmV0LWtleS1mcm9tLXZhbHVlcy0tLS0tLS0tLS0="}}}},
        {"airflow": {"config": {"database": {"sql_alchemy_conn": "postgresql://a:b@c/d"}}}},
        {"airflow": {"config": {"api": {"secret_key": "from-values"}}}},
        {"database": {"etl": {"password": "from-values"}}},
    ],
    ids=["grafana-admin-password", "fernet-key", "db-url", "api-secret-key", "etl-password"],
)
def test_a_secret_in_values_fails_the_render_even_without_the_schema(values: dict) -> None:
    error = render_error(values, extra_args=["--skip-schema-validation"])
    assert "looks like a secret written into values" in error


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_no_rendered_secret_value_comes_from_values(overlay: str) -> None:
    manifests = render_overlay(overlay)
    from_values = {s for s in iter_strings(effective_values(overlay)) if len(s) >= 4}
    for secret in manifests.of_kind("Secret"):
        for key, value in manifests.secret_data(secret["metadata"]["name"]).items():
            if key in SECRET_KEYS:
                assert value not in from_values, f"{secret['metadata']['name']}/{key} comes from values"


@pytest.mark.parametrize(
    "path", ["charts/simple-etl/values.yaml", *sorted({f for v in OVERLAYS.values() for f in v})]
)
def test_values_files_hold_no_secret_literal(path: str) -> None:
    for key, value in leaf_paths(load_yaml(REPO / path) or {}).items():
        name = key.rsplit(".", 1)[-1]
        if SECRET_LOOKING.search(name) and not name.endswith(("existingSecret", "SecretName")):
            assert value in ("", None, {}, []), f"{path}: {key} holds a literal"


def test_no_password_literal_reaches_any_rendered_object(default_manifests: Manifests) -> None:
    """Passwords travel only inside Secret data: nowhere else in the manifests."""
    secrets = [
        default_manifests.secret_data(s["metadata"]["name"]) for s in default_manifests.of_kind("Secret")
    ]
    passwords = {v for data in secrets for k, v in data.items() if k in SECRET_KEYS}
    for obj in default_manifests:
        if obj["kind"] == "Secret":
            continue
        text = str(obj)
        for password in passwords:
            assert password not in text, f"{obj['kind']}/{obj['metadata']['name']} contains a password"
            assert base64.b64encode(password.encode()).decode() not in text
