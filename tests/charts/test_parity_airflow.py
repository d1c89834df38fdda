"""Parity (b): the four Airflow components, started here with exactly the pods the chart
renders (args, environment with Secrets resolved, volumes, init containers), come up
against the chart's database and report every component healthy; the `helm test` pods
pass against them. Also the offline API, started as its Deployment says.

Deviations from a cluster, each forced by running on one machine: Service hosts map to
loopback; the api-server and the fake API listen on free ports (a Service would forward
to them); the scheduler starts no DAG runs (there is no Kubernetes API to launch pods in).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.conftest import ChartDatabase
from tests.charts.pods import Addresses, LocalPod
from tests.charts.render import RELEASE, REPO, render_overlay

COMPONENTS = ("scheduler", "api-server", "dag-processor", "triggerer")
HEALTH = ("metadatabase", "scheduler", "dag_processor", "triggerer")
STARTUP_TIMEOUT = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a loopback URL we built
        return json.load(response)


def health_status(url: str) -> dict[str, str | None]:
    try:
        health = get_json(url)
    except (OSError, ValueError):
        return {}
    return {key: (health.get(key) or {}).get("status") for key in HEALTH}


class AirflowOnThisMachine:
    def __init__(self, db: ChartDatabase, root: Path) -> None:
        self.manifests = db.manifests
        self.api_port = free_port()
        self.addresses = Addresses(dict(db.addresses.routes))
        self.addresses.add(f"{RELEASE}-airflow-api-server", 8080, "127.0.0.1", self.api_port)
        self.pods = {
            c: LocalPod(
                self.manifests,
                self.manifests.get("Deployment", f"{RELEASE}-airflow-{c}"),
                root,
                self.addresses,
            )
            for c in COMPONENTS
        }
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []

    def overrides(self, component: str) -> dict[str, str]:
        extra = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
        if component == "api-server":
            extra["AIRFLOW__API__PORT"] = str(self.api_port)
        return extra

    def _run_pod(self, component: str) -> None:
        try:
            self.pods[component].run_init(timeout=STARTUP_TIMEOUT, env_extra=self.overrides(component))
            self.pods[component].start(env_extra=self.overrides(component))
        except AssertionError as error:
            self.errors.append(str(error))

    def start(self) -> None:
        """Like the kubelet: every pod at once, each running its init containers first."""
        for component in COMPONENTS:
            thread = threading.Thread(target=self._run_pod, args=(component,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Every process we started, by PID: pods refuse new ones once stopped."""
        for pod in self.pods.values():
            pod.stop()
        for thread in self._threads:
            thread.join(timeout=30)
        for pod in self.pods.values():
            pod.stop()

    def logs(self) -> str:
        return "\n".join(pod.tail() for pod in self.pods.values())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


@pytest.fixture(scope="module")
def airflow(
    chart_db: ChartDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowOnThisMachine]:
    platform = AirflowOnThisMachine(chart_db, tmp_path_factory.mktemp("airflow-pods"))
    try:
        platform.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        status: dict[str, str | None] = {}
        while time.monotonic() < deadline:
            status = health_status(platform.url + "/api/v2/monitor/health")
            dead = [f"{name}: {pod.exited()}" for name, pod in platform.pods.items() if pod.exited()]
            if platform.errors or dead:
                pytest.fail(f"an Airflow container failed: {platform.errors or dead}\n{platform.logs()}")
            if status and all(s == "healthy" for s in status.values()):
                break
            time.sleep(2)
        else:
            pytest.fail(f"Airflow did not become healthy in {STARTUP_TIMEOUT}s: {status}\n{platform.logs()}")
        yield platform
    finally:
        platform.stop()


def test_the_api_server_reports_every_component_healthy(airflow: AirflowOnThisMachine) -> None:
    health = get_json(airflow.url + "/api/v2/monitor/health")
    assert {key: health[key]["status"] for key in HEALTH} == dict.fromkeys(HEALTH, "healthy")


def test_the_airflow_helm_test_passes(airflow: AirflowOnThisMachine, tmp_path: Path) -> None:
    """The `helm test` pod's script: health, auth on (anonymous refused), admin password works."""
    test_pod = airflow.manifests.get("Pod", f"{RELEASE}-airflow-test")
    pod = LocalPod(airflow.manifests, test_pod, tmp_path, airflow.addresses)
    argv, env = pod.command(test_pod["spec"]["containers"][0])
    assert env["AIRFLOW_URL"] == airflow.url
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "admin login works" in result.stdout


def test_the_admin_password_is_the_one_in_the_secret(airflow: AirflowOnThisMachine) -> None:
    password = airflow.manifests.secret_data(f"{RELEASE}-airflow-admin")["password"]
    for candidate, expected in ((password, 201), (password + "x", 401)):
        request = urllib.request.Request(  # noqa: S310
            airflow.url + "/auth/token",
            data=json.dumps({"username": "admin", "password": candidate}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == expected


def api_token(airflow: AirflowOnThisMachine) -> str:
    password = airflow.manifests.secret_data(f"{RELEASE}-airflow-admin")["password"]
    request = urllib.request.Request(  # noqa: S310
        airflow.url + "/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)["access_token"]


def api_get(airflow: AirflowOnThisMachine, path: str, token: str) -> Any:
    request = urllib.request.Request(airflow.url + path, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def test_the_dag_processor_parses_the_dags_with_the_rendered_environment(
    airflow: AirflowOnThisMachine,
) -> None:
    """The DAGs baked into the image (seeded into the writable folder) import cleanly."""
    expected = {p.stem for p in (REPO / "dags").glob("*.py")}
    seeded = {p.stem for p in airflow.pods["dag-processor"].volume("dags").glob("*.py")}
    assert seeded == expected, "seed-dags copies the image's DAGs"
    token = api_token(airflow)
    deadline = time.monotonic() + 90
    while True:
        errors = api_get(airflow, "/api/v2/importErrors", token)
        assert errors["total_entries"] == 0, errors["import_errors"]
        dags = {d["dag_id"] for d in api_get(airflow, "/api/v2/dags", token)["dags"]}
        if dags:
            break
        assert time.monotonic() < deadline, f"no DAG parsed from {expected}\n{airflow.logs()}"
        time.sleep(2)
    if "random_users_etl" in expected:
        assert "random_users_etl" in dags


def test_the_components_write_only_to_their_volumes(airflow: AirflowOnThisMachine) -> None:
    """readOnlyRootFilesystem holds: nothing lands in the image's own directories."""
    for name, pod in airflow.pods.items():
        assert pod.writes_outside_volumes() == [], name


def test_the_fake_api_deployment_serves_the_url_the_dag_gets(tmp_path: Path) -> None:
    manifests = render_overlay("offline")
    scheduler = manifests.get("Deployment", f"{RELEASE}-airflow-scheduler")
    dag_env = {
        e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    port = free_port()
    addresses = Addresses()
    addresses.add(f"{RELEASE}-fake-api", 8080, "127.0.0.1", port)
    pod = LocalPod(manifests, manifests.get("Deployment", f"{RELEASE}-fake-api"), tmp_path, addresses)
    pod.listen_ports[8080] = port
    try:
        pod.start()
        container = manifests.get("Deployment", f"{RELEASE}-fake-api")["spec"]["template"]["spec"][
            "containers"
        ][0]
        probe = f"http://127.0.0.1:{port}{container['readinessProbe']['httpGet']['path']}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(probe, timeout=2).close()
                break
            except OSError:
                assert not pod.exited(), pod.tail()
                assert time.monotonic() < deadline, f"the fake API never answered {probe}\n{pod.tail()}"
                time.sleep(0.3)
        api_url = addresses.rewrite(dag_env["SIMPLE_ETL_API_URL"])
        page = get_json(api_url + "?results=3&seed=parity&page=1")
        assert len(page["results"]) == page["info"]["results"] == 3
    finally:
        pod.stop()
