"""Run a rendered pod's containers on this machine, as the kubelet would run them.

The parity tests start the real software with exactly what the chart renders: the
container's args through the image's entrypoint, its environment with Secrets and
ConfigMaps resolved, its volumes materialised in a temporary directory, and the
cluster's Service names mapped to loopback addresses.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tests.charts.render import NAMESPACE, REPO, Manifests
from tests.support.kubernetes import pod_spec_of

VENV_BIN = REPO / ".venv" / "bin"


def all_containers(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from spec.get(key) or []


def resolve_env(
    manifests: Manifests, container: Mapping[str, Any], namespace: str = NAMESPACE
) -> dict[str, str]:
    """The container's environment as the kubelet builds it (envFrom first, then env)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            env.update(manifests.configmap_data(source["configMapRef"]["name"]))
        elif "secretRef" in source:
            env.update(manifests.secret_data(source["secretRef"]["name"]))
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            env[item["name"]] = manifests.secret_data(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
        elif "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[item["name"]] = manifests.configmap_data(key["name"])[key["key"]]
        elif ref.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = namespace
        else:
            raise NotImplementedError(f"env source {ref} of {item['name']}")
    return env


@dataclass
class Addresses:
    """Where a cluster address is reached from this machine: {(service, port): (host, port)}."""

    routes: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)

    def add(self, service: str, port: int, local_host: str, local_port: int) -> None:
        self.routes[(service, port)] = (local_host, local_port)

    def rewrite(self, text: str) -> str:
        for (service, port), (host, local_port) in self.routes.items():
            for name in (f"{service}.{NAMESPACE}.svc.cluster.local", f"{service}.{NAMESPACE}.svc", service):
                text = re.sub(rf"(?<![\w.-]){re.escape(name)}:{port}(?!\d)", f"{host}:{local_port}", text)
        return text

    def host_of(self, service: str) -> str | None:
        for (name, _), (host, _) in self.routes.items():
            if name == service:
                return host
        return None

    def port_of(self, service: str, port: int) -> int:
        return self.routes[(service, port)][1]


# ENTRYPOINT of the images whose args are not a command (etl_image/Dockerfile).
ENTRYPOINTS = {"simple-etl": [str(VENV_BIN / "simple-etl")]}

# The image paths the entrypoint and Airflow use outside the chart's volumes.
IMAGE_HOME = {"AIRFLOW_HOME": "/opt/airflow", "HOME": "/home/airflow"}
# The Airflow image bakes the repository's dags/ in here (dags/Dockerfile).
IMAGE_DAGS = "/opt/airflow/dags"


class LocalPod:
    """One rendered pod: its volumes as directories, its containers as processes."""

    def __init__(
        self, manifests: Manifests, workload: Mapping[str, Any], root: Path, addresses: Addresses
    ) -> None:
        self.manifests = manifests
        self.name = workload["metadata"]["name"]
        self.spec = pod_spec_of(dict(workload))
        self.root = root / self.name
        self.addresses = addresses
        # Container ports that listen elsewhere here (a port-forward): {in the pod: here}.
        self.listen_ports: dict[int, int] = {}
        self.claims = [t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates") or []]
        self.processes: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self.logs: dict[str, Path] = {}
        self._volumes = self._materialise_volumes()

    # -- filesystem -----------------------------------------------------------------
    def _materialise_volumes(self) -> dict[str, Path]:
        volumes = {}
        for name in [v["name"] for v in self.spec.get("volumes") or []] + self.claims:
            volumes[name] = self.root / "volumes" / name
            volumes[name].mkdir(parents=True)
        # Files name container paths (airflow.cfg names the passwords file): localise them
        # with the pod's mounts, which are the same in every container that has them.
        mounts = {
            m["mountPath"]: volumes[m["name"]] / m.get("subPath", "")
            for c in all_containers(self.spec)
            for m in c.get("volumeMounts") or []
        }
        for volume in self.spec.get("volumes") or []:
            if "configMap" in volume:
                data = self.manifests.configmap_data(volume["configMap"]["name"])
                items = volume["configMap"].get("items")
            elif "secret" in volume:
                data = self.manifests.secret_data(volume["secret"]["secretName"])
                items = volume["secret"].get("items")
            elif "emptyDir" in volume or "persistentVolumeClaim" in volume:
                continue  # an empty directory (a claim: this machine's disk)
            else:
                raise NotImplementedError(f"volume {volume}")
            for item in items or [{"key": k, "path": k} for k in data]:
                target = volumes[volume["name"]] / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self._localise(data[item["key"]], mounts))
        return volumes

    def filesystem(self, container: Mapping[str, Any]) -> dict[str, Path]:
        """{path in the container: local path}, longest first: its mounts and image dirs.

        Each container gets its own copy of the image's directories; a mount inside one
        of them (/opt/airflow/logs) is a symlink there to the pod's volume, and the DAGs
        the image bakes in are the repository's dags/ unless a volume is mounted over them.
        """
        base = self.root / "rootfs" / container["name"]
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            source = self._volumes[mount["name"]]
            mounts[mount["mountPath"]] = source / mount["subPath"] if mount.get("subPath") else source
        mapping: dict[str, Path] = {}
        for image_path in IMAGE_HOME.values():
            mapping[image_path] = base / image_path.lstrip("/")
            mapping[image_path].mkdir(parents=True, exist_ok=True)
        image_content = {IMAGE_DAGS: REPO / "dags"}
        for path, source in {**image_content, **mounts}.items():
            for image_path in IMAGE_HOME.values():
                if path.startswith(image_path + "/"):
                    link = mapping[image_path] / path[len(image_path) + 1 :]
                    if link.is_symlink():
                        link.unlink()
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(source)
        mapping.update(mounts)
        return dict(sorted(mapping.items(), key=lambda kv: -len(kv[0])))

    def volume(self, name: str) -> Path:
        return self._volumes[name]

    def writes_outside_volumes(self) -> list[Path]:
        """Files a container created in the image's own directories (read-only in the pod)."""
        written = []
        for directory, _, files in os.walk(self.root / "rootfs"):  # never into the mounts' symlinks
            written += [Path(directory) / name for name in files if not (Path(directory) / name).is_symlink()]
        return written

    # -- processes --------------------------------------------------------------------
    def _localise(self, text: str, fs: Mapping[str, Path]) -> str:
        text = self.addresses.rewrite(text)
        if not fs:
            return text
        fs = dict(sorted(fs.items(), key=lambda kv: -len(kv[0])))
        # One pass, longest path first: a local path must never be rewritten again.
        paths = re.compile(r"(?<![\w/])(" + "|".join(re.escape(p) for p in fs) + r")(?=/|$|\s|\"|'|:)")
        return paths.sub(lambda m: str(fs[m.group(1)]), text)

    def command(self, container: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """argv and environment of the container, localised."""
        fs = self.filesystem(container)
        env = {
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TMPDIR": str(fs.get("/tmp", self.root / "tmp")),  # noqa: S108 - the pod's /tmp emptyDir, mapped
            **{name: str(fs[path]) for name, path in IMAGE_HOME.items()},
        }
        env.update({k: self._localise(v, fs) for k, v in resolve_env(self.manifests, container).items()})
        argv = [
            self._localise(arg, fs)
            for arg in (container.get("command") or []) + (container.get("args") or [])
        ]
        argv = [str(self.listen_ports.get(int(a), a)) if a.isdigit() else a for a in argv]
        repository = container["image"].rsplit(":", 1)[0]
        if repository in ENTRYPOINTS and not container.get("command"):
            argv = ENTRYPOINTS[repository] + argv
        # The Airflow image's entrypoint: `airflow ...`, `python ...` and `bash ...` run as given.
        elif argv and argv[0] == "airflow":
            argv[0] = str(VENV_BIN / "airflow")
        elif argv and argv[0] == "python":
            argv[0] = sys.executable
        elif argv and argv[0] == "bash":
            argv[0] = shutil.which("bash") or "/bin/bash"
        return argv, env

    def _log(self, container: Mapping[str, Any]) -> TextIO:
        path = self.root / f"{container['name']}.log"
        self.logs[container["name"]] = path
        return path.open("ab")  # type: ignore[return-value]

    def _spawn(
        self, container: Mapping[str, Any], env_extra: Mapping[str, str] | None
    ) -> subprocess.Popen[bytes]:
        argv, env = self.command(container)
        env.update(env_extra or {})
        with self._lock:  # never start a process after stop() began
            if self._stopped:
                raise AssertionError(f"{self.name} was stopped")
            with self._log(container) as log:
                proc = subprocess.Popen(
                    argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.processes.append(proc)
        return proc

    def run_init(self, timeout: float, env_extra: Mapping[str, str] | None = None) -> None:
        for container in self.spec.get("initContainers") or []:
            proc = self._spawn(container, env_extra)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"{self.name}/{container['name']} did not finish in {timeout}s"
                ) from None
            if code != 0:
                raise AssertionError(
                    f"{self.name}/{container['name']} exited {code}:\n{self.tail(container['name'])}"
                )

    def start(self, env_extra: Mapping[str, str] | None = None) -> None:
        for container in self.spec["containers"]:
            self._spawn(container, env_extra)

    def exited(self) -> list[str]:
        return [f"pid {p.pid} exited {p.returncode}" for p in self.processes if p.poll() not in (None, 0)]

    def tail(self, name: str | None = None, lines: int = 40) -> str:
        out = []
        for container, path in self.logs.items():
            if name in (None, container) and path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {self.name}/{container} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """SIGTERM each process group we started (by its leader's PID), then SIGKILL."""
        with self._lock:
            self._stopped = True
        for proc in self.processes:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Children (workers, log servers) live in the same group: make sure of them too.
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(timeout=10)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
