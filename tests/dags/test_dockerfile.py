"""The Airflow image's Dockerfile, read statically (no registry here to build it from)."""

from __future__ import annotations

import re
from importlib.metadata import version

from tests.dags.conftest import DAGS_FOLDER

DOCKERFILE = DAGS_FOLDER / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_base_is_the_pinned_official_airflow_3_image_the_tests_use() -> None:
    args = [value for keyword, value in instructions() if keyword == "ARG"]
    assert len(args) == 1
    match = re.fullmatch(r"AIRFLOW_IMAGE=apache/airflow:(\d+\.\d+\.\d+)-python3\.\d+", args[0])
    assert match, args[0]
    # The image runs the Airflow the DAG tests parse and run the DAG with.
    assert match.group(1) == version("apache-airflow")
    assert match.group(1).startswith("3.")


def test_image_is_the_base_plus_the_dag_files() -> None:
    # No RUN: nothing installed, nothing fetched from the internet at build time.
    assert [keyword for keyword, _ in instructions()] == ["ARG", "FROM", "COPY"]
    assert dict(instructions()[1:]) == {
        "FROM": "${AIRFLOW_IMAGE}",
        "COPY": "--chown=airflow:0 *.py /opt/airflow/dags/",
    }


def test_build_context_sends_only_python_files() -> None:
    rules = [
        line.strip()
        for line in (DAGS_FOLDER / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules == ["*", "!*.py"]
