"""Staying up through cluster maintenance: disruption budgets and spread for replicated
components, and a priority class for every pod of the release."""

from __future__ import annotations

from tests.charts.render import render_chart, render_overlay
from tests.charts.wiring import selects
from tests.support.kubernetes import pod_spec_of


def test_replicated_components_get_a_disruption_budget_and_spread() -> None:
    manifests = render_overlay("production")
    budgets = {b["metadata"]["name"]: b for b in manifests.of_kind("PodDisruptionBudget")}
    replicated = [d for d in manifests.of_kind("Deployment") if d["spec"]["replicas"] > 1]
    assert replicated, "the production overlay runs replicas"
    for deployment in replicated:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]
        assert budgets.pop(name)["spec"] == {
            "maxUnavailable": 1,
            "selector": deployment["spec"]["selector"],
        }, name
        (spread,) = pod["spec"]["topologySpreadConstraints"]
        assert spread["whenUnsatisfiable"] == "ScheduleAnyway", f"{name}: a preference, never a blocker"
        assert selects(spread["labelSelector"], pod["metadata"]["labels"]), name
    assert budgets == {}, "a budget for a component with one pod blocks every drain"
    assert render_overlay("default").of_kind("PodDisruptionBudget") == []


def test_every_pod_of_the_release_can_get_a_priority_class() -> None:
    manifests = render_chart({"priorityClassName": "data-platform"})
    for obj in manifests.workloads():
        if "helm.sh/hook" not in obj["metadata"].get("annotations", {}):
            assert pod_spec_of(obj).get("priorityClassName") == "data-platform", obj["metadata"]["name"]
    assert all("priorityClassName" not in pod_spec_of(o) for o in render_chart().workloads())
