"""
### random_users_etl

Every five minutes, load one batch of "visitors" from the Random User API into the
Postgres warehouse. Each step runs the `simple-etl` image in its own Kubernetes pod:

| task | pod runs | why |
| --- | --- | --- |
| `migrate` | `simple-etl migrate` | the schema is current before anything is loaded (safe to repeat) |
| `plan_shards` | *(no pod)* | turns the `shards` param into one argument list per shard |
| `extract_load` | `simple-etl run --batch-id … --shard I --shards N --visited-at …` | a pod per shard |
| `quality_check` | `simple-etl check --batch-id …` | fails the run when the batch breaks an invariant |

**Batch id.** The Airflow run id. A retried or cleared task of the same run reuses it, and
the ETL skips a batch shard that already succeeded, so re-running an interval is idempotent.
`--visited-at` is the end of the run's data interval; a manual run without a logical date
uses the time it was triggered for.

**Retries.** A pod that exits 3 (the API), 4 (the database), 143 (terminated) or 1 is retried with backoff;
one that exits 2 (configuration) or 5 (the quality gate) fails its task at once: another
attempt would fail the same way.

**Deadlines.** Each pod is told its task's `execution_timeout` less a minute as
`SIMPLE_ETL_DEADLINE_SECONDS`: the client waits out the source's rate-limit window only
while that leaves time, so the ETL fails with its own message rather than being killed.

**Fan-out.** Trigger with `{"shards": N}` to split one batch over N pods (1 to 16). They load
into the same batch; `quality_check` waits for all of them.

**Configuration** comes from the environment of the Airflow components that parse this file
(`SIMPLE_ETL_IMAGE`, `SIMPLE_ETL_NAMESPACE`, `SIMPLE_ETL_DB_SECRET`, … — see
`docs/interfaces.md`). ETL pods run under their own ServiceAccount without an API token,
with the restricted Pod Security profile, and read database credentials only from a Secret.
Succeeded pods are deleted; failed pods are kept for `kubectl logs` / `kubectl describe`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.container import get_container_status
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

DAG_ID = "random_users_etl"
MAINTENANCE_DAG_ID = "simple_etl_maintenance"

# The ETL image runs as this user and group (docs/interfaces.md).
ETL_UID = 10001
MAX_SHARDS = 16
# Where an ETL pod finds the database server's CA bundle, when the chart names one.
DB_CA_FILE = Path("/etc/simple-etl/db-ca/ca.crt")
# Kubelet mounts this into pods that have a token: the scheduler's, not the ETL pods'.
IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

# The chart's NetworkPolicies select ETL pods by exactly these labels, and the release's
# instance label (EtlPodSettings.instance), so two releases in one namespace stay apart.
ETL_POD_LABELS = {
    "app.kubernetes.io/name": "simple-etl",
    "app.kubernetes.io/component": "etl",
    "app.kubernetes.io/part-of": "simple-etl",
    "app.kubernetes.io/managed-by": "airflow",
}

# Data interval end for scheduled runs. A manual run may have no logical date (Airflow 3);
# then the interval keys are missing from the context and the run's `run_after` is used.
VISITED_AT_TEMPLATE = "{{ (data_interval_end | default(dag_run.run_after, true)).isoformat() }}"
BATCH_ID_TEMPLATE = "{{ run_id }}"

# The DAG's interval. ETL pods are told it, so the ETL can refuse a batch volume that the
# source's rate limit (people per client per 5 minutes) could not serve at this pace.
SCHEDULE_MINUTES = 5
# An ETL pod's own deadline ends this long before the task's execution_timeout, so the ETL
# fails with its own message and ledger record instead of being killed mid-wait.
DEADLINE_MARGIN = timedelta(seconds=60)

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


# -- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EtlPodSettings:
    """What the chart tells the DAG about the ETL pods (docs/interfaces.md, scheduler env)."""

    image: str
    image_pull_policy: str
    namespace: str
    service_account: str
    db_secret: str
    configmap: str
    api_url: str
    deferrable: bool
    instance: str
    db_ca_secret: str = ""  # Secret with the database server's CA bundle (sslmode verify-*)
    db_ca_key: str = "ca.crt"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, namespace_file: Path = IN_CLUSTER_NAMESPACE_FILE
    ) -> EtlPodSettings:
        def get(name: str, default: str) -> str:
            # Helm renders unset values as empty strings: treat them as unset.
            return environ.get(name, "").strip() or default

        pull_policy = get("SIMPLE_ETL_IMAGE_PULL_POLICY", "IfNotPresent")
        if pull_policy not in PULL_POLICIES:
            raise ValueError(f"SIMPLE_ETL_IMAGE_PULL_POLICY must be one of {PULL_POLICIES}: {pull_policy!r}")
        return cls(
            image=get("SIMPLE_ETL_IMAGE", "simple-etl:0.1.0"),
            image_pull_policy=pull_policy,
            namespace=get("SIMPLE_ETL_NAMESPACE", "") or own_namespace(namespace_file),
            service_account=get("SIMPLE_ETL_SERVICE_ACCOUNT", "simple-etl-etl"),
            db_secret=get("SIMPLE_ETL_DB_SECRET", "simple-etl-etl-db"),
            configmap=get("SIMPLE_ETL_CONFIGMAP", "simple-etl-etl"),
            api_url=get("SIMPLE_ETL_API_URL", "https://randomuser.me/api/1.4/"),
            deferrable=parse_bool("SIMPLE_ETL_DEFERRABLE", get("SIMPLE_ETL_DEFERRABLE", "true")),
            instance=get("SIMPLE_ETL_INSTANCE", "simple-etl"),
            db_ca_secret=get("SIMPLE_ETL_DB_CA_SECRET", ""),
            db_ca_key=get("SIMPLE_ETL_DB_CA_KEY", "ca.crt"),
        )

    @property
    def pod_labels(self) -> dict[str, str]:
        return {**ETL_POD_LABELS, "app.kubernetes.io/instance": self.instance}


@dataclass(frozen=True)
class MaintenanceSettings:
    """How long what the pipeline leaves behind is kept (docs/operations.md)."""

    # A failed ETL pod stays this long for `kubectl logs` and `kubectl describe`.
    failed_pod_grace: timedelta = timedelta(hours=24)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MaintenanceSettings:
        hours = environ.get("SIMPLE_ETL_FAILED_POD_GRACE_HOURS", "").strip() or "24"
        if not hours.isdigit() or int(hours) < 1:
            raise ValueError(
                f"SIMPLE_ETL_FAILED_POD_GRACE_HOURS must be a whole number of hours, at least 1: {hours!r}"
            )
        return cls(failed_pod_grace=timedelta(hours=int(hours)))


def own_namespace(namespace_file: Path) -> str:
    """The namespace Airflow itself runs in, so ETL pods land next to it by default."""
    try:
        return namespace_file.read_text().strip() or "default"
    except OSError:  # not running in a pod (a laptop, the tests)
        return "default"


def parse_bool(name: str, value: str) -> bool:
    # A typo must not silently flip the mode: refuse it, which shows as a DAG import error.
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


# -- the ETL pod --------------------------------------------------------------------------


def pod_security_context() -> k8s.V1PodSecurityContext:
    """Pod Security Standards "restricted", with the image's own user."""
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=ETL_UID,
        run_as_group=ETL_UID,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,  # the image writes nothing but /tmp (an emptyDir)
        run_as_non_root=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def etl_resources() -> k8s.V1ResourceRequirements:
    # One batch is at most a few thousand JSON records: small requests so shards pack onto
    # kind's single node, limits that stop a runaway pod before it hurts its neighbours.
    return k8s.V1ResourceRequirements(
        requests={"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
        limits={"cpu": "1", "memory": "512Mi", "ephemeral-storage": "512Mi"},
    )


def etl_env(settings: EtlPodSettings, timeout: timedelta) -> list[k8s.V1EnvVar]:
    """Container env: the API base, the task's pace and deadline, and the writer's
    credentials only by secretKeyRef."""
    deadline = max(timeout - DEADLINE_MARGIN, timeout / 2)
    return [
        k8s.V1EnvVar(name="SIMPLE_ETL_API_URL", value=settings.api_url),
        k8s.V1EnvVar(name="SIMPLE_ETL_SCHEDULE_SECONDS", value=str(SCHEDULE_MINUTES * 60)),
        k8s.V1EnvVar(name="SIMPLE_ETL_DEADLINE_SECONDS", value=str(int(deadline.total_seconds()))),
        secret_env("PGUSER", settings.db_secret, "username"),
        secret_env("PGPASSWORD", settings.db_secret, "password"),
        *([k8s.V1EnvVar(name="PGSSLROOTCERT", value=str(DB_CA_FILE))] if settings.db_ca_secret else []),
    ]


def secret_env(name: str, secret: str, key: str) -> k8s.V1EnvVar:
    return k8s.V1EnvVar(
        name=name,
        value_from=k8s.V1EnvVarSource(
            secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key, optional=False)
        ),
    )


def etl_env_from(settings: EtlPodSettings) -> list[k8s.V1EnvFromSource]:
    """PGHOST, PGPORT, PGDATABASE, PGSSLMODE and SIMPLE_ETL_* tuning from the chart's ConfigMap."""
    return [
        k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=settings.configmap, optional=False))
    ]


def etl_volumes(settings: EtlPodSettings) -> list[k8s.V1Volume]:
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="256Mi"))]
    if settings.db_ca_secret:
        items = [k8s.V1KeyToPath(key=settings.db_ca_key, path=DB_CA_FILE.name)]
        secret = k8s.V1SecretVolumeSource(secret_name=settings.db_ca_secret, items=items)
        volumes.append(k8s.V1Volume(name="db-ca", secret=secret))
    return volumes


def etl_volume_mounts(settings: EtlPodSettings) -> list[k8s.V1VolumeMount]:
    mounts = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]  # noqa: S108 - an emptyDir, private to the pod
    if settings.db_ca_secret:
        mounts.append(k8s.V1VolumeMount(name="db-ca", mount_path=str(DB_CA_FILE.parent), read_only=True))
    return mounts


def pod_spec_base(settings: EtlPodSettings) -> k8s.V1Pod:
    """The pod fields KubernetesPodOperator has no argument for; the operator fills in the rest."""
    return k8s.V1Pod(
        spec=k8s.V1PodSpec(
            containers=[],
            # Service links would inject <SERVICE>_PORT-style variables for every Service in the
            # namespace, e.g. SIMPLE_ETL_FAKE_API_PORT, which the ETL rejects as unknown settings.
            enable_service_links=False,
            # Spread one run's shards across nodes when the cluster has several; a preference,
            # so a single-node kind cluster still schedules them all.
            topology_spread_constraints=[
                k8s.V1TopologySpreadConstraint(
                    max_skew=1,
                    topology_key="kubernetes.io/hostname",
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.V1LabelSelector(match_labels=settings.pod_labels),
                    match_label_keys=["run_id"],  # set by the operator on each pod of a run
                )
            ],
        )
    )


def etl_pod_kwargs(settings: EtlPodSettings, task_id: str, timeout: timedelta) -> dict[str, Any]:
    """Arguments shared by every ETL task; only the CLI arguments differ between them."""
    return {
        "task_id": task_id,
        "name": f"simple-etl-{task_id.replace('_', '-')}",
        "namespace": settings.namespace,
        "image": settings.image,
        "image_pull_policy": settings.image_pull_policy,
        "labels": settings.pod_labels,
        "service_account_name": settings.service_account,
        # The ETL never talks to the Kubernetes API: no token to steal.
        "automount_service_account_token": False,
        "security_context": pod_security_context(),
        "container_security_context": container_security_context(),
        "container_resources": etl_resources(),
        "env_vars": etl_env(settings, timeout),
        "env_from": etl_env_from(settings),
        "volumes": etl_volumes(settings),
        "volume_mounts": etl_volume_mounts(settings),
        "full_pod_spec": pod_spec_base(settings),
        "get_logs": True,
        "log_events_on_failure": True,
        # Without a termination message file, the last log line (the ETL's JSON error) shows
        # in `kubectl describe pod` and in the task log.
        "termination_message_policy": "FallbackToLogsOnError",
        # Succeeded pods go; a failed one stays for `kubectl logs` and `kubectl describe`.
        "on_finish_action": "delete_succeeded_pod",
        "startup_timeout_seconds": 300,  # a first image pull on a fresh node
        "execution_timeout": timeout,
        # Kubernetes stops the pod on its own if Airflow loses track of it.
        "active_deadline_seconds": int(timeout.total_seconds()),
        # Waiting on a pod costs no executor slot: the triggerer watches it.
        "deferrable": settings.deferrable,
        # Deferred tasks only see logs when they resume; resume this often to stream them.
        "logging_interval": 60,
    }


# -- failures another attempt cannot fix ---------------------------------------------------

# simple-etl's exit codes (docs/interfaces.md) for which a retry changes nothing: 2, the
# configuration is wrong; 5, the quality gate's verdict on data already loaded. The others
# (3 the source, 4 the database, 1 unexpected) are worth another attempt.
FINAL_EXIT_CODES = {2: "a configuration error", 5: "the quality gate failed"}


class EtlPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator that fails for good, without retries, when the ETL's exit
    code says that another attempt would fail the same way."""

    def cleanup(self, pod: k8s.V1Pod, remote_pod: k8s.V1Pod, *args: Any, **kwargs: Any) -> None:
        try:
            super().cleanup(pod, remote_pod, *args, **kwargs)
        except AirflowSkipException:
            raise
        except AirflowException as error:
            code = exit_code(remote_pod, self.base_container_name)
            if code not in FINAL_EXIT_CODES:
                raise
            raise AirflowFailException(
                f"{error}\nexit code {code}, {FINAL_EXIT_CODES[code]}: not retried, another attempt "
                "would fail the same way"
            ) from error


def exit_code(remote_pod: k8s.V1Pod | None, container: str) -> int | None:
    """The exit code of the pod's `container`, once it has terminated."""
    status = get_container_status(remote_pod, container)
    terminated = status.state.terminated if status and status.state else None
    return terminated.exit_code if terminated else None


# -- fan-out ------------------------------------------------------------------------------


@task(execution_timeout=timedelta(minutes=1))
def plan_shards(batch_id: str, visited_at: str, shards: int | str) -> list[list[str]]:
    """One `simple-etl run` argument list per shard of the batch.

    The values arrive rendered from templates (`shards` as text); mapped pods receive them
    verbatim, because Airflow does not render templates in values that come from XCom.
    """
    count = int(shards)
    if not 1 <= count <= MAX_SHARDS:  # the Param already enforces it; stay safe on direct calls
        raise ValueError(f"shards must be between 1 and {MAX_SHARDS}, not {count}")
    return [run_arguments(batch_id, shard, count, visited_at) for shard in range(count)]


def run_arguments(batch_id: str, shard: int, shards: int, visited_at: str) -> list[str]:
    """`simple-etl run` for one shard of a batch (docs/interfaces.md)."""
    return [
        "run",
        "--batch-id", batch_id,
        "--shard", str(shard),
        "--shards", str(shards),
        "--visited-at", visited_at,
    ]  # fmt: skip


# -- the DAG ------------------------------------------------------------------------------

pod_settings = EtlPodSettings.from_env()

with DAG(
    dag_id=DAG_ID,
    description="Random User API → Postgres warehouse, one Kubernetes pod per ETL step",
    doc_md=__doc__,
    schedule=f"*/{SCHEDULE_MINUTES} * * * *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    # A paused or stopped scheduler resumes with the latest interval, not a flood of old ones.
    catchup=False,
    # Runs of one warehouse go one at a time; the next waits instead of racing the same tables.
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=45),
    default_args={
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,  # from 30 s, 1 min, 2 min on (Airflow adds jitter)
        "max_retry_delay": timedelta(minutes=5),
    },
    params={
        "shards": Param(
            1,
            type="integer",
            minimum=1,
            maximum=MAX_SHARDS,
            title="Shards",
            description="Split this run's extraction over this many pods (same batch).",
        ),
    },
    tags=["simple-etl", "etl", "kubernetes"],
) as dag:
    migrate = EtlPodOperator(
        **etl_pod_kwargs(pod_settings, "migrate", timeout=timedelta(minutes=5)),
        arguments=["migrate"],
    )

    extract_load = EtlPodOperator.partial(
        **etl_pod_kwargs(pod_settings, "extract_load", timeout=timedelta(minutes=15)),
    ).expand(
        arguments=plan_shards(
            batch_id=BATCH_ID_TEMPLATE, visited_at=VISITED_AT_TEMPLATE, shards="{{ params.shards }}"
        ),
    )

    quality_check = EtlPodOperator(
        **etl_pod_kwargs(pod_settings, "quality_check", timeout=timedelta(minutes=5)),
        arguments=["check", "--batch-id", BATCH_ID_TEMPLATE],
    )

    migrate >> extract_load >> quality_check


# -- maintenance --------------------------------------------------------------------------

FINISHED_PHASES = ("Succeeded", "Failed")


def finished_at(pod: k8s.V1Pod) -> datetime:
    """When the pod's last container stopped; its creation when no container says."""
    ends = [
        status.state.terminated.finished_at
        for status in (pod.status.container_statuses or [])
        if status.state and status.state.terminated and status.state.terminated.finished_at
    ]
    return max(ends, default=pod.metadata.creation_timestamp)


def expired_pods(pods: list[k8s.V1Pod], now: datetime, grace: timedelta) -> list[str]:
    """Finished ETL pods past their grace: a failed one has stayed that long for `kubectl
    logs`; a succeeded one the operator did not delete (its task was lost) goes too."""
    return sorted(
        pod.metadata.name
        for pod in pods
        if pod.status and pod.status.phase in FINISHED_PHASES and finished_at(pod) + grace <= now
    )


@task(execution_timeout=timedelta(minutes=5))
def delete_finished_pods() -> list[str]:
    """This release's ETL pods that finished longer ago than the grace, deleted with the
    launcher's own rights (list and delete pods, in the ETL namespace only)."""
    api = KubernetesHook().core_v1_client
    selector = ",".join(f"{key}={value}" for key, value in pod_settings.pod_labels.items())
    pods = api.list_namespaced_pod(pod_settings.namespace, label_selector=selector).items
    expired = expired_pods(pods, datetime.now(UTC), maintenance_settings.failed_pod_grace)
    for name in expired:
        api.delete_namespaced_pod(name, pod_settings.namespace)
    return expired


maintenance_settings = MaintenanceSettings.from_env()

with DAG(
    dag_id=MAINTENANCE_DAG_ID,
    description="Retention of the warehouse and cleanup of finished ETL pods, hourly",
    doc_md="""
### simple_etl_maintenance

Hourly: `migrate` then `retain` (pods of the ETL image; `simple-etl retain`: raw pages and whole
batches past their retention windows, `SIMPLE_ETL_RAW_RETENTION_DAYS` and
`SIMPLE_ETL_VISIT_RETENTION_DAYS`), and `delete_finished_pods` (this release's ETL pods that
finished more than `SIMPLE_ETL_FAILED_POD_GRACE_HOURS` ago). Retention never races a load:
it skips any batch a load holds or that is still running (docs/operations.md).
""",
    schedule="41 * * * *",  # off the five-minute beat of the loads
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["simple-etl", "maintenance", "kubernetes"],
) as maintenance_dag:
    # A fresh install may run this before its first load: the schema first, as the loads do.
    maintenance_migrate = EtlPodOperator(
        **etl_pod_kwargs(pod_settings, "migrate", timeout=timedelta(minutes=5)), arguments=["migrate"]
    )
    retain = EtlPodOperator(
        **etl_pod_kwargs(pod_settings, "retain", timeout=timedelta(minutes=30)), arguments=["retain"]
    )
    maintenance_migrate >> retain
    delete_finished_pods()
