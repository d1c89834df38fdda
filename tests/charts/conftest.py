"""Fixtures of the chart tests: rendered overlays, and a Postgres set up by the chart's init."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.charts.pods import Addresses, LocalPod
from tests.charts.render import OVERLAYS, RELEASE, Manifests, render_chart, render_overlay
from tests.support.postgres import PostgresServer, running_server

POSTGRES_SERVICE = f"{RELEASE}-postgres"


@pytest.fixture(params=list(OVERLAYS), ids=list(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def manifests(overlay: str) -> Manifests:
    return render_overlay(overlay)


@pytest.fixture(scope="session")
def default_manifests() -> Manifests:
    return render_chart()


# What `make up` and `skaffold dev` deploy: the parity tests run this overlay.
PARITY_OVERLAY = "kind"


@dataclass
class ChartDatabase:
    """A fresh server on which the init script the chart mounts has run."""

    server: PostgresServer
    manifests: Manifests
    addresses: Addresses
    init_output: str


def run_chart_init(server: PostgresServer, manifests: Manifests, root: Path) -> tuple[Addresses, str]:
    """The rendered init, run the way the postgres image runs it on an empty data directory.

    The script gets the postgres container's rendered environment (Secrets resolved), and
    reaches the server over its Unix socket as the superuser, as in the container.
    """
    addresses = Addresses()
    addresses.add(POSTGRES_SERVICE, 5432, server.host, server.port)
    statefulset = manifests.get("StatefulSet", POSTGRES_SERVICE)
    pod = LocalPod(manifests, statefulset, root, addresses)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    _, env = pod.command(container)
    fs = pod.filesystem(container)
    script = fs["/docker-entrypoint-initdb.d"] / "10-simple-etl.sh"
    env.update(PGHOST=str(server.socket_dir), PGPORT=str(server.port))
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"the chart's Postgres init failed:\n{result.stdout}\n{result.stderr}"
    return addresses, result.stdout + result.stderr


@pytest.fixture(scope="session")
def chart_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartDatabase]:
    """A server of its own on which the chart's init has run: the init creates fixed role
    names (airflow, etl, grafana_reader) that the shared `pg_server` of the other tiers
    must not see."""
    manifests = render_overlay(PARITY_OVERLAY)
    with running_server() as server:
        addresses, output = run_chart_init(server, manifests, tmp_path_factory.mktemp("postgres-pod"))
        yield ChartDatabase(server, manifests, addresses, output)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path
