"""The few Kubernetes API endpoints Helm needs for `lookup` and a dry-run install.

Helm's `lookup` returns nothing under a plain `helm template`, so the only way to prove
that generated Secrets survive an upgrade without a cluster is to give Helm an API that
answers: this one serves discovery, Secrets it was given (GET one / list), and an empty
answer for everything else it may ask (release history, other lists).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _plural(kind: str) -> str:
    name = kind.lower()
    if name.endswith("y"):
        return name[:-1] + "ies"
    return name + ("es" if name.endswith("s") else "s")


CLUSTER_SCOPED = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def _resources(*kinds: str) -> list[dict[str, Any]]:
    return [
        {
            "name": _plural(kind),
            "singularName": kind.lower(),
            "namespaced": kind not in CLUSTER_SCOPED,
            "kind": kind,
            "verbs": ["get", "list"],
        }
        for kind in kinds
    ]


# Every group/version the chart renders into, so a dry-run install can map each object.
GROUPS = {
    "v1": _resources(
        "Namespace", "Secret", "ConfigMap", "Service", "ServiceAccount", "Pod", "PersistentVolumeClaim"
    ),
    "admissionregistration.k8s.io/v1": _resources(
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"
    ),
    "apps/v1": _resources("Deployment", "StatefulSet"),
    "batch/v1": _resources("CronJob", "Job"),
    "networking.k8s.io/v1": _resources("NetworkPolicy", "Ingress"),
    "policy/v1": _resources("PodDisruptionBudget"),
    "rbac.authorization.k8s.io/v1": _resources("Role", "RoleBinding"),
}


class FakeKubeApi:
    """Serves the Secrets in `self.secrets` ({(namespace, name): Secret object})."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def store(self, secret: dict[str, Any], namespace: str) -> None:
        self.secrets[(namespace, secret["metadata"]["name"])] = secret

    def kubeconfig(self, directory: Path, namespace: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path = directory / "kubeconfig"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def _answer(self, path: str, query: str) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": "v1"}],
                 "preferredVersion": {"groupVersion": gv, "version": "v1"}}
                for gv in GROUPS if "/" in gv
            ]  # fmt: skip
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        if group_version in GROUPS:
            return 200, {
                "kind": "APIResourceList",
                "groupVersion": group_version,
                "resources": GROUPS[group_version],
            }
        # /api/v1/namespaces/{ns}/{resource}[/{name}]
        if len(parts) in (5, 6) and parts[:3] == ["api", "v1", "namespaces"]:
            namespace, resource = parts[3], parts[4]
            if len(parts) == 6:
                found = self.secrets.get((namespace, parts[5])) if resource == "secrets" else None
                if found:
                    return 200, found
            elif "labelSelector" not in query:  # a labelled list is Helm's release history: none
                items = [
                    s for (ns, _), s in self.secrets.items() if ns == namespace and resource == "secrets"
                ]
                return 200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}
        return 404, {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "NotFound",
            "code": 404,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                api.requests.append(url.path)
                status, body = api._answer(url.path, url.query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def start(self) -> FakeKubeApi:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_kube_api() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi().start()
    try:
        yield api
    finally:
        api.stop()
