"""The DAG as Airflow loads it: import, graph, schedule, retries, timeouts, params, docs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from airflow.exceptions import ParamValidationError
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, CronTriggerTimetable
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.sdk.definitions.param import process_params
from airflow.serialization.serialized_objects import DagSerialization

import random_users_etl
from tests.charts.render import RELEASE, render_chart
from tests.dags.conftest import DAGS_FOLDER, load_dagbag

TASK_IDS = {"migrate", "plan_shards", "extract_load", "quality_check"}
POD_TASK_IDS = ["migrate", "extract_load", "quality_check"]


def test_dagbag_imports_without_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    bag = load_dagbag({}, monkeypatch)
    assert bag.import_errors == {}
    assert set(bag.dags) == {"random_users_etl", "simple_etl_maintenance"}
    assert Path(bag.dags["random_users_etl"].fileloc) == DAGS_FOLDER / "random_users_etl.py"


def test_tasks_run_in_order(etl_dag: DAG) -> None:
    assert set(etl_dag.task_ids) == TASK_IDS
    downstream = {task.task_id: task.downstream_task_ids for task in etl_dag.tasks}
    assert downstream == {
        "migrate": {"extract_load"},
        "plan_shards": {"extract_load"},
        "extract_load": {"quality_check"},
        "quality_check": set(),
    }


def test_pod_tasks_are_kubernetes_pod_operators(etl_dag: DAG) -> None:
    for task_id in POD_TASK_IDS:
        task = etl_dag.get_task(task_id)
        assert task.operator_name == "EtlPodOperator", task_id
        assert issubclass(task.operator_class, KubernetesPodOperator), task_id


def test_extract_load_is_mapped_over_the_shard_plan(etl_dag: DAG) -> None:
    extract_load = etl_dag.get_task("extract_load")
    assert isinstance(extract_load, MappedOperator)
    mapped = extract_load.expand_input.value  # type: ignore[attr-defined]
    assert set(mapped) == {"arguments"}
    assert mapped["arguments"].operator.task_id == "plan_shards"


def test_schedule_every_five_minutes_without_catchup(etl_dag: DAG) -> None:
    assert isinstance(etl_dag.timetable, CronTriggerTimetable)
    assert etl_dag.timetable.expression == "*/5 * * * *"
    assert etl_dag.catchup is False
    assert etl_dag.max_active_runs == 1
    assert etl_dag.start_date is not None and etl_dag.start_date.tzinfo is not None


def test_every_task_retries_with_exponential_backoff(etl_dag: DAG) -> None:
    for task in etl_dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == timedelta(seconds=30), task.task_id
        assert task.retry_exponential_backoff == 2.0, task.task_id
        assert task.max_retry_delay == timedelta(minutes=5), task.task_id


def test_every_task_and_the_run_have_timeouts(etl_dag: DAG) -> None:
    assert etl_dag.dagrun_timeout == timedelta(minutes=45)
    timeouts = {task.task_id: task.execution_timeout for task in etl_dag.tasks}
    assert timeouts == {
        "migrate": timedelta(minutes=5),
        "plan_shards": timedelta(minutes=1),
        "extract_load": timedelta(minutes=15),
        "quality_check": timedelta(minutes=5),
    }


def test_pod_tasks_wait_deferred_and_keep_failed_pods(etl_dag: DAG) -> None:
    for task_id in POD_TASK_IDS:
        task = etl_dag.get_task(task_id)
        kwargs = task.partial_kwargs if isinstance(task, MappedOperator) else vars(task)
        assert kwargs["deferrable"] is True, task_id
        assert kwargs["on_finish_action"] == "delete_succeeded_pod", task_id
        assert kwargs["get_logs"] is True, task_id
        assert kwargs["logging_interval"] == 60, task_id  # logs stream while the task is deferred


def test_tags_and_docs(etl_dag: DAG) -> None:
    assert {"simple-etl", "etl", "kubernetes"} <= set(etl_dag.tags)
    assert etl_dag.doc_md is not None
    for word in (*TASK_IDS, "shards", "SIMPLE_ETL_IMAGE", "idempotent"):
        assert word in etl_dag.doc_md, word


def test_dag_survives_serialization(etl_dag: DAG) -> None:
    """What the dag-processor stores and the scheduler and UI read back."""
    restored = DagSerialization.from_dict(DagSerialization.to_dict(etl_dag))
    assert set(restored.task_ids) == TASK_IDS
    assert restored.max_active_runs == 1
    assert restored.get_task("extract_load").is_mapped


# -- the shards param -----------------------------------------------------------------------


def test_shards_defaults_to_one(etl_dag: DAG) -> None:
    params = process_params(etl_dag, etl_dag.get_task("plan_shards"), None, suppress_exception=False)
    assert params["shards"] == 1


@pytest.mark.parametrize("shards", [1, 4, 16])
def test_shards_accepts_one_to_sixteen(etl_dag: DAG, shards: int) -> None:
    conf = {"shards": shards}
    params = process_params(etl_dag, etl_dag.get_task("plan_shards"), conf, suppress_exception=False)
    assert params["shards"] == shards


@pytest.mark.parametrize("shards", [0, -1, 17, 1000, "two", 1.5, None])
def test_shards_rejects_anything_else(etl_dag: DAG, shards: object) -> None:
    # The same check the task runner applies to a run's conf before any task starts.
    with pytest.raises(ParamValidationError, match="shards"):
        process_params(etl_dag, etl_dag.get_task("plan_shards"), {"shards": shards}, suppress_exception=False)


# -- plan_shards --------------------------------------------------------------------------------


def test_plan_gives_every_shard_the_same_batch() -> None:
    plan = random_users_etl.plan_shards.function(
        batch_id="b-1", visited_at="2025-06-01T10:05:00+00:00", shards="3"
    )
    assert plan == [
        [
            "run",
            "--batch-id",
            "b-1",
            "--shard",
            str(shard),
            "--shards",
            "3",
            "--visited-at",
            "2025-06-01T10:05:00+00:00",
        ]
        for shard in range(3)
    ]


@pytest.mark.parametrize("shards", ["0", "17"])
def test_plan_refuses_out_of_range_counts(shards: str) -> None:
    with pytest.raises(ValueError, match="between 1 and 16"):
        random_users_etl.plan_shards.function(batch_id="b", visited_at="t", shards=shards)


# -- settings ------------------------------------------------------------------------------------


def test_namespace_defaults_to_the_one_airflow_runs_in(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("simple-etl\n")
    settings = random_users_etl.EtlPodSettings.from_env({}, namespace_file=namespace_file)
    assert settings.namespace == "simple-etl"


def test_namespace_variable_wins_over_the_own_namespace(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("simple-etl")
    settings = random_users_etl.EtlPodSettings.from_env(
        {"SIMPLE_ETL_NAMESPACE": "etl-jobs"}, namespace_file=namespace_file
    )
    assert settings.namespace == "etl-jobs"


def test_namespace_is_default_outside_a_cluster(tmp_path: Path) -> None:
    settings = random_users_etl.EtlPodSettings.from_env({}, namespace_file=tmp_path / "missing")
    assert settings.namespace == "default"


def test_default_settings_match_the_interface_table(tmp_path: Path) -> None:
    settings = random_users_etl.EtlPodSettings.from_env({}, namespace_file=tmp_path / "missing")
    assert settings == random_users_etl.EtlPodSettings(
        image="simple-etl:0.1.0",
        image_pull_policy="IfNotPresent",
        namespace="default",
        service_account="simple-etl-etl",
        db_secret="simple-etl-etl-db",
        configmap="simple-etl-etl",
        api_url="https://randomuser.me/api/1.4/",
        deferrable=True,
        instance="simple-etl",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("0", False), ("no", False)],
)
def test_deferrable_switch(value: str, expected: bool, tmp_path: Path) -> None:
    environ = {"SIMPLE_ETL_DEFERRABLE": value}
    settings = random_users_etl.EtlPodSettings.from_env(environ, namespace_file=tmp_path / "missing")
    assert settings.deferrable is expected


def test_default_settings_are_what_the_default_chart_install_gives(tmp_path: Path) -> None:
    # The DAG's fallbacks repeat facts the chart owns (the image tag is Chart.yaml's
    # appVersion): they must stay in lockstep with a default `helm install`.
    scheduler = render_chart().get("Deployment", f"{RELEASE}-airflow-scheduler")
    (container,) = scheduler["spec"]["template"]["spec"]["containers"]
    rendered = {e["name"]: e.get("value") for e in container["env"] if e["name"].startswith("SIMPLE_ETL_")}
    defaults = random_users_etl.EtlPodSettings.from_env({}, namespace_file=tmp_path / "missing")
    assert {
        "SIMPLE_ETL_IMAGE": defaults.image,
        "SIMPLE_ETL_IMAGE_PULL_POLICY": defaults.image_pull_policy,
        "SIMPLE_ETL_SERVICE_ACCOUNT": defaults.service_account,
        "SIMPLE_ETL_DB_SECRET": defaults.db_secret,
        "SIMPLE_ETL_CONFIGMAP": defaults.configmap,
        "SIMPLE_ETL_API_URL": defaults.api_url,
        "SIMPLE_ETL_INSTANCE": defaults.instance,
        "SIMPLE_ETL_DB_CA_SECRET": defaults.db_ca_secret,
        "SIMPLE_ETL_DB_CA_KEY": defaults.db_ca_key,
        "SIMPLE_ETL_FAILED_POD_GRACE_HOURS": str(
            int(random_users_etl.MaintenanceSettings.from_env({}).failed_pod_grace.total_seconds() // 3600)
        ),
    } == {name: rendered[name] for name in rendered if name != "SIMPLE_ETL_NAMESPACE"}
