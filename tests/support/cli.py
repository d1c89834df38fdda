"""Run the real `simple-etl` command in a child process, as a pod would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.postgres import environ_without_libpq


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.strip()]

    @property
    def error(self) -> str:
        """The one error line a failed command prints."""
        failures = [entry for entry in self.logs if entry["event"].endswith(".failed")]
        assert len(failures) == 1, self.stderr
        return failures[0]["error"]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "simple_etl", *args]


def simple_etl(*args: str, env: Mapping[str, str], timeout: float = 300) -> Result:
    done = subprocess.run(
        command(*args), env=environ_without_libpq(env), capture_output=True, text=True, timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        env=environ_without_libpq(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
