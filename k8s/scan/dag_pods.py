"""Write the pods the DAG's tasks would submit as YAML, for the manifest scanner.

Usage: dag_pods.py SETTINGS.json OUTPUT_DIR

SETTINGS.json maps a label to the SIMPLE_ETL_* environment the chart gives the
scheduler, e.g. {"kind": {"SIMPLE_ETL_IMAGE": "simple-etl:0.1.0", ...}}; for each label
OUTPUT_DIR/<label>/dag-pods.yaml gets the pods of one two-shard run, built offline by
the KubernetesPodOperator itself (tests/dags/pods.py), as the API server would get them.
Run it with the project's .venv python, which has Airflow.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"


def main(settings_file: str, output_dir: str) -> None:
    settings: dict[str, dict[str, str]] = json.loads(Path(settings_file).read_text())
    with tempfile.TemporaryDirectory(prefix="simple-etl-scan-airflow-") as home:
        # Airflow reads its configuration when first imported: a private, throwaway home.
        os.environ.update(
            {
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            }
        )
        # As in the dag-processor, modules next to the DAG file are importable.
        sys.path[:0] = [str(DAGS_FOLDER), str(REPO)]
        import yaml
        from airflow.dag_processing.dagbag import DagBag

        from tests.dags.pods import pod_manifests

        for label, env in settings.items():
            for name in [n for n in os.environ if n.startswith("SIMPLE_ETL_")]:
                del os.environ[name]
            os.environ.update(env)
            bag = DagBag(dag_folder=DAGS_FOLDER)  # imports the DAG file afresh: reads the settings again
            if bag.import_errors:
                raise SystemExit(f"the DAG does not import with the {label} settings: {bag.import_errors}")
            pods = pod_manifests(bag.dags["random_users_etl"], shards=2)
            for task, pod in pods.items():
                # The operator adds a random suffix; the scanner's findings name the task instead.
                pod["metadata"]["name"] = "dag-" + re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")
            text = yaml.safe_dump_all(pods.values(), sort_keys=False)
            target = Path(output_dir) / label
            target.mkdir(parents=True, exist_ok=True)
            (target / "dag-pods.yaml").write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
