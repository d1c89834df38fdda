"""`helm upgrade` from the chart before the ETL namespace (issue 15) keeps data and Secrets.

The older chart is taken from git (UPGRADE_FROM) and rendered against a fake API server,
whose Secrets are then what the upgrade's `lookup` reads: every Secret keeps its values,
the ETL namespace gets the same ETL password, and nothing Kubernetes refuses to change on
an existing object (selectors, the Postgres volume claim) moves. The upgrade on a real
cluster, with data loaded, is the end-to-end tier's.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.charts.fake_kube_api import fake_kube_api
from tests.charts.render import ETL_NAMESPACE, NAMESPACE, RELEASE, Manifests
from tests.charts.test_secrets import render_with_cluster, store_secrets
from tests.support.chart_history import UPGRADE_FROM, chart_at


@pytest.fixture(scope="module")
def old_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_at(UPGRADE_FROM, tmp_path_factory.mktemp("chart-before"))


@pytest.fixture(scope="module")
def upgrade(old_chart: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifests, Manifests]:
    tmp = tmp_path_factory.mktemp("upgrade")
    with fake_kube_api() as api:
        before = render_with_cluster(api, tmp, chart=old_chart)
        store_secrets(api, before)
        after = render_with_cluster(api, tmp)
    return before, after


def secrets(manifests: Manifests, namespace: str = NAMESPACE) -> dict[str, dict[str, str]]:
    return {s["metadata"]["name"]: s["data"] for s in manifests.in_namespace(namespace).of_kind("Secret")}


def test_every_secret_keeps_its_values(upgrade: tuple[Manifests, Manifests]) -> None:
    before, after = secrets(upgrade[0]), secrets(upgrade[1])
    assert before.keys() == after.keys()
    for name, data in before.items():
        moved = {"connection"} if name == f"{RELEASE}-airflow-db" else set()
        assert {k: v for k, v in data.items() if k not in moved} == {
            k: v for k, v in after[name].items() if k not in moved
        }, name


def test_only_the_database_host_of_airflows_connection_changes(upgrade: tuple[Manifests, Manifests]) -> None:
    before, after = (m.secret_data(f"{RELEASE}-airflow-db")["connection"] for m in upgrade)
    old, new = urlsplit(before), urlsplit(after)
    assert (old.username, old.password, old.port, old.path) == (
        new.username,
        new.password,
        new.port,
        new.path,
    )
    assert (old.hostname, new.hostname) == (f"{RELEASE}-postgres", f"{RELEASE}-postgres.{NAMESPACE}.svc")


def test_the_etl_namespace_gets_the_same_etl_password(upgrade: tuple[Manifests, Manifests]) -> None:
    before = secrets(upgrade[0])[f"{RELEASE}-etl-db"]
    assert secrets(upgrade[1], ETL_NAMESPACE) == {f"{RELEASE}-etl-db": before}


def test_nothing_immutable_changes(upgrade: tuple[Manifests, Manifests]) -> None:
    before, after = upgrade
    for kind in ("Deployment", "StatefulSet"):
        for old in before.in_namespace(NAMESPACE).of_kind(kind):
            new = after.get(kind, old["metadata"]["name"])
            assert new["spec"]["selector"] == old["spec"]["selector"], old["metadata"]["name"]
    old_db, new_db = (m.get("StatefulSet", f"{RELEASE}-postgres")["spec"] for m in upgrade)
    assert new_db["serviceName"] == old_db["serviceName"]
    assert new_db["volumeClaimTemplates"] == old_db["volumeClaimTemplates"]
