"""The NetworkPolicies allow the flows of the data path, and deny the rest.

A small evaluator of NetworkPolicy semantics (pod and namespace selectors, ipBlocks,
ports) decides each flow between endpoints built from the rendered pods.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.charts.render import ETL_NAMESPACE, NAMESPACE, RELEASE, Manifests, render_chart, render_overlay
from tests.charts.wiring import pod_templates, selects

INSTANCE = "app.kubernetes.io/instance"
# The labels the DAG gives the ETL pods (docs/interfaces.md), plus one of its own.
ETL_LABELS = {
    "app.kubernetes.io/name": "simple-etl",
    "app.kubernetes.io/instance": "simple-etl",
    "app.kubernetes.io/component": "etl",
    "app.kubernetes.io/part-of": "simple-etl",
    "app.kubernetes.io/managed-by": "airflow",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    ip: str
    labels: Mapping[str, str] | None = None  # a pod's labels, or None: not a pod
    namespace: str = NAMESPACE


WORLD = Endpoint("a browser through a NodePort", "172.18.0.1")
KUBE_API = Endpoint("the Kubernetes API (kind node)", "172.18.0.2")
KUBE_API_SERVICE = Endpoint("the kubernetes Service IP", "10.96.0.1")
# The production overlay's narrowed kubeApiServerCidrs.
PRODUCTION_KUBE_API = Endpoint("the Kubernetes API (production)", "10.0.0.10")
# Policies see the pod a Service address was translated to.
DNS = Endpoint("kube-dns", "10.244.0.3", {"k8s-app": "kube-dns"}, "kube-system")
NOT_DNS = Endpoint("a pod answering on 53 elsewhere", "10.244.0.4", {"app": "dns-tunnel"}, "elsewhere")
# Any pod without the release's labels, in either namespace: what someone with the
# launcher's rights could create (in the ETL namespace), or anyone else.
STRAY = Endpoint("an unlabelled pod", "10.244.0.250", {})
ETL_STRAY = Endpoint("an unlabelled pod in the ETL namespace", "10.244.0.251", {}, ETL_NAMESPACE)
# The ETL pods' labels are no pass outside the ETL namespace.
ETL_ELSEWHERE = Endpoint("a pod with the ETL labels in another namespace", "10.244.0.252",
                         {**ETL_LABELS}, "elsewhere")  # fmt: skip
# The release's policies isolate the pods of its two namespaces; others are not its to isolate.
ISOLATED = {NAMESPACE, ETL_NAMESPACE}
PUBLIC_API = Endpoint("randomuser.me", "104.21.3.7")
# The production overlay's UI source (networkPolicy.uiIngressFrom), and any other pod.
INGRESS_CONTROLLER = Endpoint(
    "ingress-nginx", "10.244.0.5", {"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx"
)
OTHER_POD = Endpoint("a pod of another namespace", "10.244.0.6", {"app": "curious"}, "elsewhere")
EXTERNAL_DB = Endpoint("the managed database", "10.20.0.5")
ELSEWHERE_DB = Endpoint("some other database", "8.8.8.8")


def endpoints(manifests: Manifests) -> dict[str, Endpoint]:
    found = {}
    for number, template in enumerate(pod_templates(manifests), start=10):
        found[template.component] = Endpoint(template.component, f"10.244.0.{number}", template.labels)
    found["etl"] = Endpoint("etl", "10.244.0.200", ETL_LABELS, ETL_NAMESPACE)
    return found


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def _peer_matches(peers: list[dict[str, Any]] | None, other: Endpoint, policy_namespace: str) -> bool:
    if not peers:
        return True
    for peer in peers:
        if ("podSelector" in peer or "namespaceSelector" in peer) and other.labels is not None:
            namespace = peer.get("namespaceSelector")
            in_namespace = (
                other.namespace == policy_namespace
                if namespace is None
                else selects(namespace, {"kubernetes.io/metadata.name": other.namespace})
            )
            if in_namespace and selects(peer.get("podSelector", {}), other.labels):
                return True
        if "ipBlock" in peer:
            ip = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            if ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except") or []
            ):
                return True
    return False


def _direction_allows(policies: list[dict[str, Any]], direction: str, pod: Endpoint, other: Endpoint,
                      port: int, protocol: str) -> bool:  # fmt: skip
    if pod.labels is None or pod.namespace not in ISOLATED:
        return True  # not ours to isolate
    kind = direction.capitalize()
    selecting = [
        p
        for p in policies
        if namespace_of(p) == pod.namespace
        and kind in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    peer_key = "to" if direction == "egress" else "from"
    return any(
        _peer_matches(rule.get(peer_key), other, pod.namespace)
        and _port_matches(rule.get("ports"), port, protocol)
        for policy in selecting
        for rule in policy["spec"].get(direction) or []
    )


def namespace_of(obj: Mapping[str, Any]) -> str:
    return obj["metadata"].get("namespace", NAMESPACE)


def allowed(manifests: Manifests, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
    policies = manifests.of_kind("NetworkPolicy")
    return _direction_allows(policies, "egress", src, dst, port, protocol) and _direction_allows(
        policies, "ingress", dst, src, port, protocol
    )


AIRFLOW = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]


def kube_api(overlay: str) -> Endpoint:
    return PRODUCTION_KUBE_API if overlay == "production" else KUBE_API


def ui_client(overlay: str) -> Endpoint:
    """Who reaches the UIs: a browser through a NodePort, or in production the ingress controller."""
    return INGRESS_CONTROLLER if overlay == "production" else WORLD


def required_flows(pods: dict[str, Endpoint], overlay: str) -> list[tuple[Endpoint, Endpoint, int]]:
    database = (EXTERNAL_DB if overlay == "production" else pods["postgres"], 5432)
    flows = [(pods[c], *database) for c in [*AIRFLOW, "etl", "grafana", "database-test"]]
    flows += [
        (pods["airflow-scheduler"], pods["airflow-api-server"], 8080),  # execution API
        (pods["airflow-api-server"], pods["airflow-scheduler"], 8793),  # task logs
        (pods["airflow-api-server"], pods["airflow-triggerer"], 8794),  # deferred task logs
        (pods["airflow-scheduler"], kube_api(overlay), 6443),
        (pods["airflow-triggerer"], kube_api(overlay), 443),
        (ui_client(overlay), pods["airflow-api-server"], 8080),
        (ui_client(overlay), pods["grafana"], 3000),
        (pods["airflow-test"], pods["airflow-api-server"], 8080),
        (pods["grafana-test"], pods["grafana"], 3000),
    ]
    if "fake-api" in pods:
        flows.append((pods["etl"], pods["fake-api"], 8080))
    else:
        flows.append((pods["etl"], PUBLIC_API, 443))
    return flows


def denied_flows(pods: dict[str, Endpoint], overlay: str) -> list[tuple[Endpoint, Endpoint, int]]:
    flows = [
        (pods["grafana"], pods["airflow-api-server"], 8080),
        (pods["grafana"], PUBLIC_API, 443),
        (pods["grafana"], KUBE_API, 6443),
        (pods["etl"], pods["airflow-api-server"], 8080),
        (pods["etl"], pods["airflow-scheduler"], 8793),
        (pods["etl"], KUBE_API, 6443),
        (pods["etl"], KUBE_API_SERVICE, 443),
        (pods["etl"], pods["grafana"], 3000),
        (pods["airflow-dag-processor"], pods["airflow-api-server"], 8080),
        (pods["airflow-dag-processor"], KUBE_API, 6443),
        (pods["airflow-api-server"], KUBE_API, 6443),
        (pods["airflow-api-server"], pods["grafana"], 3000),
        (pods["airflow-triggerer"], pods["airflow-api-server"], 8080),
        (WORLD, pods["airflow-scheduler"], 8793),
        (WORLD, pods["airflow-triggerer"], 8794),
        (pods["grafana"], pods["airflow-scheduler"], 8793),
        (pods["airflow-test"], pods["grafana"], 3000),
        (pods["database-test"], pods["airflow-api-server"], 8080),
        (STRAY, PUBLIC_API, 443),
        (STRAY, KUBE_API, 6443),
        (STRAY, pods["airflow-api-server"], 8080),
        (STRAY, pods["grafana"], 3000),
        (WORLD, STRAY, 8080),
        (pods["airflow-scheduler"], STRAY, 8080),
        (ETL_STRAY, PUBLIC_API, 443),
        (ETL_STRAY, KUBE_API, 6443),
        (ETL_STRAY, pods["airflow-api-server"], 8080),
        (ETL_STRAY, DNS, 53),
        (pods["airflow-scheduler"], ETL_STRAY, 8080),
        (pods["etl"], ETL_STRAY, 8080),
    ]
    if overlay == "production":
        flows += [(pods[c], ELSEWHERE_DB, 5432) for c in [*AIRFLOW, "etl", "grafana"]]
        # The launchers' HTTPS reaches the API server only, not any address (a task's exfiltration).
        flows += [(pods[c], PUBLIC_API, 443) for c in ("airflow-scheduler", "airflow-triggerer")]
        flows += [(client, pods[ui], port) for client in (WORLD, OTHER_POD)
                  for ui, port in (("airflow-api-server", 8080), ("grafana", 3000))]  # fmt: skip
    else:
        flows += [
            (WORLD, pods["postgres"], 5432),
            (pods["airflow-test"], pods["postgres"], 5432),
            (pods["postgres"], PUBLIC_API, 443),
            (pods["postgres"], DNS, 53),
            (STRAY, pods["postgres"], 5432),
            (ETL_STRAY, pods["postgres"], 5432),
            (ETL_ELSEWHERE, pods["postgres"], 5432),
        ]
    if "fake-api" in pods:
        flows += [
            (pods["etl"], PUBLIC_API, 443),  # offline means offline
            (WORLD, pods["fake-api"], 8080),
            (pods["grafana"], pods["fake-api"], 8080),
            (pods["fake-api"], PUBLIC_API, 443),
            (ETL_STRAY, pods["fake-api"], 8080),
            (ETL_ELSEWHERE, pods["fake-api"], 8080),
        ]
        if overlay != "production":
            flows.append((pods["fake-api"], pods["postgres"], 5432))
    return flows


def test_the_data_path_is_allowed(manifests: Manifests, overlay: str) -> None:
    pods = endpoints(manifests)
    blocked = [
        f"{s.name} -> {d.name}:{p}"
        for s, d, p in required_flows(pods, overlay)
        if not allowed(manifests, s, d, p)
    ]
    assert blocked == []


def test_everything_else_is_denied(manifests: Manifests, overlay: str) -> None:
    pods = endpoints(manifests)
    leaks = [
        f"{s.name} -> {d.name}:{p}" for s, d, p in denied_flows(pods, overlay) if allowed(manifests, s, d, p)
    ]
    assert leaks == []


def test_name_resolution_is_allowed_to_every_pod_that_connects_anywhere(manifests: Manifests) -> None:
    pods = endpoints(manifests)
    for name, pod in pods.items():
        if name in {"postgres", "fake-api"}:
            assert not allowed(manifests, pod, DNS, 53, "UDP"), f"{name} makes no outbound connections"
        else:
            assert allowed(manifests, pod, DNS, 53, "UDP"), name
            assert allowed(manifests, pod, DNS, 53, "TCP"), name
        for elsewhere in (NOT_DNS, PUBLIC_API):
            assert not allowed(manifests, pod, elsewhere, 53, "UDP"), f"{name} resolves at {elsewhere.name}"


def test_dns_servers_can_be_given_as_addresses() -> None:
    cache = Endpoint("a node-local DNS cache", "169.254.20.10")
    manifests = render_chart({"networkPolicy": {"dns": {"cidrs": ["169.254.20.10/32"]}}})
    pods = endpoints(manifests)
    assert allowed(manifests, pods["etl"], cache, 53, "UDP")
    assert not allowed(manifests, pods["etl"], DNS, 53, "UDP")


def test_without_default_deny_an_unlabelled_pod_is_unrestricted() -> None:
    """What the default-deny policy is for: the component policies alone leave strays open."""
    manifests = render_chart({"networkPolicy": {"defaultDeny": False}})
    assert manifests.find("NetworkPolicy", f"{RELEASE}-default-deny") is None
    assert allowed(manifests, STRAY, PUBLIC_API, 443)
    assert allowed(manifests, ETL_STRAY, PUBLIC_API, 443)
    assert not allowed(render_overlay("default"), STRAY, PUBLIC_API, 443)
    assert not allowed(render_overlay("default"), ETL_STRAY, PUBLIC_API, 443)


def test_every_pod_is_isolated_and_every_policy_selects_pods(manifests: Manifests) -> None:
    policies = manifests.of_kind("NetworkPolicy")
    pods = endpoints(manifests)
    for name, pod in pods.items():
        selecting = [
            p
            for p in policies
            if namespace_of(p) == pod.namespace and selects(p["spec"]["podSelector"], pod.labels or {})
        ]
        types = {t for p in selecting for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{name} is not isolated in both directions"
    for policy in policies:
        assert any(
            namespace_of(policy) == p.namespace and selects(policy["spec"]["podSelector"], p.labels or {})
            for p in pods.values()
        ), f"NetworkPolicy {policy['metadata']['name']} selects no pod"


def test_the_etl_policy_selects_the_dag_pods_by_the_contract_labels() -> None:
    manifests = render_overlay("default")
    policy = manifests.get("NetworkPolicy", f"{RELEASE}-etl")
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {k: v for k, v in ETL_LABELS.items() if k != "app.kubernetes.io/managed-by"}
    }


def test_a_test_pod_policy_exists_only_while_helm_test_runs() -> None:
    manifests = render_overlay("default")
    for name in ("database-test", "airflow-test", "grafana-test"):
        policy = manifests.get("NetworkPolicy", f"{RELEASE}-{name}")
        annotations = policy["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test"
        assert int(annotations["helm.sh/hook-weight"]) < 0, "created before the test pod"


@pytest.mark.parametrize("overlay_name", ["default", "offline"])
def test_policy_evaluator_sees_a_missing_rule(overlay_name: str) -> None:
    """The evaluator can fail: drop the postgres ingress rule and the data path breaks."""
    manifests = render_overlay(overlay_name)
    policy = manifests.get("NetworkPolicy", f"{RELEASE}-postgres")
    policy["spec"]["ingress"] = []
    pods = endpoints(manifests)
    assert not allowed(manifests, pods["etl"], pods["postgres"], 5432)


def test_two_releases_in_one_namespace_keep_their_etl_pods_apart() -> None:
    other = render_chart(release="other")
    theirs = endpoints(other)
    # Both releases' ETL pods share the default ETL namespace (<namespace>-etl).
    ours = Endpoint("the ETL pod of release simple-etl", "10.244.0.201", ETL_LABELS, ETL_NAMESPACE)
    assert not allowed(other, ours, theirs["postgres"], 5432)
    mine = Endpoint("their ETL pod", "10.244.0.202", {**ETL_LABELS, INSTANCE: "other"}, ETL_NAMESPACE)
    assert allowed(other, mine, theirs["postgres"], 5432)


def test_the_ui_ports_answer_anyone_unless_a_source_is_given() -> None:
    """kind's NodePorts need the open default; the production overlay names its ingress controller."""
    default, production = render_overlay("default"), render_overlay("production")
    for ui, port in (("airflow-api-server", 8080), ("grafana", 3000)):
        assert allowed(default, OTHER_POD, endpoints(default)[ui], port)
        assert not allowed(production, OTHER_POD, endpoints(production)[ui], port)
        assert allowed(production, INGRESS_CONTROLLER, endpoints(production)[ui], port)
    internal = endpoints(production)  # the release's own clients keep their way in
    assert allowed(production, internal["airflow-scheduler"], internal["airflow-api-server"], 8080)
    assert allowed(production, internal["airflow-test"], internal["airflow-api-server"], 8080)
    assert allowed(production, internal["grafana-test"], internal["grafana"], 3000)
