"""The full inventory of the default install, and "disabled ⇒ nothing of it rendered"."""

from __future__ import annotations

import json

from tests.charts.render import ETL_NAMESPACE, NAMESPACE, RELEASE, Manifests, render_chart
from tests.charts.wiring import pod_templates, references

DEFAULT_INVENTORY = {
    ("ConfigMap", "simple-etl-airflow-config"),
    ("ConfigMap", "simple-etl-grafana-dashboards"),
    ("ConfigMap", "simple-etl-grafana-provisioning"),
    ("ConfigMap", "simple-etl-postgres-init"),
    ("Deployment", "simple-etl-airflow-api-server"),
    ("Deployment", "simple-etl-airflow-dag-processor"),
    ("Deployment", "simple-etl-airflow-scheduler"),
    ("Deployment", "simple-etl-airflow-triggerer"),
    ("Deployment", "simple-etl-grafana"),
    ("Namespace", "simple-etl-etl"),
    ("NetworkPolicy", "simple-etl-airflow-api-server"),
    ("NetworkPolicy", "simple-etl-airflow-dag-processor"),
    ("NetworkPolicy", "simple-etl-airflow-scheduler"),
    ("NetworkPolicy", "simple-etl-airflow-test"),
    ("NetworkPolicy", "simple-etl-airflow-triggerer"),
    ("NetworkPolicy", "simple-etl-default-deny"),
    ("NetworkPolicy", "simple-etl-database-test"),
    ("NetworkPolicy", "simple-etl-grafana"),
    ("NetworkPolicy", "simple-etl-grafana-test"),
    ("NetworkPolicy", "simple-etl-postgres"),
    ("Pod", "simple-etl-airflow-test"),
    ("Pod", "simple-etl-database-test"),
    ("Pod", "simple-etl-grafana-test"),
    ("Secret", "simple-etl-airflow"),
    ("Secret", "simple-etl-airflow-admin"),
    ("Secret", "simple-etl-airflow-db"),
    ("Secret", "simple-etl-etl-db"),
    ("Secret", "simple-etl-grafana-admin"),
    ("Secret", "simple-etl-postgres"),
    ("Secret", "simple-etl-reader-db"),
    ("Service", "simple-etl-airflow-api-server"),
    ("Service", "simple-etl-grafana"),
    ("Service", "simple-etl-postgres"),
    ("Service", "simple-etl-postgres-headless"),
    ("ServiceAccount", "simple-etl-airflow"),
    ("ServiceAccount", "simple-etl-airflow-launcher"),
    ("ServiceAccount", "simple-etl-etl"),
    ("ServiceAccount", "simple-etl-grafana"),
    ("ServiceAccount", "simple-etl-postgres"),
    ("StatefulSet", "simple-etl-postgres"),
    ("ValidatingAdmissionPolicy", "simple-etl-etl-pods-simple-etl"),
    ("ValidatingAdmissionPolicyBinding", "simple-etl-etl-pods-simple-etl"),
}
# The ETL pods' namespace holds what they need and the launcher's Role, nothing else.
ETL_INVENTORY = {
    ("ConfigMap", "simple-etl-etl"),
    ("NetworkPolicy", "simple-etl-default-deny"),
    ("NetworkPolicy", "simple-etl-etl"),
    ("Role", "simple-etl-airflow-launcher"),
    ("RoleBinding", "simple-etl-airflow-launcher"),
    ("Secret", "simple-etl-etl-db"),
    ("ServiceAccount", "simple-etl-etl"),
}


def test_the_default_install_renders_exactly_this_inventory(default_manifests: Manifests) -> None:
    assert default_manifests.in_namespace(NAMESPACE).inventory() == DEFAULT_INVENTORY
    assert default_manifests.in_namespace(ETL_NAMESPACE).inventory() == ETL_INVENTORY
    assert len(default_manifests) == len(DEFAULT_INVENTORY) + len(ETL_INVENTORY), (
        "an object is rendered twice"
    )


def mentions(manifests: Manifests, text: str) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in manifests if text in json.dumps(o)]


def components(manifests: Manifests) -> set[str]:
    return {o["metadata"]["labels"]["app.kubernetes.io/component"] for o in manifests}


def test_postgres_disabled_renders_nothing_of_postgres() -> None:
    manifests = render_chart(
        {
            "postgres": {"enabled": False},
            "externalDatabase": {"host": "db.example.internal"},
            "database": {
                "airflow": {"existingSecret": "a"},
                "etl": {"existingSecret": "e"},
                "reader": {"existingSecret": "r"},
            },
        }
    )
    assert "postgres" not in components(manifests)
    assert not manifests.of_kind("StatefulSet")
    assert mentions(manifests, f"{RELEASE}-postgres") == []
    assert mentions(manifests, "docker-entrypoint-initdb.d") == []
    assert manifests.configmap_data(f"{RELEASE}-etl")["PGHOST"] == "db.example.internal"
    assert manifests.configmap_data(f"{RELEASE}-etl")["PGSSLMODE"] == "require"
    # Every component reaches the managed server with its own existing Secret.
    assert {r.name for t in pod_templates(manifests) for r in references(t) if r.kind == "Secret"} >= {
        "a",
        "e",
        "r",
    }


def test_grafana_disabled_renders_nothing_of_grafana() -> None:
    manifests = render_chart({"grafana": {"enabled": False}})
    assert not {"grafana", "grafana-test"} & components(manifests)
    assert mentions(manifests, f"{RELEASE}-grafana") == []
    # The read-only role belongs to the warehouse and stays for any other reader.
    manifests.get("Secret", f"{RELEASE}-reader-db")
    assert DEFAULT_INVENTORY - manifests.inventory() == {o for o in DEFAULT_INVENTORY if "grafana" in o[1]}


def test_fake_api_disabled_renders_nothing_of_it_and_enabled_renders_it(default_manifests: Manifests) -> None:
    assert mentions(default_manifests, "fake-api") == []
    enabled = render_chart({"fakeApi": {"enabled": True}})
    assert enabled.inventory() - default_manifests.inventory() == {
        ("Deployment", f"{RELEASE}-fake-api"),
        ("Service", f"{RELEASE}-fake-api"),
        ("NetworkPolicy", f"{RELEASE}-fake-api"),
    }


def test_network_policies_disabled_renders_none() -> None:
    manifests = render_chart({"networkPolicy": {"enabled": False}, "fakeApi": {"enabled": True}})
    assert manifests.of_kind("NetworkPolicy") == []
    assert manifests.inventory() == {
        o for o in DEFAULT_INVENTORY | ETL_INVENTORY if o[0] != "NetworkPolicy"
    } | {
        ("Deployment", f"{RELEASE}-fake-api"),
        ("Service", f"{RELEASE}-fake-api"),
    }


def test_helm_tests_disabled_renders_no_hook() -> None:
    manifests = render_chart({"tests": {"enabled": False}})
    assert [o for o in manifests if "helm.sh/hook" in (o["metadata"].get("annotations") or {})] == []
    assert manifests.of_kind("Pod") == []
    assert DEFAULT_INVENTORY - manifests.inventory() == {
        o for o in DEFAULT_INVENTORY if o[1].endswith("-test")
    }


def test_ingresses_are_rendered_only_when_enabled(default_manifests: Manifests) -> None:
    assert default_manifests.of_kind("Ingress") == []
    airflow_only = render_chart(
        {"airflow": {"apiServer": {"ingress": {"enabled": True, "host": "a.example"}}}}
    )
    assert [i["metadata"]["name"] for i in airflow_only.of_kind("Ingress")] == [
        f"{RELEASE}-airflow-api-server"
    ]
    grafana_only = render_chart({"grafana": {"ingress": {"enabled": True, "host": "g.example"}}})
    assert [i["metadata"]["name"] for i in grafana_only.of_kind("Ingress")] == [f"{RELEASE}-grafana"]


def test_each_existing_secret_replaces_exactly_its_generated_secret(default_manifests: Manifests) -> None:
    cases = {
        f"{RELEASE}-postgres": {"postgres": {"existingSecret": "x"}},
        f"{RELEASE}-airflow": {"airflow": {"existingSecret": "x"}},
        f"{RELEASE}-airflow-db": {"database": {"airflow": {"existingSecret": "x"}}},
        f"{RELEASE}-airflow-admin": {"airflow": {"admin": {"existingSecret": "x"}}},
        f"{RELEASE}-etl-db": {"database": {"etl": {"existingSecret": "x"}}},
        f"{RELEASE}-reader-db": {"database": {"reader": {"existingSecret": "x"}}},
        f"{RELEASE}-grafana-admin": {"grafana": {"admin": {"existingSecret": "x"}}},
    }
    for secret, values in cases.items():
        manifests = render_chart(values)
        assert default_manifests.inventory() - manifests.inventory() == {("Secret", secret)}
        referenced = {r.name for t in pod_templates(manifests) for r in references(t) if r.kind == "Secret"}
        assert secret not in referenced and "x" in referenced, secret


def test_dev_sync_disabled_renders_no_seeded_dags_folder(default_manifests: Manifests) -> None:
    assert mentions(default_manifests, "seed-dags") == []
    assert mentions(default_manifests, "/opt/airflow/dags") == []
    enabled = render_chart({"airflow": {"devSync": {"enabled": True}}})
    assert enabled.inventory() == default_manifests.inventory(), "no object of its own, only pod changes"
    assert len(mentions(enabled, "seed-dags")) == 4
