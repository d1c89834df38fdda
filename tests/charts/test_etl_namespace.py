"""The ETL pods' own namespace (issue 15): what lives there, and what the launcher may do."""

from __future__ import annotations

from tests.charts.render import ETL_NAMESPACE, NAMESPACE, RELEASE, render_chart, render_error, render_overlay
from tests.charts.wiring import selects

LAUNCHER = f"{RELEASE}-airflow-launcher"


def test_the_namespace_enforces_pod_security_restricted() -> None:
    (namespace,) = render_overlay("default").of_kind("Namespace")
    assert namespace["metadata"]["name"] == ETL_NAMESPACE
    labels = namespace["metadata"]["labels"]
    assert {labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "warn", "audit")} == {
        "restricted"
    }


def test_the_launcher_role_lives_only_in_the_etl_namespace() -> None:
    manifests = render_overlay("default")
    (role,) = manifests.of_kind("Role")
    (binding,) = manifests.of_kind("RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == ETL_NAMESPACE
    assert manifests.of_kind("ClusterRole", "ClusterRoleBinding") == []
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LAUNCHER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": LAUNCHER, "namespace": NAMESPACE}]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert not resources & {"secrets", "configmaps", "serviceaccounts", "roles", "rolebindings"}


def test_a_named_namespace_moves_every_etl_object_and_reference() -> None:
    manifests = render_chart({"etl": {"namespace": {"name": "etl-jobs", "create": False}}})
    assert manifests.of_kind("Namespace") == []
    assert manifests.in_namespace("etl-jobs").inventory() == {
        ("ConfigMap", f"{RELEASE}-etl"), ("NetworkPolicy", f"{RELEASE}-default-deny"),
        ("NetworkPolicy", f"{RELEASE}-etl"), ("Role", LAUNCHER), ("RoleBinding", LAUNCHER),
        ("Secret", f"{RELEASE}-etl-db"), ("ServiceAccount", f"{RELEASE}-etl"),
    }  # fmt: skip
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_NAMESPACE"] == "etl-jobs"
    # The release's policies admit the ETL pods of that namespace, and of no other.
    postgres = manifests.get("NetworkPolicy", f"{RELEASE}-postgres")
    peers = [p for rule in postgres["spec"]["ingress"] for p in rule["from"]]
    etl_labels = {
        "app.kubernetes.io/name": "simple-etl",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "etl",
        "app.kubernetes.io/part-of": "simple-etl",
    }
    etl_peers = [p for p in peers if selects(p["podSelector"], etl_labels)]
    assert [p["namespaceSelector"] for p in etl_peers] == [
        {"matchLabels": {"kubernetes.io/metadata.name": "etl-jobs"}}
    ]
    (binding,) = manifests.of_kind("ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "etl-jobs"
    }


def test_the_release_namespace_is_refused_as_the_etl_namespace() -> None:
    error = render_error({"etl": {"namespace": {"name": NAMESPACE}}})
    assert "etl.namespace.name must differ from the release namespace" in error


def test_both_namespaces_see_one_etl_password() -> None:
    manifests = render_overlay("default")
    copies = [s for s in manifests.of_kind("Secret") if s["metadata"]["name"] == f"{RELEASE}-etl-db"]
    assert sorted(s["metadata"]["namespace"] for s in copies) == sorted([NAMESPACE, ETL_NAMESPACE])
    assert copies[0]["data"] == copies[1]["data"]


def test_services_are_named_so_that_they_resolve_from_the_etl_namespace() -> None:
    manifests = render_overlay("offline")
    config = manifests.in_namespace(ETL_NAMESPACE).configmap_data(f"{RELEASE}-etl")
    assert config["PGHOST"] == f"{RELEASE}-postgres.{NAMESPACE}.svc"
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SIMPLE_ETL_API_URL"] == f"http://{RELEASE}-fake-api.{NAMESPACE}.svc:8080/api/1.4/"
