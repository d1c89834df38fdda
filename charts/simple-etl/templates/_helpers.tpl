{{/*
Names, labels and the wiring every component shares. Every helper carries the chart
prefix so that a parent chart can never shadow it.
*/}}

{{- define "simple-etl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "simple-etl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "simple-etl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<fullname>-<component>", the name of a component's objects. Call with (list $ "grafana"). */}}
{{- define "simple-etl.componentName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "simple-etl.fullname" $ctx) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component. Call with (list $ "component"). */}}
{{- define "simple-etl.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "simple-etl.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Kubernetes recommended labels. Call with (list $ "component"). */}}
{{- define "simple-etl.labels" -}}
{{- $ctx := index . 0 -}}
{{ include "simple-etl.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ $ctx.Chart.Name }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ include "simple-etl.chart" $ctx }}
{{- end -}}

{{/*
The labels the DAG puts on the ETL pods it launches (docs/interfaces.md). They are a
contract with dags/random_users_etl.py, so they do not follow nameOverride.
*/}}
{{- define "simple-etl.etlPodLabels" -}}
app.kubernetes.io/name: simple-etl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: etl
app.kubernetes.io/part-of: simple-etl
{{- end -}}

{{/* The ETL pods' own namespace (etl.namespace): never the release's, which holds every Secret. */}}
{{- define "simple-etl.etl.namespace" -}}
{{- default (printf "%s-etl" .Release.Namespace) .Values.etl.namespace.name -}}
{{- end -}}

{{/*
A Service of this release by the name that resolves from either namespace (the ETL pods
live in their own). Call with (list $ "component").
*/}}
{{- define "simple-etl.serviceHost" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s.%s.svc" (include "simple-etl.componentName" .) $ctx.Release.Namespace -}}
{{- end -}}

{{/*
"repository:tag" with the tag defaulting to the chart's appVersion, and "@digest" when one
is given: the tag stays for people, the digest decides. Call with (list $ .Values.x.image).
*/}}
{{- define "simple-etl.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- printf "%s:%s" $image.repository (default $ctx.Chart.AppVersion $image.tag) -}}
{{- with $image.digest }}@{{ . }}{{ end -}}
{{- end -}}

{{- define "simple-etl.priorityClassName" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
A replicated component's pods spread over nodes when the cluster has several; a
preference, so a single node still schedules them all. Call with (list $ "component" replicas).
*/}}
{{- define "simple-etl.softSpread" -}}
{{- if gt (int (index . 2)) 1 }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "simple-etl.selectorLabels" (list (index . 0) (index . 1)) | nindent 8 }}
{{- end }}
{{- end -}}

{{- define "simple-etl.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Pod and container security contexts: the Pod Security "restricted" profile plus a
read-only root filesystem; writable paths are emptyDirs. Call the pod one with
(dict "uid" 999 "gid" 999).
*/}}
{{- define "simple-etl.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "simple-etl.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* ---- Database wiring -------------------------------------------------------- */}}

{{- define "simple-etl.postgres.host" -}}
{{- if .Values.postgres.enabled -}}
{{- include "simple-etl.serviceHost" (list . "postgres") -}}
{{- else -}}
{{- required "externalDatabase.host is required when postgres.enabled=false" .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "simple-etl.postgres.port" -}}
{{- if .Values.postgres.enabled -}}
{{- .Values.postgres.service.port -}}
{{- else -}}
{{- .Values.externalDatabase.port -}}
{{- end -}}
{{- end -}}

{{/*
The managed server's CA bundle (externalDatabase.caSecret), for sslmode verify-ca and
verify-full: every database client mounts it at one path and points PGSSLROOTCERT at it.
Each helper renders nothing when there is no bundle.
*/}}
{{- define "simple-etl.dbCa.path" -}}/etc/simple-etl/db-ca/ca.crt{{- end -}}

{{- define "simple-etl.dbCa.secret" -}}
{{- if not .Values.postgres.enabled }}{{ .Values.externalDatabase.caSecret.name }}{{ end -}}
{{- end -}}

{{- define "simple-etl.dbCa.env" -}}
{{- if include "simple-etl.dbCa.secret" . }}
- name: PGSSLROOTCERT
  value: {{ include "simple-etl.dbCa.path" . }}
{{- end }}
{{- end -}}

{{- define "simple-etl.dbCa.volumeMount" -}}
{{- if include "simple-etl.dbCa.secret" . }}
- name: db-ca
  mountPath: {{ include "simple-etl.dbCa.path" . | dir }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "simple-etl.dbCa.volume" -}}
{{- with include "simple-etl.dbCa.secret" . }}
- name: db-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.externalDatabase.caSecret.key }}
        path: {{ include "simple-etl.dbCa.path" $ | base }}
{{- end }}
{{- end -}}

{{/* The in-cluster server has no TLS; a managed one is reached with the configured sslmode. */}}
{{- define "simple-etl.postgres.sslMode" -}}
{{- if .Values.postgres.enabled -}}disable{{- else -}}{{ .Values.externalDatabase.sslMode }}{{- end -}}
{{- end -}}

{{- define "simple-etl.postgres.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "postgres")) .Values.postgres.existingSecret -}}
{{- end -}}

{{- define "simple-etl.airflowDb.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "airflow-db")) .Values.database.airflow.existingSecret -}}
{{- end -}}

{{- define "simple-etl.etlDb.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "etl-db")) .Values.database.etl.existingSecret -}}
{{- end -}}

{{- define "simple-etl.readerDb.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "reader-db")) .Values.database.reader.existingSecret -}}
{{- end -}}

{{/* ---- Airflow and Grafana names ----------------------------------------------- */}}

{{- define "simple-etl.airflow.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "airflow")) .Values.airflow.existingSecret -}}
{{- end -}}

{{- define "simple-etl.airflowAdmin.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "airflow-admin")) .Values.airflow.admin.existingSecret -}}
{{- end -}}

{{- define "simple-etl.grafanaAdmin.secretName" -}}
{{- default (include "simple-etl.componentName" (list . "grafana-admin")) .Values.grafana.admin.existingSecret -}}
{{- end -}}

{{- define "simple-etl.airflow.apiServerUrl" -}}
{{- printf "http://%s:%v" (include "simple-etl.componentName" (list . "airflow-api-server")) .Values.airflow.apiServer.service.port -}}
{{- end -}}

{{- define "simple-etl.etl.apiUrl" -}}
{{- if .Values.fakeApi.enabled -}}
{{- printf "http://%s:%v/api/1.4/" (include "simple-etl.serviceHost" (list . "fake-api")) .Values.fakeApi.service.port -}}
{{- else -}}
{{- .Values.etl.apiUrl -}}
{{- end -}}
{{- end -}}

{{/* The TCP port of etl.apiUrl (explicit, or the scheme's default). */}}
{{- define "simple-etl.etl.apiPort" -}}
{{- $url := urlParse .Values.etl.apiUrl -}}
{{- if contains ":" $url.host -}}
{{- last (splitList ":" $url.host) -}}
{{- else if eq $url.scheme "http" -}}
80
{{- else -}}
443
{{- end -}}
{{- end -}}

{{/* ---- Secrets: generated once, kept on upgrade ------------------------------------ */}}

{{/*
One base64 value of a Secret the chart owns: the live value when the Secret already
exists (lookup: helm install/upgrade, or template --dry-run=server), else a new random
one. Call with (dict "ctx" $ "name" "<secret>" "key" "<key>"); "fernet" true makes a
Fernet key (32 random bytes, urlsafe base64) instead of a 32-character password.
*/}}
{{- define "simple-etl.secretValue" -}}
{{- $live := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key -}}
{{- else if .fernet -}}
{{- randBytes 32 | replace "+" "-" | replace "/" "_" | b64enc -}}
{{- else -}}
{{- randAlphaNum 32 | b64enc -}}
{{- end -}}
{{- end -}}

{{/*
Secrets tied to data on a volume (database passwords, the fernet key) outlive an
uninstall, as the Postgres volume does: a re-install adopts them instead of generating
passwords the existing data directory does not know.
*/}}
{{- define "simple-etl.keepSecretAnnotation" -}}
helm.sh/resource-policy: keep
{{- end -}}
