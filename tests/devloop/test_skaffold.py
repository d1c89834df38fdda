"""skaffold.yaml: what `skaffold render --profile kind` deploys, checked against the chart.

The pinned skaffold cannot be installed on the build machines (the Go module proxy
refuses the module and release downloads are out of reach), so these tests apply the
config the way skaffold does — profile patches, valuesFiles, setValueTemplates with the
built image references — and render it with the pinned helm; where a skaffold binary
is present, the last test also runs skaffold's own validation and render.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.charts.render import Manifests, render_chart
from tests.devloop.tools import REPO, TOOLS
from tests.support.kubernetes import pod_spec_of, validate

SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())
BUILT = {"simple-etl": "simple-etl:0a1b2c3d", "simple-etl-airflow": "simple-etl-airflow:4e5f6a7b"}


def with_profiles(*names: str) -> dict[str, Any]:
    """The config with profiles applied, as skaffold does (JSON-patch `add`)."""
    config = copy.deepcopy(SKAFFOLD)
    profiles = {p["name"]: p for p in config.pop("profiles")}
    for name in names:
        for patch in profiles[name]["patches"]:
            assert patch["op"] == "add", patch
            *parents, last = patch["path"].strip("/").split("/")
            target: Any = config
            for key in parents:
                target = target[int(key)] if isinstance(target, list) else target[key]
            if last == "-":
                target.append(patch["value"])
            else:
                target[last] = patch["value"]
    return config


def release_values(release: dict[str, Any]) -> dict[str, Any]:
    """setValues, and setValueTemplates with IMAGE_REPO_*/IMAGE_TAG_* filled in, as nested values."""
    context = {}
    for image, ref in BUILT.items():
        key = image.replace("-", "_")
        context[f"IMAGE_REPO_{key}"], context[f"IMAGE_TAG_{key}"] = ref.split(":")
    flat = dict(release.get("setValues", {}))
    for dotted, template in release["setValueTemplates"].items():
        flat[dotted] = re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: context[m[1]], template)
    values: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return values


def render(*profiles: str) -> Manifests:
    (release,) = with_profiles(*profiles)["deploy"]["helm"]["releases"]
    return render_chart(
        values=release_values(release),
        values_files=release["valuesFiles"],
        release=release["name"],
        namespace=release["namespace"],
    )


def scheduler_env(manifests: Manifests) -> dict[str, str]:
    deployment = manifests.get("Deployment", "simple-etl-airflow-scheduler")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "scheduler"]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("profiles", [("kind",), ("kind", "offline")], ids=["kind", "kind+offline"])
def test_the_rendered_release_is_valid_and_runs_the_built_images(profiles):
    manifests = render(*profiles)
    for obj in manifests:
        validate(obj)
    images = {c["image"] for obj in manifests.workloads() for c in pod_spec_of(obj)["containers"]}
    assert BUILT["simple-etl-airflow"] in images
    assert scheduler_env(manifests)["SIMPLE_ETL_IMAGE"] == BUILT["simple-etl"]


def test_the_offline_profile_points_the_dag_at_the_in_cluster_api():
    online, offline = render("kind"), render("kind", "offline")
    assert online.find("Deployment", "simple-etl-fake-api") is None
    offline.get("Deployment", "simple-etl-fake-api")
    assert scheduler_env(online)["SIMPLE_ETL_API_URL"].startswith("https://randomuser.me/")
    assert scheduler_env(offline)["SIMPLE_ETL_API_URL"].startswith("http://simple-etl-fake-api")


def test_every_built_artifact_is_deployed():
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    templates = " ".join(release["setValueTemplates"].values())
    for artifact in SKAFFOLD["build"]["artifacts"]:
        key = artifact["image"].replace("-", "_")
        assert f".IMAGE_REPO_{key}}}" in templates and f".IMAGE_TAG_{key}}}" in templates
        assert (REPO / artifact["context"] / "Dockerfile").exists()


def test_dag_edits_sync_into_a_writable_dags_folder():
    scheduler = render("kind").get("Deployment", "simple-etl-airflow-scheduler")["spec"]["template"]["spec"]
    (container,) = [c for c in scheduler["containers"] if c["name"] == "scheduler"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/opt/airflow/dags" in mounts and not mounts["/opt/airflow/dags"].get("readOnly")


def test_dag_edits_sync_to_where_the_image_bakes_the_dags():
    (airflow,) = [a for a in SKAFFOLD["build"]["artifacts"] if a["image"] == "simple-etl-airflow"]
    (rule,) = airflow["sync"]["manual"]
    dockerfile = (REPO / airflow["context"] / "Dockerfile").read_text()
    baked = re.search(r"^COPY .*?(\S+)\s+(\S+)/?$", dockerfile, re.MULTILINE)
    assert baked and fnmatch.fnmatch(baked[1], rule["src"]) and baked[2].rstrip("/") == rule["dest"]
    dags = [p.name for p in (REPO / "dags").glob("*.py")]
    assert dags and all(fnmatch.fnmatch(name, rule["src"]) for name in dags)


def test_port_forwards_name_services_and_ports_the_chart_renders():
    manifests = render("kind")
    for forward in SKAFFOLD["portForward"]:
        service = manifests.get("Service", forward["resourceName"])
        assert forward["port"] in {p["port"] for p in service["spec"]["ports"]}


def test_the_real_skaffold_accepts_and_renders_the_config(tmp_path):
    skaffold = shutil.which("skaffold", path=f"{TOOLS}:/usr/local/bin:/usr/bin")
    if skaffold is None:
        pytest.skip("skaffold is not installed (make tools); the tests above emulate its render")
    subprocess.run([skaffold, "diagnose", "--yaml-only", "--profile", "kind"], cwd=REPO, check=True)
    rendered = subprocess.run(
        [skaffold, "render", "--profile", "kind", "--digest-source", "none", "--offline"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for obj in yaml.safe_load_all(rendered):
        if obj:
            validate(obj)
