"""Offline checks of Kubernetes objects: strict schema validation and Pod Security.

Schemas come from the `kubernetes-validate` package (no download at test time). The
Pod Security checks implement the "baseline" and "restricted" profiles of the Pod
Security Standards for the fields our workloads use, so a violation names the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate

KUBERNETES_VERSION = "1.34.0"
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def validate(obj: dict[str, Any], version: str = KUBERNETES_VERSION) -> None:
    """Raise kubernetes_validate.ValidationError unless `obj` is valid in strict mode."""
    kubernetes_validate.validate(obj, version, strict=True)


def pod_template_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod an object makes (its metadata and spec): a Pod itself, a workload's template."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    if kind in POD_TEMPLATE_KINDS:
        return obj["spec"]["template"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    template = pod_template_of(obj)
    return template["spec"] if template else None


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def baseline_violations(spec: dict[str, Any]) -> list[str]:
    found = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            found.append(f"spec.{flag} is true")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"volume {volume['name']} is a hostPath")
    for c in _containers(spec):
        sc = c.get("securityContext") or {}
        where = f"container {c['name']}"
        if sc.get("privileged"):
            found.append(f"{where} is privileged")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"{where} adds capabilities {sorted(added - BASELINE_CAPABILITIES)}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{where} uses hostPort {port['hostPort']}")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where} has an Unconfined seccomp profile")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{where} sets procMount")
    if ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append("pod has an Unconfined seccomp profile")
    return found


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    found = baseline_violations(spec)
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']} has a type outside the restricted set: {sorted(kinds)}")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runs as UID 0")
    for c in _containers(spec):
        sc = c.get("securityContext") or {}
        where = f"container {c['name']}"
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where} does not set allowPrivilegeEscalation: false")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            found.append(f"{where} does not set runAsNonRoot: true")
        if sc.get("runAsUser") == 0:
            found.append(f"{where} runs as UID 0")
        if (sc.get("seccompProfile") or {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where} has no RuntimeDefault or Localhost seccomp profile")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{where} does not drop ALL capabilities")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where} adds capabilities other than NET_BIND_SERVICE")
    return found
