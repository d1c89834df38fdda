"""`helm upgrade` from the previous chart, with data loaded (issues 13 and 15).

The chart of tests/support/chart_history.UPGRADE_FROM (ETL pods in the release's own
namespace) is installed and left to load by itself (the DAG runs every five minutes); an
Airflow connection is stored, encrypted with the fernet key. Then this chart is installed
over it with `helm upgrade`. Every row loaded before is still there, every Secret keeps
its values (the Airflow database URL changes only its host), Airflow still decrypts the
connection, and the DAG loads again, now from the ETL namespace. Both charts run this
run's images: what is upgraded is the chart.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import RELEASE, TIMEOUT, helm_install, new_namespace, remove_release
from tests.e2e.kube import CHART, Kube, wait_until
from tests.support.chart_history import UPGRADE_FROM, chart_at

pytestmark = [pytest.mark.e2e, pytest.mark.needs_node]

CONNECTION = "e2e_fernet_check"


class Installed:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace

    def sql(self, query: str) -> list[str]:
        """Rows of `query` in the warehouse, by psql in the Postgres pod as the superuser."""
        return self.kube.psql(self.namespace, f"{RELEASE}-postgres-0", "warehouse", query)

    def airflow(self, *args: str) -> str:
        return self.kube.exec(
            self.namespace, f"deploy/{RELEASE}-airflow-scheduler", "scheduler", "airflow", *args, timeout=120
        )

    def secrets(self) -> dict[str, dict[str, str]]:
        items = self.kube.json("secrets", namespace=self.namespace)["items"]
        return {
            s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
            for s in items
            if s["metadata"]["name"].startswith(RELEASE)
        }

    def succeeded_batches(self) -> int:
        if self.sql("SELECT to_regclass('warehouse.batches') IS NULL") == ["t"]:
            return 0  # not migrated yet: the DAG's first task does it
        return int(self.sql("SELECT count(*) FROM warehouse.batches WHERE status = 'succeeded'")[0])

    def load_one_batch(self, what: str) -> None:
        """A run of the DAG now (not at the next five-minute mark), waited for in the ledger."""
        before = self.succeeded_batches()
        wait_until("the DAG parsed", 300, lambda: self.airflow("dags", "trigger", "random_users_etl"))
        wait_until(what, TIMEOUT, lambda: self.succeeded_batches() > before, interval=10)


@pytest.fixture(scope="module")
def previous(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    namespace = new_namespace(kube)
    try:
        helm_install(kube, "install", chart_at(UPGRADE_FROM, tmp_path_factory.mktemp("previous")), namespace)
        yield Installed(kube, namespace)
    finally:
        remove_release(kube, namespace, installed=True)


@pytest.mark.timeout(3 * TIMEOUT)  # two installs and two DAG runs
def test_an_upgrade_keeps_every_row_every_secret_and_the_fernet_key(previous: Installed) -> None:
    previous.load_one_batch("a batch loaded by the previous chart")
    rows_before = previous.sql("SELECT batch_id || ':' || person_uuid FROM warehouse.visits ORDER BY 1")
    people_before = previous.sql("SELECT count(*) FROM warehouse.people")[0]
    secrets_before = previous.secrets()
    previous.airflow(
        "connections", "add", CONNECTION, "--conn-uri", "postgresql://someone:kept-secret@db:5432/x"
    )

    helm_install(previous.kube, "upgrade", CHART, previous.namespace)

    rows_after = set(previous.sql("SELECT batch_id || ':' || person_uuid FROM warehouse.visits"))
    assert set(rows_before) <= rows_after, "a visit loaded before the upgrade is gone"
    assert int(previous.sql("SELECT count(*) FROM warehouse.people")[0]) >= int(people_before)
    after = previous.secrets()
    for name, data in secrets_before.items():
        if name == f"{RELEASE}-airflow-db":
            old, new = urlsplit(data["connection"]), urlsplit(after[name]["connection"])
            assert (old.username, old.password, old.path) == (new.username, new.password, new.path)
            data = {k: v for k, v in data.items() if k != "connection"}
        assert {k: after[name][k] for k in data} == data, f"Secret {name} changed"
    stored = json.loads(previous.airflow("connections", "get", CONNECTION, "-o", "json"))
    assert stored[0]["password"] == "kept-secret", "Airflow cannot decrypt what it stored before"
    # The new layout runs: the next batch loads from the ETL namespace.
    previous.load_one_batch("a batch loaded after the upgrade")
    pods = previous.kube.json("pods", namespace=f"{previous.namespace}-etl")["items"]
    assert previous.kube.json("namespace", f"{previous.namespace}-etl")["metadata"]["name"]
    assert all(p["metadata"]["labels"]["app.kubernetes.io/component"] == "etl" for p in pods)
