"""The kind cluster config: accepted by the pinned kind, and wired to the chart's NodePorts."""

import os
import subprocess
from pathlib import Path

import yaml

from tests.charts.render import render_overlay
from tests.devloop.tools import REPO, pinned

KIND_CONFIG = REPO / "k8s" / "kind-config.yaml"

# Just enough of a Docker CLI for kind to load and validate its config, then refuse to
# pull: the test reaches kind's own validation without creating anything.
STAND_IN_DOCKER = """#!/bin/sh
case "$1" in
  info) echo '{"CgroupVersion":"2","SecurityOptions":["name=seccomp,profile=builtin"]}'; exit 0 ;;
  ps) exit 0 ;;
esac
echo "stand-in docker refuses: $*" >&2
exit 1
"""


def create_cluster(config: Path, tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(STAND_IN_DOCKER)
    docker.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "kubeconfig")}
    done = subprocess.run(
        [str(pinned("kind")), "create", "cluster", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    return done.stderr


def config() -> dict:
    return yaml.safe_load(KIND_CONFIG.read_text())


def test_the_pinned_kind_accepts_the_config(tmp_path):
    node_image = config()["nodes"][0]["image"]
    error = create_cluster(KIND_CONFIG, tmp_path)
    # Past decoding and validation, kind goes for the pinned node image.
    assert f'failed to pull image "{node_image}"' in error, error


def test_the_pinned_kind_rejects_a_broken_config(tmp_path):
    broken = config()
    broken["nodes"][0]["role"] = "controller"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert '"controller" is not a valid node role' in create_cluster(path, tmp_path)


def test_the_node_image_is_pinned_by_version_and_digest():
    image = config()["nodes"][0]["image"]
    name, _, digest = image.partition("@sha256:")
    assert name.startswith("kindest/node:v1.") and len(digest) == 64


def test_port_mappings_match_the_kind_overlays_node_ports():
    node_ports = {
        port["nodePort"]
        for service in render_overlay("kind").of_kind("Service")
        if service["spec"].get("type") == "NodePort"
        for port in service["spec"]["ports"]
    }
    mappings = config()["nodes"][0]["extraPortMappings"]
    assert {m["containerPort"] for m in mappings} == node_ports
    for mapping in mappings:
        assert mapping["hostPort"] == mapping["containerPort"]
        assert mapping["listenAddress"] == "127.0.0.1"  # never exposed beyond the laptop
