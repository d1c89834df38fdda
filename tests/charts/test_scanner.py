"""The manifest scanner gate of `make lint` (k8s/scan/scan.py): the pinned checkov that
`make test` installs into .tools passes the chart's renders and the DAG's ETL pods with
only the findings k8s/scan/accepted.yaml accepts, and fails on any other finding.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.render import REPO

SCAN = REPO / "k8s" / "scan" / "scan.py"
CHECKOV = REPO / ".tools" / "bin" / "checkov"


@pytest.fixture(scope="module")
def checkov() -> None:
    if not CHECKOV.exists():
        message = f"{CHECKOV} is missing: run `make tools` (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def gate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCAN), *map(str, files)], capture_output=True, text=True, timeout=300
    )


@pytest.mark.usefixtures("checkov")
def test_the_chart_and_the_dag_pods_pass_the_gate() -> None:
    result = gate()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no new finding" in result.stdout
    # Every overlay, each with the pods the DAG launches with that overlay's settings.
    assert "default, kind, offline, production, airgap values, each with the DAG's ETL pods" in result.stdout


NAMESPACE = "scan-test"
# A workload with no finding but those accepted for every object (pull policy, digest).
CLEAN: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "clean", "namespace": NAMESPACE},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "scan-test"}},
        "template": {
            "metadata": {"labels": {"app": "scan-test"}},
            "spec": {
                "serviceAccountName": "scan-test",
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "app",
                        "image": "example/app:1.2.3",
                        "imagePullPolicy": "IfNotPresent",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "livenessProbe": {"httpGet": {"path": "/", "port": 8080}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                    }
                ],
            },
        },
    },
}
DENY_ALL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": NAMESPACE},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def variant(name: str, **container: Any) -> dict[str, Any]:
    """CLEAN named `name`, its container changed by `container` (None removes a key)."""
    deployment = copy.deepcopy(CLEAN)
    deployment["metadata"]["name"] = name
    pod = deployment["spec"]["template"]["spec"]
    for key, value in container.pop("pod", {}).items():
        pod[key] = value
    (app,) = pod["containers"]
    for key, value in container.items():
        if value is None:
            del app[key]
        else:
            app[key] = value
    return deployment


def write(path: Path, *objects: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


@pytest.mark.usefixtures("checkov")
def test_a_new_finding_fails_the_gate_and_is_named(tmp_path: Path) -> None:
    privileged = {**CLEAN["spec"]["template"]["spec"]["containers"][0]["securityContext"], "privileged": True}
    manifest = write(
        tmp_path / "new-findings.yaml",
        DENY_ALL,
        CLEAN,
        variant("privileged", securityContext=privileged),
        variant("no-limits", resources={"requests": {"cpu": "100m", "memory": "64Mi"}}),
        # Accepted for the scheduler and the triggerer only, so a finding anywhere else.
        variant("token", pod={"automountServiceAccountToken": True}),
    )
    result = gate(manifest)
    assert result.returncode == 1, result.stdout + result.stderr
    # "  CKV_K8S_16 Container should not be privileged: Deployment/privileged"
    named = set(re.findall(r"^  (CKV\S+) .*: (\S+)$", result.stdout, re.MULTILINE))
    assert ("CKV_K8S_16", "Deployment/privileged") in named  # Container should not be privileged
    assert ("CKV_K8S_13", "Deployment/no-limits") in named  # Memory limits should be set
    assert ("CKV_K8S_11", "Deployment/no-limits") in named  # CPU limits should be set
    assert ("CKV_K8S_38", "Deployment/token") in named  # Service account token mounted
    assert not [f for f in named if f[1] == "Deployment/clean"], result.stdout


@pytest.mark.usefixtures("checkov")
def test_the_clean_workload_passes(tmp_path: Path) -> None:
    """The findings above come from each change, not from the workload they change."""
    result = gate(write(tmp_path / "clean.yaml", DENY_ALL, CLEAN))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.usefixtures("checkov")
def test_a_suppression_in_a_manifest_is_refused(tmp_path: Path) -> None:
    """Accepted findings live in accepted.yaml, with their reasons, not in annotations."""
    suppressed = variant("suppressed", securityContext={"privileged": True})
    suppressed["metadata"]["annotations"] = {"checkov.io/skip1": "CKV_K8S_16=hidden"}
    result = gate(write(tmp_path / "suppressed.yaml", DENY_ALL, suppressed))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CKV_K8S_16" in result.stderr and "accepted.yaml" in result.stderr


def test_every_accepted_finding_has_a_reason_and_its_objects() -> None:
    accepted = yaml.safe_load((REPO / "k8s" / "scan" / "accepted.yaml").read_text())
    assert accepted
    for check, entry in accepted.items():
        assert entry["reason"].strip() and entry["objects"], check
