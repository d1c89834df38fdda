"""`make bench` keeps working: every contender but dlt (installed only for the benchmark)
runs on a small batch, and the table, the ratios and the JSON come out. No timing is
asserted: benchmarks measure, tests check."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_end_to_end_on_a_small_batch(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "1000", "--repeat", "1", "--naive-people", "50",
         "--dlt-people", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    contenders = {m["contender"]: m for m in results["measurements"]}
    assert set(contenders) == {"project", "copy_floor", "naive", "http_run", "api"}
    assert contenders["project"]["samples"][0]["counts"]["loaded"] == 1000
    assert all(m["people_per_second"] > 0 for m in contenders.values())
    assert {r["ratio"] for r in results["ratios"]} >= {"project / copy_floor", "project / naive"}
    assert "| simple-etl transform + load" in done.stdout and "project / copy_floor" in done.stdout
