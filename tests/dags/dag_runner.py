"""Run the DAG once per request with Airflow's own `dag.test()`, pods marked as succeeded.

Runs in a subprocess of the tests, against a migrated metadata database (AIRFLOW_HOME
and AIRFLOW__CORE__DAGS_FOLDER from the environment). Everything but the pods runs for
real: the scheduler's dependency loop, param validation, template rendering of
`plan_shards` for the run's own context, XCom, and the expansion of `extract_load`.

Usage: python dag_runner.py '[{"logical_date": null, "conf": {"shards": 3}}, ...]'
Prints one JSON line per run.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.settings import Session
from sqlalchemy import select

POD_TASKS = r"^(migrate|extract_load|quality_check)$"


def run(dag: Any, logical_date: str | None, conf: dict[str, Any] | None) -> dict[str, Any]:
    when = datetime.fromisoformat(logical_date) if logical_date else None
    # A logical date gets a fixed run_after, as the scheduler's runs have; none means "now".
    dag_run = dag.test(logical_date=when, run_after=when, run_conf=conf, mark_success_pattern=POD_TASKS)
    with Session() as session:
        xcom = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag.dag_id, task_ids="plan_shards", key="return_value"
            )
        ).one_or_none()
        instances = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dag_run.run_id
            )
        ).all()
    return {
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "logical_date": dag_run.logical_date.isoformat() if dag_run.logical_date else None,
        "run_after": dag_run.run_after.isoformat(),
        "plan": XComModel.deserialize_value(xcom) if xcom else None,
        "task_instances": sorted([task_id, map_index, str(state)] for task_id, map_index, state in instances),
    }


def parse() -> Any:
    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["random_users_etl"]
    for task in dag.tasks:
        # A broken template must fail the run now, not after minutes of retry backoff.
        task.retries = 0
    return dag


def main(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        # A fresh DAG per run, as each Airflow task process has: in one process, Airflow keeps
        # a run's conf in the DAG's Param objects and the next run would inherit it.
        result = run(parse(), request.get("logical_date"), request.get("conf"))
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
