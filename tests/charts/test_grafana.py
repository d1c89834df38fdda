"""Grafana's provisioning: every dashboard file reaches the pod, wired to the datasource."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.charts.render import (
    CHART,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    REPO,
    Manifests,
    helm,
    parse_manifests,
    render_overlay,
)

DASHBOARDS = REPO / "grafana" / "dashboards"
DATASOURCE_UID = "simple-etl-warehouse"


def grafana_spec(manifests: Manifests) -> dict:
    return manifests.get("Deployment", f"{RELEASE}-grafana")["spec"]["template"]["spec"]


def datasource_uids(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and "uid" in source:
            found.add(source["uid"])
        for value in node.values():
            found |= datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= datasource_uids(value)
    return found


def test_every_dashboard_file_is_provisioned_verbatim(default_manifests: Manifests) -> None:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert files, "grafana/dashboards/ holds no dashboard"
    data = default_manifests.configmap_data(f"{RELEASE}-grafana-dashboards")
    assert set(data) == {f.name for f in files}
    for path in files:
        assert json.loads(data[path.name]) == json.loads(path.read_text()), path.name


def test_dashboards_use_the_provisioned_datasource_uid(default_manifests: Manifests) -> None:
    for path in DASHBOARDS.glob("*.json"):
        uids = datasource_uids(json.loads(path.read_text()))
        assert uids <= {DATASOURCE_UID, "-- Grafana --", "grafana"}, f"{path.name}: {uids}"


def test_provisioning_files_sit_where_grafana_reads_them(default_manifests: Manifests) -> None:
    spec = grafana_spec(default_manifests)
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for kind in ("datasources", "dashboards"):
        mount = mounts[f"/etc/grafana/provisioning/{kind}/{kind}.yaml"]
        assert volumes[mount["name"]]["configMap"]["name"] == f"{RELEASE}-grafana-provisioning"
        assert mount["subPath"] == f"{kind}.yaml"
    provider = yaml.safe_load(
        default_manifests.configmap_data(f"{RELEASE}-grafana-provisioning")["dashboards.yaml"]
    )
    (entry,) = provider["providers"]
    dashboards_mount = mounts[entry["options"]["path"]]
    assert volumes[dashboards_mount["name"]]["configMap"]["name"] == f"{RELEASE}-grafana-dashboards"
    assert entry["allowUiUpdates"] is False, "the files are the source of truth"


def test_the_chart_picks_up_every_json_file_in_the_folder(tmp_path: Path) -> None:
    """A new dashboard needs no chart change: render a copy with two more files."""
    chart = tmp_path / "simple-etl"
    shutil.copytree(CHART, chart, symlinks=False, ignore=shutil.ignore_patterns("dashboards"))
    (chart / "dashboards").mkdir()
    for path in DASHBOARDS.glob("*.json"):
        shutil.copy(path, chart / "dashboards")
    for name in ("visitors.json", "demographics.json"):
        (chart / "dashboards" / name).write_text(json.dumps({"uid": name, "title": name, "panels": []}))
    (chart / "dashboards" / "notes.txt").write_text("not a dashboard")
    out = helm(
        "template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
        "--show-only", "templates/grafana/grafana-dashboards-configmap.yaml",
        "--show-only", "templates/grafana/grafana-test-pod.yaml",
    ).stdout  # fmt: skip
    manifests = parse_manifests(out)
    data = manifests.configmap_data(f"{RELEASE}-grafana-dashboards")
    expected = {p.name for p in DASHBOARDS.glob("*.json")} | {"visitors.json", "demographics.json"}
    assert set(data) == expected
    test_env = {
        e["name"]: e.get("value")
        for e in manifests.get("Pod", f"{RELEASE}-grafana-test")["spec"]["containers"][0]["env"]
    }
    assert test_env["EXPECTED_DASHBOARDS"] == str(len(expected)), "helm test expects every dashboard"


def grafana_env(manifests: Manifests) -> dict[str, str]:
    (container,) = manifests.get("Deployment", f"{RELEASE}-grafana")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_behind_tls_the_session_cookie_is_secure() -> None:
    production = grafana_env(render_overlay("production"))
    assert production["GF_SERVER_ROOT_URL"] == "https://grafana.example.com/"
    assert production["GF_SECURITY_COOKIE_SECURE"] == "true"
    assert production["GF_SECURITY_COOKIE_SAMESITE"] == "strict"
    # Plain HTTP on localhost (kind): a secure cookie would never come back.
    kind = grafana_env(render_overlay("kind"))
    assert "GF_SECURITY_COOKIE_SECURE" not in kind


ALERTING = REPO / "grafana" / "alerting"
ALERTING_DIR = "/etc/grafana/provisioning/alerting"


def alerting_wiring(manifests: Manifests) -> tuple[dict | None, dict | None]:
    """The mount of Grafana's provisioning/alerting/ directory and its volume, if any."""
    spec = grafana_spec(manifests)
    mounts = [m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"].startswith(ALERTING_DIR)]
    if not mounts:
        return None, None
    (mount,) = mounts
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def test_alert_rule_files_are_mounted_into_provisioning_alerting(default_manifests: Manifests) -> None:
    files = sorted(ALERTING.glob("*.yaml"))
    assert files, "grafana/alerting/ holds no alert rule file"
    mount, volume = alerting_wiring(default_manifests)
    assert mount is not None and volume is not None
    assert mount["mountPath"] == ALERTING_DIR and mount["readOnly"] is True and "subPath" not in mount
    # Only the alert files: Grafana reads every file of that directory as alerting resources.
    assert volume["configMap"]["name"] == f"{RELEASE}-grafana-provisioning"
    assert volume["configMap"]["items"] == [{"key": f"alerting-{f.name}", "path": f.name} for f in files]
    data = default_manifests.configmap_data(f"{RELEASE}-grafana-provisioning")
    for path in files:
        assert data[f"alerting-{path.name}"] == path.read_text(), path.name


def render_with_alert_files(tmp_path: Path, files: dict[str, str]) -> Manifests:
    """The Grafana objects of a copy of the chart whose alerting/ folder holds `files`."""
    chart = tmp_path / "simple-etl"
    shutil.copytree(CHART, chart, symlinks=False, ignore=shutil.ignore_patterns("alerting"))
    (chart / "alerting").mkdir()
    for name, text in files.items():
        (chart / "alerting" / name).write_text(text)
    out = helm(
        "template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
        "--show-only", "templates/grafana/grafana-provisioning-configmap.yaml",
        "--show-only", "templates/grafana/grafana-deployment.yaml",
    ).stdout  # fmt: skip
    return parse_manifests(out)


def test_the_chart_picks_up_every_alerting_yaml_file(tmp_path: Path, default_manifests: Manifests) -> None:
    """A new rule file needs no chart change, and changing one restarts Grafana to read it."""
    files = {path.name: path.read_text() for path in ALERTING.glob("*.yaml")}
    files["storage.yaml"] = "apiVersion: 1\ngroups: []\n"
    manifests = render_with_alert_files(tmp_path / "more", {**files, "notes.txt": "not a rule file"})
    data = manifests.configmap_data(f"{RELEASE}-grafana-provisioning")
    assert {k.removeprefix("alerting-"): v for k, v in data.items() if k.startswith("alerting-")} == files
    _, volume = alerting_wiring(manifests)
    assert volume is not None
    assert sorted(item["path"] for item in volume["configMap"]["items"]) == sorted(files)

    def checksum(objects: Manifests) -> str:
        template = objects.get("Deployment", f"{RELEASE}-grafana")["spec"]["template"]
        return template["metadata"]["annotations"]["checksum/provisioning"]

    assert checksum(manifests) != checksum(default_manifests)


def test_without_alert_files_grafana_mounts_no_alerting_directory(tmp_path: Path) -> None:
    # An empty `items` would mount the whole ConfigMap, datasources.yaml included.
    manifests = render_with_alert_files(tmp_path, {})
    assert alerting_wiring(manifests) == (None, None)
    data = manifests.configmap_data(f"{RELEASE}-grafana-provisioning")
    assert set(data) == {"datasources.yaml", "dashboards.yaml"}
