"""The end-to-end tier: the chart installed into a real cluster, in a namespace of its own.

Environment (all optional):

| variable | meaning |
| --- | --- |
| `E2E_REQUIRED=1` | no reachable cluster, or any skipped e2e test, is a failure (`make e2e`) |
| `E2E_KUBE_CONTEXT` | kube context to use (default: the current one of $KUBECONFIG) |
| `E2E_KUBECTL` / `E2E_HELM` | kubectl / helm binaries (default: PATH / .tools/bin/helm) |
| `E2E_ETL_IMAGE` | ETL image (default `simple-etl:<appVersion of Chart.yaml>`) |
| `E2E_AIRFLOW_IMAGE` | Airflow image (default `simple-etl-airflow:<appVersion>`) |
| `E2E_POSTGRES_IMAGE` / `E2E_GRAFANA_IMAGE` | override the chart's pinned upstream images (stand-ins) |
| `E2E_CHART` | chart directory to install (default `charts/simple-etl`) |
| `E2E_VALUES` | extra values files for the release, separated by spaces |
| `E2E_API_ONLY=1` | the cluster has an API server but no node: run only the admission tests |
| `E2E_GAPS` | `component=reason;…`: what this cluster cannot run (`grafana=…`): xfail |
| `E2E_TIMEOUT` | seconds for the install and for the DAG run (default 900) |
| `E2E_KEEP=1` | keep the namespace after the run, for debugging |
| `E2E_ARTIFACTS` | where pod logs and events go on failure (default `.cache/e2e/<namespace>`) |
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kube import CHART, REPO, Kube, KubeError, app_version

REQUIRED = os.environ.get("E2E_REQUIRED") == "1"
API_ONLY = os.environ.get("E2E_API_ONLY") == "1"
TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "900"))
RELEASE = "simple-etl"

_failed = pytest.StashKey[bool]()
_artifacts = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_node: needs a node that runs pods (deselected by E2E_API_ONLY=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not API_ONLY:
        return
    deselected = [item for item in items if item.get_closest_marker("needs_node")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.session.stash[_failed] = True
    # `make e2e` must not pass by skipping: a skipped end-to-end test is a failed one.
    if REQUIRED and report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("e2e"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"E2E_REQUIRED=1 and the test was skipped: {reason}"
        item.session.stash[_failed] = True
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    where = terminalreporter.config.stash.get(_artifacts, None)
    if where:
        terminalreporter.section("e2e diagnostics")
        terminalreporter.write_line(f"pod logs, descriptions and events: {where}")
        events = Path(where, "events.txt")
        if events.exists():
            for line in events.read_text().splitlines()[-40:]:
                terminalreporter.write_line(line)
    if API_ONLY:
        terminalreporter.write_line("E2E_API_ONLY=1: the tests that need a node were deselected")


def known_gap(component: str) -> str | None:
    """Why this cluster cannot run `component`, from E2E_GAPS, or None."""
    for entry in os.environ.get("E2E_GAPS", "").split(";"):
        name, _, reason = entry.partition("=")
        if name.strip() == component:
            return reason.strip() or "not available on this cluster"
    return None


def split_image(reference: str) -> dict[str, str]:
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:  # no tag, or the colon was a registry port
        return {"repository": reference, "tag": app_version()}
    return {"repository": name, "tag": tag}


def release_values() -> dict[str, Any]:
    version = app_version()
    values: dict[str, Any] = {
        "etl": {"image": split_image(os.environ.get("E2E_ETL_IMAGE", f"simple-etl:{version}"))},
        "airflow": {
            "image": split_image(os.environ.get("E2E_AIRFLOW_IMAGE", f"simple-etl-airflow:{version}")),
            # ClusterIP: never meets the NodePorts of a `make up` release on the same cluster.
            "apiServer": {"service": {"type": "ClusterIP", "nodePort": None}},
        },
        "grafana": {"service": {"type": "ClusterIP", "nodePort": None}},
    }
    for component, variable in (("postgres", "E2E_POSTGRES_IMAGE"), ("grafana", "E2E_GRAFANA_IMAGE")):
        if os.environ.get(variable):
            values.setdefault(component, {})["image"] = split_image(os.environ[variable])
    return values


@dataclass
class Release:
    kube: Kube
    namespace: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def etl_namespace(self) -> str:
        """Where the DAG's pods run (etl.namespace.name, by default `<namespace>-etl`)."""
        return self.values["etl"]["namespace"]["name"] or f"{self.namespace}-etl"

    def namespace_of(self, obj: dict[str, Any]) -> str:
        return obj["metadata"].get("namespace", self.namespace)

    def find(self, kind: str, component: str | None = None) -> list[dict[str, Any]]:
        return [
            obj
            for obj in self.objects
            if obj["kind"] == kind
            and (
                component is None
                or obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
            )
        ]

    def one(self, kind: str, component: str) -> dict[str, Any]:
        found = self.find(kind, component)
        assert len(found) == 1, f"expected one {kind} of component {component}, found {len(found)}"
        return found[0]

    def secret_value(self, name: str, key: str) -> str:
        import base64

        secret = self.kube.json("secret", name, namespace=self.namespace)
        return base64.b64decode(secret["data"][key]).decode()


@pytest.fixture(scope="session")
def kube() -> Kube:
    kube = Kube()
    reason = kube.reachable()
    if reason:
        if REQUIRED:
            pytest.fail(
                f"E2E_REQUIRED=1 but {reason}. Point KUBECONFIG/E2E_KUBE_CONTEXT at a cluster "
                "(`make up` for kind, `make e2e-local` for the air-gapped test cluster)",
                pytrace=False,
            )
        pytest.skip(reason)
    return kube


def new_namespace(kube: Kube) -> str:
    """A fresh namespace enforcing Pod Security `restricted`, as every pod of the chart must meet it."""
    namespace = f"simple-etl-e2e-{secrets.token_hex(3)}"
    kube.run("create", "namespace", namespace)
    kube.run(
        "label", "namespace", namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
        "app.kubernetes.io/part-of=simple-etl-e2e",
    )  # fmt: skip
    return namespace


def helm_install(kube: Kube, verb: str, chart: Path, namespace: str) -> None:
    """`helm install` or `upgrade` of `chart` with the offline overlay and this run's images."""
    with tempfile.TemporaryDirectory() as tmp:
        values_file = Path(tmp, "e2e-values.yaml")
        values_file.write_text(yaml.safe_dump(release_values()))
        extra = [arg for name in os.environ.get("E2E_VALUES", "").split() for arg in ("--values", name)]
        wait = [] if API_ONLY else ["--wait", "--timeout", f"{int(TIMEOUT)}s"]
        kube.helm(
            verb, RELEASE, str(chart), "--namespace", namespace,
            "--values", str(REPO / "k8s" / "values-offline.yaml"), "--values", str(values_file), *extra,
            *wait, timeout=TIMEOUT + 60,
        )  # fmt: skip


def remove_release(kube: Kube, namespace: str, installed: bool) -> None:
    if os.environ.get("E2E_KEEP") == "1":
        print(f"\nE2E_KEEP=1: namespace {namespace} kept")
        return
    if installed:
        kube.helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", "5m", check=False)
    kube.run("delete", "namespace", namespace, "--wait=true", "--timeout=5m", check=False, timeout=330)


@pytest.fixture(scope="session")
def release(kube: Kube, request: pytest.FixtureRequest) -> Iterator[Release]:
    """The chart with the offline overlay in a fresh namespace, removed again afterwards."""
    namespace = new_namespace(kube)
    installed = False
    try:
        installed = True
        helm_install(kube, "install", CHART, namespace)
        manifest = kube.helm("get", "manifest", RELEASE, "--namespace", namespace).stdout
        objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
        all_values = json.loads(
            kube.helm("get", "values", RELEASE, "--all", "--namespace", namespace, "-o", "json").stdout
        )
        yield Release(kube, namespace, RELEASE, all_values, objects)
    except (KubeError, TimeoutError):
        request.session.stash[_failed] = True
        raise
    finally:
        if request.session.stash.get(_failed, False):
            request.config.stash[_artifacts] = str(collect_diagnostics(kube, namespace))
            collect_diagnostics(kube, f"{namespace}-etl", Path(request.config.stash[_artifacts], "etl"))
        remove_release(kube, namespace, installed)


def collect_diagnostics(kube: Kube, namespace: str, where: Path | None = None) -> Path:
    """Events, descriptions and every container's logs of the namespace, as files."""
    where = where or Path(os.environ.get("E2E_ARTIFACTS", REPO / ".cache" / "e2e" / namespace))
    where.mkdir(parents=True, exist_ok=True)
    ns = ["--namespace", namespace]

    def save(name: str, *args: str) -> None:
        result = kube.run(*args, check=False, timeout=120)
        Path(where, name).write_text(result.stdout + result.stderr)

    save("events.txt", "get", "events", *ns, "--sort-by=.lastTimestamp")
    save("objects.txt", "get", "all,pvc,secrets,configmaps,networkpolicies", *ns, "-o", "wide")
    save("describe-pods.txt", "describe", "pods", *ns)
    pods = kube.run("get", "pods", *ns, "-o", "name", check=False).stdout.split()
    for pod in pods:
        short = pod.removeprefix("pod/")
        save(f"logs-{short}.txt", "logs", pod, *ns, "--all-containers", "--prefix", "--tail=500")
        save(
            f"logs-{short}-previous.txt",
            "logs",
            pod,
            *ns,
            "--all-containers",
            "--prefix",
            "--previous",
            "--tail=200",
        )
    return where
