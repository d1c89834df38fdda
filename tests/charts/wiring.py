"""What the rendered objects refer to: Secrets, ConfigMaps, Services, addresses."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.charts.pods import all_containers
from tests.charts.render import NAMESPACE, RELEASE, Manifests
from tests.support.kubernetes import pod_spec_of, pod_template_of


@dataclass
class PodTemplate:
    workload: dict[str, Any]
    spec: dict[str, Any]
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.workload['kind']}/{self.workload['metadata']['name']}"

    @property
    def component(self) -> str:
        return self.labels["app.kubernetes.io/component"]


def pod_templates(manifests: Manifests) -> list[PodTemplate]:
    found = []
    for obj in manifests.workloads():
        template = pod_template_of(obj)
        assert template is not None, obj["kind"]
        found.append(PodTemplate(obj, template["spec"], template["metadata"]["labels"]))
    return found


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Label selector semantics (matchLabels and matchExpressions); a plain map is matchLabels."""
    if selector is None:
        return False
    match_labels = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, op, values = expression["key"], expression["operator"], expression.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


@dataclass
class Reference:
    where: str
    kind: str  # Secret or ConfigMap
    name: str
    key: str | None  # None: the whole object (envFrom, volume without items)


def references(template: PodTemplate) -> Iterator[Reference]:
    for container in all_containers(template.spec):
        where = f"{template.name}/{container['name']}"
        for item in container.get("env") or []:
            ref = item.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                yield Reference(where, "Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
            if "configMapKeyRef" in ref:
                yield Reference(
                    where, "ConfigMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
                )
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                yield Reference(where, "Secret", source["secretRef"]["name"], None)
            if "configMapRef" in source:
                yield Reference(where, "ConfigMap", source["configMapRef"]["name"], None)
    for volume in template.spec.get("volumes") or []:
        where = f"{template.name}/volume {volume['name']}"
        for kind, field, name_field in (
            ("Secret", "secret", "secretName"),
            ("ConfigMap", "configMap", "name"),
        ):
            if field in volume:
                items = volume[field].get("items")
                for item in items or [{"key": None}]:
                    yield Reference(where, kind, volume[field][name_field], item["key"])


# ---- configured addresses -------------------------------------------------------------


@dataclass
class Address:
    where: str
    host: str
    port: int


def _container_env(manifests: Manifests, kind: str, name: str) -> dict[str, str]:
    obj = manifests.get(kind, name)
    spec = pod_spec_of(obj)
    return {e["name"]: e["value"] for c in all_containers(spec) for e in c.get("env") or [] if "value" in e}


def _url(where: str, url: str) -> Address:
    parts = urlsplit(url)
    assert parts.hostname, f"{where}: {url} has no host"
    return Address(where, parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme])


def airflow_cfg(manifests: Manifests) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(manifests.configmap_data(f"{RELEASE}-airflow-config")["airflow.cfg"])
    return parser


def grafana_datasource(manifests: Manifests) -> dict[str, Any]:
    text = manifests.configmap_data(f"{RELEASE}-grafana-provisioning")["datasources.yaml"]
    (source,) = yaml.safe_load(text)["datasources"]
    return source


def configured_addresses(manifests: Manifests) -> list[Address]:
    """Every host:port a component of the release is configured to connect to."""
    found = []
    etl = manifests.configmap_data(f"{RELEASE}-etl")
    found.append(Address("ConfigMap etl PGHOST:PGPORT", etl["PGHOST"], int(etl["PGPORT"])))
    if manifests.find("Secret", f"{RELEASE}-airflow-db"):
        url = manifests.secret_data(f"{RELEASE}-airflow-db")["connection"]
        found.append(_url("Secret airflow-db connection", url))
    cfg = airflow_cfg(manifests)
    found.append(_url("airflow.cfg execution_api_server_url", cfg["core"]["execution_api_server_url"]))
    if manifests.find("ConfigMap", f"{RELEASE}-grafana-provisioning"):
        host, port = grafana_datasource(manifests)["url"].rsplit(":", 1)
        found.append(Address("Grafana datasource url", host, int(port)))
    dag_env = _container_env(manifests, "Deployment", f"{RELEASE}-airflow-scheduler")
    found.append(_url("scheduler SIMPLE_ETL_API_URL", dag_env["SIMPLE_ETL_API_URL"]))
    for pod in manifests.of_kind("Pod"):
        env = _container_env(manifests, "Pod", pod["metadata"]["name"])
        for key in ("AIRFLOW_URL", "GRAFANA_URL"):
            if key in env:
                found.append(_url(f"{pod['metadata']['name']} {key}", env[key]))
        if "PGHOST" in env:
            found.append(Address(f"{pod['metadata']['name']} PGHOST", env["PGHOST"], int(env["PGPORT"])))
    return found


def service_name(host: str) -> str:
    """The Service a host name resolves to, for a name of the release's namespace
    (`name`, `name.<namespace>.svc`, `name.<namespace>.svc.cluster.local`)."""
    return re.sub(rf"\.{re.escape(NAMESPACE)}\.svc(\.cluster\.local)?$", "", host)


def service_backends(manifests: Manifests, host: str, port: int) -> list[tuple[PodTemplate, int]]:
    """(pod template, container port) pairs a Service port forwards to."""
    service = manifests.find("Service", service_name(host))
    if service is None:
        return []
    (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == port] or [None]
    if service_port is None:
        return []
    target = service_port.get("targetPort", port)
    backends = []
    for template in pod_templates(manifests):
        if not selects(service["spec"]["selector"], template.labels):
            continue
        for container in template.spec["containers"]:
            for container_port in container.get("ports") or []:
                if target in (container_port["containerPort"], container_port.get("name")):
                    backends.append((template, container_port["containerPort"]))
    return backends
