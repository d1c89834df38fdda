{{/*
What the four Airflow components share: configuration, secrets, volumes and the wait
for the metadata database schema.
*/}}

{{- define "simple-etl.airflow.image" -}}
{{- include "simple-etl.image" (list . .Values.airflow.image) -}}
{{- end -}}

{{/* Where the ConfigMap's airflow.cfg is mounted (AIRFLOW_CONFIG points at it). */}}
{{- define "simple-etl.airflow.configDir" -}}/opt/simple-etl/airflow{{- end -}}
{{/* An in-memory emptyDir: SimpleAuthManager needs its passwords file writable. */}}
{{- define "simple-etl.airflow.authDir" -}}/opt/simple-etl/auth{{- end -}}
{{/* Where airflow.auth.fabConfigSecretName's webserver_config.py is mounted (FabAuthManager). */}}
{{- define "simple-etl.airflow.fabConfigDir" -}}/opt/simple-etl/fab{{- end -}}

{{/*
airflow.cfg as a dict of sections. Non-secret settings only; the fernet key, API secret
key, JWT secret and metadata DB URL come from Secrets through AIRFLOW__* variables.
`airflow.config` values are merged over it.
*/}}
{{- define "simple-etl.airflow.configDict" -}}
{{- $core := dict
  "executor" "LocalExecutor"
  "load_examples" "False"
  "dags_are_paused_at_creation" "False"
  "parallelism" (toString .Values.airflow.scheduler.parallelism)
  "execution_api_server_url" (printf "%s/execution/" (include "simple-etl.airflow.apiServerUrl" .))
  "hostname_callable" "airflow.utils.net.get_host_ip_address"
-}}
{{- /*
One shared admin by default (SimpleAuthManager); with a Flask-AppBuilder config, per-user
accounts and audit, and SSO (OAuth/OIDC, LDAP) as that config declares.
*/}}
{{- if .Values.airflow.auth.fabConfigSecretName }}
{{- $_ := set $core "auth_manager" "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager" -}}
{{- else }}
{{- $_ := set $core "auth_manager" "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager" -}}
{{- $_ := set $core "simple_auth_manager_users" (printf "%s:admin" .Values.airflow.admin.username) -}}
{{- $_ := set $core "simple_auth_manager_passwords_file" (printf "%s/passwords.json" (include "simple-etl.airflow.authDir" .)) -}}
{{- end }}
{{- $api := dict "port" "8080" "workers" (toString .Values.airflow.apiServer.workers) -}}
{{- with .Values.airflow.apiServer.baseUrl }}
{{- $_ := set $api "base_url" . -}}
{{- end }}
{{- $config := dict
  "core" $core
  "api" $api
  "logging" (dict "worker_log_server_port" "8793" "trigger_log_server_port" "8794")
  "scheduler" (dict "enable_health_check" "True" "scheduler_health_check_server_port" "8974")
-}}
{{- if .Values.airflow.auth.fabConfigSecretName }}
{{- $_ := set $config "fab" (dict "config_file" (printf "%s/webserver_config.py" (include "simple-etl.airflow.fabConfigDir" .))) -}}
{{- end }}
{{- toYaml (mustMergeOverwrite $config (deepCopy .Values.airflow.config)) -}}
{{- end -}}

{{/*
Environment of every Airflow container. Call with (dict "ctx" $ "waitForDb" bool):
the image's entrypoint polls `airflow db check` (every 3 s) before the command. The init
containers wait up to 3 minutes for a Postgres that is still running initdb; the main
containers start after them and skip the check.
*/}}
{{- define "simple-etl.airflow.env" -}}
{{- $ctx := .ctx -}}
- name: AIRFLOW_CONFIG
  value: {{ include "simple-etl.airflow.configDir" $ctx }}/airflow.cfg
- name: CONNECTION_CHECK_MAX_COUNT
  value: {{ ternary "60" "0" (.waitForDb | default false) | quote }}
# TLS to the metadata DB for both of Airflow's drivers (psycopg2 and asyncpg read it);
# an sslmode query parameter in the URL would break the async one.
- name: PGSSLMODE
  value: {{ include "simple-etl.postgres.sslMode" $ctx | quote }}
{{- include "simple-etl.dbCa.env" $ctx }}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      name: {{ include "simple-etl.airflowDb.secretName" $ctx }}
      key: connection
- name: AIRFLOW__CORE__FERNET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "simple-etl.airflow.secretName" $ctx }}
      key: fernet-key
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "simple-etl.airflow.secretName" $ctx }}
      key: api-secret-key
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "simple-etl.airflow.secretName" $ctx }}
      key: jwt-secret
{{- end -}}

{{/*
The DAG's contract (docs/interfaces.md): what the ETL pods it launches look like. The
dag-processor parses the DAG and the scheduler runs its tasks, so both get it.
*/}}
{{- define "simple-etl.airflow.dagEnv" -}}
- name: SIMPLE_ETL_IMAGE
  value: {{ include "simple-etl.image" (list . .Values.etl.image) | quote }}
- name: SIMPLE_ETL_IMAGE_PULL_POLICY
  value: {{ .Values.etl.image.pullPolicy | quote }}
- name: SIMPLE_ETL_NAMESPACE
  value: {{ include "simple-etl.etl.namespace" . | quote }}
- name: SIMPLE_ETL_SERVICE_ACCOUNT
  value: {{ include "simple-etl.componentName" (list . "etl") | quote }}
- name: SIMPLE_ETL_DB_SECRET
  value: {{ include "simple-etl.etlDb.secretName" . | quote }}
- name: SIMPLE_ETL_CONFIGMAP
  value: {{ include "simple-etl.componentName" (list . "etl") | quote }}
- name: SIMPLE_ETL_API_URL
  value: {{ include "simple-etl.etl.apiUrl" . | quote }}
- name: SIMPLE_ETL_INSTANCE
  value: {{ .Release.Name | quote }}
- name: SIMPLE_ETL_DB_CA_SECRET
  value: {{ include "simple-etl.dbCa.secret" . | quote }}
- name: SIMPLE_ETL_DB_CA_KEY
  value: {{ .Values.externalDatabase.caSecret.key | quote }}
- name: SIMPLE_ETL_FAILED_POD_GRACE_HOURS
  value: {{ .Values.etl.failedPodGraceHours | quote }}
{{- end -}}

{{- define "simple-etl.airflow.volumeMounts" -}}
- name: config
  mountPath: {{ include "simple-etl.airflow.configDir" . }}
  readOnly: true
- name: logs
  mountPath: /opt/airflow/logs
- name: tmp
  mountPath: /tmp
{{- if .Values.airflow.devSync.enabled }}
- name: dags
  mountPath: /opt/airflow/dags
{{- end }}
{{- include "simple-etl.dbCa.volumeMount" . }}
{{- end -}}

{{- define "simple-etl.airflow.volumes" -}}
- name: config
  configMap:
    name: {{ include "simple-etl.componentName" (list . "airflow-config") }}
- name: logs
  emptyDir:
    sizeLimit: 2Gi
- name: tmp
  emptyDir:
    sizeLimit: 512Mi
{{- if .Values.airflow.devSync.enabled }}
- name: dags
  emptyDir:
    sizeLimit: 256Mi
{{- end }}
{{- include "simple-etl.dbCa.volume" . }}
{{- end -}}

{{/*
skaffold dev syncs edited DAG files into the running pods (kubectl exec + tar), which a
read-only root filesystem forbids: with airflow.devSync.enabled the DAGs folder is an
emptyDir, seeded here with the DAGs baked into the image, and the root stays read-only.
*/}}
{{- define "simple-etl.airflow.seedDags" -}}
- name: seed-dags
  image: {{ include "simple-etl.airflow.image" . }}
  imagePullPolicy: {{ .Values.airflow.image.pullPolicy }}
  args: ["bash", "-c", "cp -R /opt/airflow/dags/. /opt/simple-etl/dags/"]
  env:
    - name: CONNECTION_CHECK_MAX_COUNT
      value: "0"
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      cpu: 200m
      memory: 128Mi
  securityContext:
    {{- include "simple-etl.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: dags
      mountPath: /opt/simple-etl/dags
{{- end -}}

{{/* Pod-level settings shared by the Airflow pods. Call with (dict "ctx" $ "launcher" bool). */}}
{{- define "simple-etl.airflow.podSpec" -}}
{{- $ctx := .ctx -}}
{{- if .launcher -}}
# Launches and watches the ETL pods: the only Airflow pods with an API token.
serviceAccountName: {{ include "simple-etl.componentName" (list $ctx "airflow-launcher") }}
automountServiceAccountToken: true
enableServiceLinks: false
{{- else -}}
serviceAccountName: {{ include "simple-etl.componentName" (list $ctx "airflow") }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- end }}
{{- include "simple-etl.imagePullSecrets" $ctx }}
{{- include "simple-etl.priorityClassName" $ctx }}
# The image's `airflow` user; GID 0 as the image expects.
securityContext:
  {{- include "simple-etl.podSecurityContext" (dict "uid" 50000 "gid" 0) | nindent 2 }}
{{- end -}}

{{/*
Every component but the scheduler waits in an init container until the scheduler's
`airflow db migrate` init container has brought the schema to this image's version.
*/}}
{{- define "simple-etl.airflow.waitForMigrations" -}}
- name: wait-for-migrations
  image: {{ include "simple-etl.airflow.image" . }}
  imagePullPolicy: {{ .Values.airflow.image.pullPolicy }}
  args: ["airflow", "db", "check-migrations", "--migration-wait-timeout", "{{ .Values.airflow.migrations.waitTimeout }}"]
  env:
    {{- include "simple-etl.airflow.env" (dict "ctx" . "waitForDb" true) | nindent 4 }}
  resources:
    {{- toYaml .Values.airflow.migrations.resources | nindent 4 }}
  securityContext:
    {{- include "simple-etl.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "simple-etl.airflow.volumeMounts" . | nindent 4 }}
{{- end -}}

{{- define "simple-etl.airflow.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/airflow/airflow-configmap.yaml") . | sha256sum }}
{{- end -}}
