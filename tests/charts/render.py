"""`helm template` as a function: render the chart and get the objects back.

Everything runs the pinned helm in .tools/bin (installed by `make tools`) against the
chart in the working tree, offline, for Kubernetes 1.34.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "simple-etl"
HELM = REPO / ".tools" / "bin" / "helm"
KUBE_VERSION = "1.34.0"
RELEASE = "simple-etl"
NAMESPACE = "simple-etl"
ETL_NAMESPACE = f"{NAMESPACE}-etl"  # the chart's default etl.namespace.name
# What a 1.34 cluster serves beyond `helm template`'s built-in list: the chart renders its
# admission policy only where the API exists.
API_VERSIONS = ("--api-versions", "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy")

# Every values overlay shipped in k8s/, alone and in the combination the README uses.
OVERLAYS: dict[str, tuple[str, ...]] = {
    "default": (),
    "kind": ("k8s/values-kind.yaml",),
    "offline": ("k8s/values-offline.yaml",),
    "kind+offline": ("k8s/values-kind.yaml", "k8s/values-offline.yaml"),
    "production": ("k8s/values-production.yaml",),
}

_HELM_HOME = tempfile.mkdtemp(prefix="simple-etl-helm-home-")


class HelmError(RuntimeError):
    pass


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the pinned helm with a private, empty home (no repos, no user config)."""
    if not HELM.exists():
        raise HelmError(f"{HELM} is missing: run `make tools`")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": _HELM_HOME,
        "HELM_CACHE_HOME": f"{_HELM_HOME}/cache",
        "HELM_CONFIG_HOME": f"{_HELM_HOME}/config",
        "HELM_DATA_HOME": f"{_HELM_HOME}/data",
        # No cluster unless a test brings one (the fake API for lookup).
        "KUBECONFIG": str(kubeconfig) if kubeconfig else f"{_HELM_HOME}/no-kubeconfig",
    }
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, env=env, timeout=120)
    if check and result.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} failed:\n{helm_errors(result.stderr)}")
    return result


def helm_errors(stderr: str) -> str:
    """stderr without Helm's notice that it follows the dashboards symlink."""
    return "\n".join(line for line in stderr.splitlines() if "found symbolic link in path" not in line)


def _values_args(values: Mapping[str, Any] | None, values_files: Sequence[str], tmp: Path) -> list[str]:
    args: list[str] = []
    for name in values_files:
        args += ["--values", str(REPO / name)]
    if values:
        path = tmp / "values.json"
        path.write_text(json.dumps(values))  # JSON is YAML
        args += ["--values", str(path)]
    return args


def _render(key: str) -> str:
    spec = json.loads(key)
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "template", spec["release"], str(CHART),
            "--namespace", spec["namespace"], "--kube-version", KUBE_VERSION, *API_VERSIONS,
            *_values_args(spec["values"], spec["values_files"], Path(tmp)),
            *[arg for name in spec["show_only"] for arg in ("--show-only", name)],
            *spec["extra_args"],
        ]  # fmt: skip
        return helm(*args).stdout


_render_cached = functools.lru_cache(maxsize=128)(_render)


def render_text(
    values: Mapping[str, Any] | None = None,
    values_files: Sequence[str] = (),
    show_only: Sequence[str] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    extra_args: Sequence[str] = (),
    cache: bool = True,
) -> str:
    key = json.dumps(
        {
            "values": values or {},
            "values_files": list(values_files),
            "show_only": list(show_only),
            "release": release,
            "namespace": namespace,
            "extra_args": list(extra_args),
        },
        sort_keys=True,
    )
    return _render_cached(key) if cache else _render(key)


def parse_manifests(text: str) -> Manifests:
    return Manifests(doc for doc in yaml.safe_load_all(text) if doc)


def render_chart(
    values: Mapping[str, Any] | None = None,
    values_files: Sequence[str] = (),
    show_only: Sequence[str] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    extra_args: Sequence[str] = (),
    cache: bool = True,
) -> Manifests:
    """The objects `helm template` renders (hooks included), parsed; identical calls are cached."""
    text = render_text(values, values_files, show_only, release, namespace, extra_args, cache)
    return copy.deepcopy(parse_manifests(text))


def render_overlay(overlay: str, values: Mapping[str, Any] | None = None) -> Manifests:
    return render_chart(values=values, values_files=OVERLAYS[overlay])


def render_error(values: Mapping[str, Any] | None = None, extra_args: Sequence[str] = ()) -> str:
    """Render expecting Helm to refuse; returns its error output."""
    with tempfile.TemporaryDirectory() as tmp:
        result = helm(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
            *API_VERSIONS, *_values_args(values, (), Path(tmp)), *extra_args, check=False,
        )  # fmt: skip
    if result.returncode == 0:
        raise AssertionError("helm template succeeded but was expected to fail")
    return helm_errors(result.stderr)


class Manifests(list[dict[str, Any]]):
    """The rendered objects, with look-ups by kind and name."""

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self if o["kind"] in kinds]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        for obj in self:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None

    def get(self, kind: str, name: str) -> dict[str, Any]:  # type: ignore[override]
        obj = self.find(kind, name)
        if obj is None:
            raise KeyError(f"{kind}/{name} is not rendered; rendered: {sorted(self.inventory())}")
        return obj

    def in_namespace(self, namespace: str) -> Manifests:
        """The objects rendered into a namespace (the release's when they name none)."""
        return Manifests(o for o in self if o["metadata"].get("namespace", NAMESPACE) == namespace)

    def inventory(self) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in self}

    def secret_data(self, name: str) -> dict[str, str]:
        secret = self.get("Secret", name)
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def configmap_data(self, name: str) -> dict[str, str]:
        return dict(self.get("ConfigMap", name).get("data") or {})

    def workloads(self) -> list[dict[str, Any]]:
        return self.of_kind("Deployment", "StatefulSet", "Pod", "Job", "DaemonSet", "CronJob")


# ---- values -------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values files: maps merge key by key, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_values(overlay: str = "default", values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    merged = load_yaml(CHART / "values.yaml")
    for name in OVERLAYS[overlay]:
        merged = deep_merge(merged, load_yaml(REPO / name) or {})
    return deep_merge(merged, values or {})


def leaf_paths(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted paths of the leaves of a values tree (an empty map is a leaf)."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            leaves.update(leaf_paths(value, path + "."))
        else:
            leaves[path] = value
    return leaves


PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")


def documented_params() -> dict[str, str]:
    """`## @param path description` lines of values.yaml."""
    found = {}
    for line in (CHART / "values.yaml").read_text().splitlines():
        match = PARAM.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def documented_existing_secrets(values: Mapping[str, Any]) -> dict[str, set[str]]:
    """Existing Secrets the values name, with the keys values.yaml documents for each.

    The key names are the backticked words of the value's `## @param` description; a
    CA bundle Secret (`…caSecret.name`) has the one key its `…caSecret.key` names.
    """
    params = documented_params()
    leaves = leaf_paths(values)
    found: dict[str, set[str]] = {}
    for path, value in leaves.items():
        if path.endswith(("existingSecret", "SecretName")) and value:  # as _checks.tpl names them
            found[value] = set(re.findall(r"`([^`]+)`", params[path]))
        elif path.endswith("caSecret.name") and value:
            found[value] = {leaves[path.removesuffix("name") + "key"]}
    return found


def iter_strings(tree: Any) -> Iterable[str]:
    if isinstance(tree, Mapping):
        for value in tree.values():
            yield from iter_strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from iter_strings(value)
    elif isinstance(tree, str):
        yield tree
