"""The DAG tier runs Airflow against a private, throwaway AIRFLOW_HOME.

Airflow reads its configuration when it is first imported, so the environment is set
here, before any test module of this folder imports it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="simple-etl-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    }
)
# As in the dag-processor, modules next to the DAG file are importable.
sys.path.insert(0, str(DAGS_FOLDER))

from airflow.dag_processing.dagbag import DagBag  # noqa: E402 - needs the environment above
from airflow.sdk import DAG  # noqa: E402

from tests.dags.pods import pod_manifests  # noqa: E402


@pytest.fixture(autouse=True)
def no_etl_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from the defaults, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith("SIMPLE_ETL_"):
            monkeypatch.delenv(name)


def load_dagbag(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> DagBag:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # DagBag imports the file afresh each time, so the settings are read again.
    return DagBag(dag_folder=DAGS_FOLDER)


@pytest.fixture
def parse_dags(monkeypatch: pytest.MonkeyPatch) -> Callable[..., DagBag]:
    """Parse the DAGs folder with these SIMPLE_ETL_* variables set, as a DAG processor would."""
    return lambda **env: load_dagbag(env, monkeypatch)


@pytest.fixture
def parse_etl_dag(parse_dags: Callable[..., DagBag]) -> Callable[..., DAG]:
    def parse(**env: str) -> DAG:
        bag = parse_dags(**env)
        assert bag.import_errors == {}
        return bag.dags["random_users_etl"]

    return parse


@pytest.fixture
def etl_dag(parse_etl_dag: Callable[..., DAG]) -> DAG:
    """The DAG with the default settings."""
    return parse_etl_dag()


@pytest.fixture(scope="session")
def default_pods() -> dict[str, dict[str, Any]]:
    """The pods of one two-shard run with the default settings, built once."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in list(os.environ):
            if name.startswith("SIMPLE_ETL_"):
                monkeypatch.delenv(name)
        bag = load_dagbag({}, monkeypatch)
    assert bag.import_errors == {}
    return pod_manifests(bag.dags["random_users_etl"], shards=2)
