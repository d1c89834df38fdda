"""kubectl and the pinned helm as functions, against the cluster of the current kube context.

Which cluster: $KUBECONFIG (or ~/.kube/config) and, when set, $E2E_KUBE_CONTEXT. Which
kubectl: $E2E_KUBECTL, else `kubectl` on PATH. Which helm: .tools/bin/helm (`make tools`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# E2E_CHART: a scratch copy of the chart (e.g. to show that the run catches a mistake).
CHART = Path(os.environ.get("E2E_CHART", REPO / "charts" / "simple-etl"))
HELM = Path(os.environ.get("E2E_HELM", REPO / ".tools" / "bin" / "helm"))


class KubeError(RuntimeError):
    pass


def app_version() -> str:
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', (CHART / "Chart.yaml").read_text(), re.M)
    assert match, "Chart.yaml has no appVersion"
    return match.group(1)


class Kube:
    def __init__(self) -> None:
        self.kubectl_bin = os.environ.get("E2E_KUBECTL") or shutil.which("kubectl") or "kubectl"
        self.context = os.environ.get("E2E_KUBE_CONTEXT", "")

    def _context_args(self, flag: str) -> list[str]:
        return [flag, self.context] if self.context else []

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return _run([self.kubectl_bin, *self._context_args("--context"), *args], input, check, timeout)

    def json(self, *args: str, namespace: str | None = None) -> Any:
        ns = ["--namespace", namespace] if namespace else []
        return json.loads(self.run("get", *args, *ns, "-o", "json").stdout)

    def helm(self, *args: str, check: bool = True, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        if not HELM.exists():
            raise KubeError(f"{HELM} is missing: run `make tools`")
        return _run([str(HELM), *self._context_args("--kube-context"), *args], None, check, timeout)

    def reachable(self) -> str | None:
        """None when the API server answers /readyz, else why not."""
        try:
            self.run("get", "--raw", "/readyz", timeout=20)
        except FileNotFoundError:
            return f"kubectl not found ({self.kubectl_bin}): install it or run `make tools`"
        except (KubeError, subprocess.TimeoutExpired) as error:
            where = f"context {self.context!r}" if self.context else "the current kube context"
            return f"no Kubernetes cluster reachable through {where}: {str(error).strip()[-300:]}"
        return None

    def ready_nodes(self) -> list[str]:
        nodes = self.json("nodes")["items"]
        return [
            node["metadata"]["name"]
            for node in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", [])
            )
            and not node["spec"].get("unschedulable")
        ]

    def can_i(self, verb: str, resource: str, *, namespace: str, as_user: str) -> bool:
        """`kubectl auth can-i`; "pods/log" means the subresource (kubectl would read a pod name)."""
        resource, _, subresource = resource.partition("/")
        sub = ["--subresource", subresource] if subresource else []
        args = ("auth", "can-i", verb, resource, *sub, "--namespace", namespace, "--as", as_user)
        return self.run(*args, check=False).stdout.strip() == "yes"

    def exec(self, namespace: str, pod: str, container: str, *command: str, timeout: float = 60) -> str:
        args = ("exec", "--namespace", namespace, pod, "--container", container, "--", *command)
        return self.run(*args, timeout=timeout).stdout

    def psql(self, namespace: str, pod: str, database: str, sql: str, user: str | None = None) -> list[str]:
        """Rows of `sql` (tab-separated) run by psql inside a Postgres pod, over its socket
        (as the superuser unless `user`)."""
        role = user or '"$POSTGRES_USER"'
        script = f"psql -v ON_ERROR_STOP=1 -X -q -t -A -F '\t' -U {role} -d {database} -c \"$0\""
        out = self.exec(namespace, pod, "postgres", "sh", "-c", script, sql)
        return [line for line in out.splitlines() if line.strip()]

    @contextlib.contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[int]:
        """`kubectl port-forward` to a random local port; yields that port."""
        args = [self.kubectl_bin, *self._context_args("--context"), "port-forward", "--namespace", namespace]
        process = subprocess.Popen(
            [*args, "--address", "127.0.0.1", target, f":{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if not match:
                process.kill()
                rest = process.stdout.read()
                raise KubeError(f"kubectl port-forward {target} failed: {line}{rest}")
            yield int(match.group(1))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _run(
    command: Sequence[str], input: str | None, check: bool, timeout: float
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        shown = " ".join(command[:6]) + (" …" if len(command) > 6 else "")
        raise KubeError(
            f"`{shown}` exited {result.returncode}:\n{result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def wait_until(what: str, timeout: float, probe: Any, interval: float = 3.0) -> Any:
    """Call probe() until it returns something truthy; its last error or value explains a timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except (KubeError, OSError, ValueError, KeyError) as error:
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f}s (last: {last})")
        time.sleep(interval)
