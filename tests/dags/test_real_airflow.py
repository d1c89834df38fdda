"""The DAG under Airflow's own processes, each against a freshly migrated metadata database.

Parsing is done by `airflow dag-processor`, the component that parses DAGs in production;
runs by `dag.test()` with the pods marked as succeeded (there is no cluster here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import DAGS_FOLDER

DAG_RUNNER = Path(__file__).with_name("dag_runner.py")
INTERVAL = "2025-06-01T10:05:00+00:00"


@dataclass
class AirflowHome:
    """A private AIRFLOW_HOME with its own SQLite metadata database, driven by subprocesses."""

    path: Path
    extra_env: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SIMPLE_ETL_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.path),
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.path}/airflow.db",
            }
        )
        env.update(self.extra_env)
        return env

    def python(self, *args: str, exit_codes: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode in exit_codes, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def airflow(self, *args: str, exit_codes: tuple[int, ...] = (0,)) -> str:
        return self.python("-m", "airflow", *args, exit_codes=exit_codes)

    def airflow_json(self, *args: str, exit_codes: tuple[int, ...] = (0,)) -> Any:
        # Airflow may print warnings on stdout before the one line of JSON.
        return json.loads(self.airflow(*args, "-o", "json", exit_codes=exit_codes).splitlines()[-1])

    def migrated(self) -> AirflowHome:
        self.airflow("db", "migrate")
        return self

    def parse_like_the_dag_processor(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One loop of the real dag-processor, then what it recorded: import errors and DAGs."""
        self.airflow("dag-processor", "--num-runs", "1")
        # list-import-errors exits with 1 when it lists any.
        errors = self.airflow_json("dags", "list-import-errors", exit_codes=(0, 1))
        dags = self.airflow_json("dags", "list")
        return errors, dags


def new_home(factory: pytest.TempPathFactory, **extra_env: str) -> AirflowHome:
    return AirflowHome(factory.mktemp("airflow-home"), extra_env).migrated()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    return new_home(tmp_path_factory)


@pytest.fixture(scope="module")
def runs(airflow: AirflowHome) -> list[dict[str, Any]]:
    """Real runs: manual without a logical date over 3 shards, then one interval run twice."""
    requests = [
        {"logical_date": None, "conf": {"shards": 3}},
        {"logical_date": INTERVAL},
        {"logical_date": INTERVAL},
    ]
    output = airflow.python(str(DAG_RUNNER), json.dumps(requests))
    results = [
        json.loads(line.removeprefix("RESULT ")) for line in output.splitlines() if line.startswith("RESULT ")
    ]
    assert len(results) == len(requests), output
    return results


# -- parsing ------------------------------------------------------------------------------------


def test_dag_processor_parses_the_dags_without_import_errors(airflow: AirflowHome) -> None:
    errors, dags = airflow.parse_like_the_dag_processor()
    assert errors == []
    assert sorted((d["dag_id"], d["fileloc"]) for d in dags) == [
        ("random_users_etl", str(DAGS_FOLDER / "random_users_etl.py")),
        ("simple_etl_maintenance", str(DAGS_FOLDER / "random_users_etl.py")),
    ]


def test_dag_processor_reports_a_bad_setting(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The parse check above can fail: a broken setting shows up as an import error."""
    home = new_home(tmp_path_factory, SIMPLE_ETL_IMAGE_PULL_POLICY="Sometimes")
    errors, dags = home.parse_like_the_dag_processor()
    assert [e["filepath"] for e in errors] == ["random_users_etl.py"]
    assert "SIMPLE_ETL_IMAGE_PULL_POLICY must be one of" in errors[0]["error"]
    assert dags == []


# -- runs ---------------------------------------------------------------------------------------


def shard_plan(run: dict[str, Any], visited_at: str, shards: int) -> list[list[str]]:
    return [
        [
            "run",
            "--batch-id",
            run["run_id"],
            "--shard",
            str(i),
            "--shards",
            str(shards),
            "--visited-at",
            visited_at,
        ]
        for i in range(shards)
    ]


def test_manual_run_without_logical_date_uses_its_trigger_time(runs: list[dict[str, Any]]) -> None:
    manual = runs[0]
    assert manual["state"] == "success"
    assert manual["logical_date"] is None  # what Airflow 3 gives a manual trigger by default
    assert manual["plan"] == shard_plan(manual, visited_at=manual["run_after"], shards=3)
    datetime.fromisoformat(manual["plan"][0][-1])  # ISO-8601 with an offset, as the CLI wants


def test_shards_param_fans_extract_load_out(runs: list[dict[str, Any]]) -> None:
    instances = runs[0]["task_instances"]
    assert [i for i in instances if i[0] == "extract_load"] == [
        ["extract_load", shard, "success"] for shard in range(3)
    ]
    assert {i[0] for i in instances} == {"migrate", "plan_shards", "extract_load", "quality_check"}


def test_interval_run_visits_at_the_interval_end_in_one_shard(runs: list[dict[str, Any]]) -> None:
    interval = runs[1]
    assert interval["state"] == "success"
    assert interval["logical_date"] == INTERVAL
    assert interval["plan"] == shard_plan(interval, visited_at=INTERVAL, shards=1)


def test_rerunning_an_interval_loads_the_same_batch(runs: list[dict[str, Any]]) -> None:
    first, again = runs[1], runs[2]
    assert again["run_id"] == first["run_id"]
    assert again["plan"] == first["plan"]


def test_quality_check_checks_the_batch_of_its_run(airflow: AirflowHome, runs: list[dict[str, Any]]) -> None:
    run_id = runs[0]["run_id"]
    rendered = airflow.airflow("tasks", "render", "random_users_etl", "quality_check", run_id)
    assert repr(["check", "--batch-id", run_id]) in rendered
