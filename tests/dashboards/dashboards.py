"""The provisioned dashboards as the tests read them: files, panels and their SQL targets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"

# What the chart provisions (docs/interfaces.md): Grafana >= 10.2.3 calls the core
# PostgreSQL plugin `grafana-postgresql-datasource` (`postgres` is only an alias).
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "simple-etl-warehouse"}

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """One SQL target of one panel."""

    file: str
    panel: Json
    target: Json

    @property
    def sql(self) -> str:
        return self.target["rawSql"]

    @property
    def id(self) -> str:
        return f"{self.file}:{self.panel['id']}:{self.panel['title']}:{self.target['refId']}"


def files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


@cache
def load(name: str) -> Json:
    return json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, including those folded into a collapsed row."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[Query]:
    return [
        Query(path.name, panel, target)
        for path in files()
        for panel in panels(load(path.name))
        for target in panel.get("targets", [])
    ]
