"""Every dashboard read back by Grafana's own schema (grafana-foundation-sdk, pinned):
a key the schema does not know is dropped on decode, a value of the wrong type is changed,
and either means Grafana would not show the panel the JSON describes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.dashboards.dashboards import files, load

NAMES = [path.name for path in files()]
# The files are the classic dashboard JSON that Grafana 12 provisions; v2 is a new format.
pytestmark = pytest.mark.filterwarnings("ignore:Prefer using dashboardv2:DeprecationWarning")


def differences(written: Any, decoded: Any, path: str = "$") -> list[str]:
    """Where the decoded document lost or changed what the file says."""
    if isinstance(written, dict) and isinstance(decoded, dict):
        found = [f"{path}.{key}: dropped" for key in written if key not in decoded]
        for key in written.keys() & decoded.keys():
            found += differences(written[key], decoded[key], f"{path}.{key}")
        return found
    if isinstance(written, list) and isinstance(decoded, list) and len(written) == len(decoded):
        return [
            d
            for i, pair in enumerate(zip(written, decoded, strict=True))
            for d in differences(*pair, f"{path}[{i}]")
        ]
    return [] if written == decoded else [f"{path}: {written!r} became {decoded!r}"]


def round_trip(board: dict[str, Any]) -> dict[str, Any]:
    return json.loads(JSONEncoder().encode(Dashboard.from_json(board)))


@pytest.mark.parametrize("name", NAMES)
def test_grafanas_schema_keeps_every_key_and_value(name):
    assert differences(load(name), round_trip(load(name))) == []


def test_the_comparison_sees_a_key_the_schema_drops():
    board = json.loads(json.dumps(load(NAMES[0])))
    board["panels"][0]["fieldConfigs"] = {}  # a typo of fieldConfig
    assert differences(board, round_trip(board)) == ["$.panels[0].fieldConfigs: dropped"]
