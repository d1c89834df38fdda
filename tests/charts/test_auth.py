"""Who logs in to Airflow: one admin (SimpleAuthManager) by default; per-user accounts and
SSO through Flask-AppBuilder's config (FabAuthManager) in production (issue 15)."""

from __future__ import annotations

from pathlib import PurePosixPath

from tests.charts.pods import all_containers
from tests.charts.render import RELEASE, Manifests, render_overlay
from tests.charts.wiring import airflow_cfg, pod_templates

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def api_server(manifests: Manifests) -> dict:
    return manifests.get("Deployment", f"{RELEASE}-airflow-api-server")["spec"]["template"]["spec"]


def test_by_default_one_admin_signs_in_with_the_generated_password() -> None:
    manifests = render_overlay("default")
    core = airflow_cfg(manifests)["core"]
    assert core["auth_manager"].endswith("SimpleAuthManager")
    assert "fab" not in airflow_cfg(manifests)
    assert [c["name"] for c in api_server(manifests)["initContainers"]][-1] == "write-passwords"


def test_production_signs_users_in_through_the_fab_config_of_a_secret() -> None:
    manifests = render_overlay("production")
    cfg = airflow_cfg(manifests)
    assert cfg["core"]["auth_manager"] == FAB
    assert not {k for k in cfg["core"] if k.startswith("simple_auth_manager")}
    config_file = PurePosixPath(cfg["fab"]["config_file"])
    spec = api_server(manifests)
    assert "write-passwords" not in [c["name"] for c in spec["initContainers"]]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "fab-config"]
    assert volume["secret"] == {
        "secretName": "airflow-sso-config",
        "items": [{"key": "webserver_config.py", "path": config_file.name}],
    }
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "fab-config"]
    assert (PurePosixPath(mount["mountPath"]), mount["readOnly"]) == (config_file.parent, True)


def test_only_the_api_server_reads_the_sso_config() -> None:
    manifests = render_overlay("production")
    readers = {
        template.name
        for template in pod_templates(manifests)
        if any(
            v.get("secret", {}).get("secretName") == "airflow-sso-config"
            for v in template.spec.get("volumes", [])
        )
    }
    assert readers == {f"Deployment/{RELEASE}-airflow-api-server"}


def test_the_helm_test_checks_auth_without_a_password_under_sso() -> None:
    manifests = render_overlay("production")
    (container,) = all_containers(manifests.get("Pod", f"{RELEASE}-airflow-test")["spec"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AUTH"] == "sso"  # the script then stops after "anonymous requests are refused"
    assert 'os.environ["AUTH"] == "sso"' in container["args"][-1]
