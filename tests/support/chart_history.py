"""The chart as an earlier commit had it, for upgrade tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The last commit whose ETL pods ran in the release's namespace (before issue 15's layout).
UPGRADE_FROM = "4f052bb"


def chart_at(commit: str, where: Path) -> Path:
    """charts/simple-etl (with the dashboards its symlink points at) of `commit`, under `where`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "charts/simple-etl", "grafana/dashboards"],
        capture_output=True,
        timeout=60,
    )
    assert archive.returncode == 0, (
        f"git archive {commit} failed (a shallow clone? `git fetch --unshallow`): {archive.stderr.decode()}"
    )
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True, timeout=60)
    return where / "charts" / "simple-etl"
