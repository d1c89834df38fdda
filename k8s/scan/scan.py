"""The manifest scanner gate of `make lint`: checkov over what the chart and the DAG put
on a cluster, failing on any finding that k8s/scan/accepted.yaml does not accept.

Usage (with the project's .venv python):
  scan.py           the chart rendered with its defaults and with each overlay, each
                    render scanned together with the ETL pods the DAG would launch with
                    the settings that render gives the scheduler
  scan.py FILE...   these manifests, with the same checks and accepted findings

Exit 0: no finding beyond the accepted ones; 1: new findings, listed; 2: no scan.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
# The cluster the chart tests render for: its version, and the APIs beyond helm's defaults.
from tests.charts.render import API_VERSIONS, KUBE_VERSION  # noqa: E402

TOOLS = REPO / ".tools" / "bin"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
ACCEPTED = Path(__file__).with_name("accepted.yaml")
CHART = REPO / "charts" / "simple-etl"
# What `make up` installs: release and namespace simple-etl, for the tests' Kubernetes.
RELEASE = NAMESPACE = "simple-etl"
OVERLAYS: dict[str, tuple[str, ...]] = {
    "default": (),
    "kind": ("k8s/values-kind.yaml",),
    "offline": ("k8s/values-offline.yaml",),
    "production": ("k8s/values-production.yaml",),
    "airgap": ("k8s/airgap/values-airgap.yaml",),
}
CLUSTER_SCOPED = {
    *("Namespace", "PersistentVolume", "StorageClass", "PriorityClass", "RuntimeClass", "IngressClass"),
    *("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService"),
    *("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"),
    *("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"),
}


class ScanError(RuntimeError):
    """The scan could not run: exit 2, never a pass."""


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        raise ScanError(f"{path} is missing: run `make tools` (make lint and make test install it)")
    return path


def run(argv: list[str], home: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A tool with a private, empty home (no user config) and no cluster."""
    env = {"PATH": f"{TOOLS}:/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": str(home / "no-kubeconfig")}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, **kwargs)


def render(values_files: tuple[str, ...], home: Path) -> list[dict[str, Any]]:
    """`helm template` of the chart, each object in the namespace `helm install` puts it in."""
    args = [
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        *API_VERSIONS,
    ]
    for name in values_files:
        args += ["--values", str(REPO / name)]
    result = run([str(tool("helm")), *args], home)
    if result.returncode != 0:
        raise ScanError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"].setdefault("namespace", NAMESPACE)
    return objects


def scheduler_settings(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The SIMPLE_ETL_* values the chart gives the scheduler, which launches the ETL pods."""
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == f"{RELEASE}-airflow-scheduler":
            containers = obj["spec"]["template"]["spec"]["containers"]
            (scheduler,) = [c for c in containers if c["name"] == "scheduler"]
            env = [e for e in scheduler.get("env") or [] if e["name"].startswith("SIMPLE_ETL_")]
            return {e["name"]: e["value"] for e in env if "value" in e}
    raise ScanError(f"no Deployment {RELEASE}-airflow-scheduler to take the ETL pods' settings from")


def write_renders(work: Path, home: Path) -> None:
    """work/<overlay>/chart.yaml and work/<overlay>/dag-pods.yaml for every overlay."""
    settings = {}
    for overlay, values_files in OVERLAYS.items():
        objects = render(values_files, home)
        (work / overlay).mkdir()
        (work / overlay / "chart.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        settings[overlay] = scheduler_settings(objects)
    (home / "settings.json").write_text(json.dumps(settings))
    dag_pods = Path(__file__).with_name("dag_pods.py")
    result = run([str(VENV_PYTHON), str(dag_pods), str(home / "settings.json"), str(work)], home)
    if result.returncode != 0:
        raise ScanError(f"{dag_pods.name} failed:\n{result.stdout}{result.stderr}")


def checkov(directory: Path, home: Path) -> dict[str, Any]:
    """checkov's Kubernetes checks over one directory (one graph: policies meet their pods)."""
    out = home / "results" / directory.name
    argv = [
        str(tool("checkov")), "--directory", str(directory), "--framework", "kubernetes",
        "--skip-download", "--output", "json", "--output-file-path", str(out),
    ]  # fmt: skip
    result = run(argv, home, cwd=directory)  # no .checkov.yaml of the repo or the user applies
    report = out / "results_json.json"
    if result.returncode not in (0, 1) or not report.exists():
        raise ScanError(f"checkov failed on {directory.name} (exit {result.returncode}):\n{result.stderr}")
    data = json.loads(report.read_text())
    summary = data.get("summary", {})
    if summary.get("parsing_errors") or not summary.get("resource_count"):
        raise ScanError(f"checkov could not read the manifests of {directory.name}: {summary}")
    if data["results"]["skipped_checks"]:
        skipped = sorted({f"{f['check_id']} {f['resource']}" for f in data["results"]["skipped_checks"]})
        raise ScanError(f"suppressed in the manifests, not in {ACCEPTED.name}: {skipped}")
    return data


def load_accepted() -> dict[str, list[str]]:
    """{check: object patterns} of accepted.yaml; an entry without its reason is refused."""
    accepted = {}
    for check, entry in (yaml.safe_load(ACCEPTED.read_text()) or {}).items():
        if not (isinstance(entry, dict) and str(entry.get("reason", "")).strip() and entry.get("objects")):
            raise ScanError(f"{ACCEPTED.name}: {check} needs a reason and its objects")
        objects = entry["objects"]
        accepted[check] = [objects] if isinstance(objects, str) else list(objects)
    return accepted


def object_of(resource: str) -> str:
    """checkov's `Kind.namespace.name` as `Kind/name`."""
    kind, _, rest = resource.partition(".")
    return f"{kind}/{rest.partition('.')[2]}"


def reports(files: list[str]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """What was scanned, and checkov's report of each directory."""
    with tempfile.TemporaryDirectory(prefix="simple-etl-scan-") as tmp:
        work, home = Path(tmp) / "manifests", Path(tmp) / "home"
        work.mkdir()
        home.mkdir()
        if files:
            (work / "files").mkdir()
            for i, name in enumerate(files):
                (work / "files" / f"{i}-{Path(name).name}").write_text(Path(name).read_text())
            scanned = ", ".join(files)
        else:
            write_renders(work, home)
            scanned = f"the chart with {', '.join(OVERLAYS)} values, each with the DAG's ETL pods"
        directories = sorted(work.iterdir())
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # a checkov process each
            results = list(pool.map(lambda directory: checkov(directory, home), directories))
        return scanned, [(d.name, r) for d, r in zip(directories, results, strict=True)]


def scan(files: list[str]) -> int:
    accepted = load_accepted()
    tool("checkov")  # before the renders: say it at once
    scanned, results = reports(files)
    new: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    unused = {(check, pattern) for check, patterns in accepted.items() for pattern in patterns}
    for source, data in results:
        for finding in data["results"]["failed_checks"]:
            check, obj = finding["check_id"], object_of(finding["resource"])
            patterns = [p for p in accepted.get(check, []) if fnmatch.fnmatchcase(obj, p)]
            unused -= {(check, p) for p in patterns}
            if not patterns:
                new[(check, finding["check_name"], obj)].add(source)
    resources = sum(data["summary"]["resource_count"] for _, data in results)
    if not files:  # a fixed finding leaves its acceptance behind: say so, but pass
        for check, pattern in sorted(unused):
            print(f"note: {ACCEPTED.name} accepts {check} for {pattern}, which has no such finding now")
    if new:
        print(f"manifest scan (checkov): {len(new)} new findings in {resources} resources of {scanned}:")
        for (check, name, obj), sources in sorted(new.items()):
            print(f"  {check} {name}: {obj}" + ("" if files else f" ({', '.join(sorted(sources))})"))
        print(f"Fix the manifest, or accept the finding with its reason in {ACCEPTED.relative_to(REPO)}.")
        return 1
    print(f"manifest scan (checkov): no new finding in {resources} resources of {scanned}")
    return 0


def main(argv: list[str]) -> int:
    try:
        return scan(argv)
    except ScanError as error:
        print(f"manifest scan failed: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
