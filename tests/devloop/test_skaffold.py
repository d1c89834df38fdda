"""skaffold.yaml, read and rendered by the pinned skaffold itself (`make test` builds it
into .tools/bin): what `skaffold dev --profile kind` would deploy, checked against the chart.

`skaffold render` applies the profiles, valuesFiles and setValueTemplates exactly as
`skaffold dev` does, with the images of a build record standing in for a build (no
Docker here), and runs the pinned helm for the templates.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess

import pytest
import yaml

from tests.charts.render import Manifests, parse_manifests
from tests.devloop.tools import REPO, TOOLS, pinned
from tests.support.kubernetes import pod_spec_of, validate

SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())
BUILT = {"simple-etl": "simple-etl:0a1b2c3d", "simple-etl-airflow": "simple-etl-airflow:4e5f6a7b"}
PROFILES = ["kind", "offline", "kind,offline"]


@pytest.fixture(scope="module")
def skaffold(tmp_path_factory):
    """Run the pinned skaffold with a private home and the pinned helm first on PATH."""
    home = tmp_path_factory.mktemp("skaffold-home")
    env = {"HOME": str(home), "PATH": f"{TOOLS}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    binary = str(pinned("skaffold"))

    def run(*args: str) -> str:
        result = subprocess.run(
            [binary, *args, "--update-check=false"], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"skaffold {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    return run


@pytest.fixture(scope="module")
def render(skaffold, tmp_path_factory):
    """`skaffold render --profile <profiles>` of the build record BUILT, parsed; cached per profile."""
    work = tmp_path_factory.mktemp("render")
    record = work / "built.json"
    builds = [{"imageName": image, "tag": ref} for image, ref in BUILT.items()]
    record.write_text(json.dumps({"builds": builds}))
    rendered: dict[str, Manifests] = {}

    def render(profiles: str) -> Manifests:
        if profiles not in rendered:
            # To a file: skaffold prints notices on stdout too.
            output = work / f"{profiles}.yaml"
            skaffold(
                "render", "--profile", profiles, "--build-artifacts", str(record),
                "--digest-source", "none", "--offline", "--output", str(output),
            )  # fmt: skip
            rendered[profiles] = parse_manifests(output.read_text())
        return rendered[profiles]

    return render


@pytest.mark.parametrize("profiles", PROFILES)
def test_skaffold_accepts_the_config(skaffold, profiles):
    assert "apiVersion: skaffold/" in skaffold("diagnose", "--yaml-only", "--profile", profiles)


def scheduler_env(manifests: Manifests) -> dict[str, str]:
    deployment = manifests.get("Deployment", "simple-etl-airflow-scheduler")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "scheduler"]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("profiles", PROFILES)
def test_the_rendered_release_is_valid_and_runs_the_built_images(render, profiles):
    manifests = render(profiles)
    for obj in manifests:
        validate(obj)
    images = {c["image"] for obj in manifests.workloads() for c in pod_spec_of(obj)["containers"]}
    assert BUILT["simple-etl-airflow"] in images
    assert scheduler_env(manifests)["SIMPLE_ETL_IMAGE"] == BUILT["simple-etl"]


def test_the_offline_profile_points_the_dag_at_the_in_cluster_api(render):
    online, offline = render("kind"), render("kind,offline")
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


def test_dag_edits_sync_into_a_writable_dags_folder(render):
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


def test_port_forwards_name_services_and_ports_the_chart_renders(render):
    manifests = render("kind")
    for forward in SKAFFOLD["portForward"]:
        service = manifests.get("Service", forward["resourceName"])
        assert forward["port"] in {p["port"] for p in service["spec"]["ports"]}
