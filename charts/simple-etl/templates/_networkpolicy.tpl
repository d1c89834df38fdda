{{/*
Building blocks of the NetworkPolicies. Each component's policy selects its own pods and
lists exactly the flows of the data path (docs: ARCHITECTURE.md §3.4); anything else is
denied, in both directions.
*/}}

{{/* A peer: the pods of one component of this release. Call with (list $ "component"). */}}
{{- define "simple-etl.np.peer" -}}
- podSelector:
    matchLabels:
      {{- include "simple-etl.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* A peer: the ETL pods the DAG launches (selected by the DAG's labels). */}}
{{- define "simple-etl.np.etlPeer" -}}
- podSelector:
    matchLabels:
      {{- include "simple-etl.etlPodLabels" . | nindent 6 }}
{{- end -}}

{{/* Name resolution on port 53, to the cluster DNS pods only (or the addresses given). */}}
{{- define "simple-etl.np.dnsEgress" -}}
{{- $dns := .Values.networkPolicy.dns -}}
- to:
    {{- range $dns.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- else }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml $dns.podLabels | nindent 10 }}
    {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* The database: the in-cluster Postgres pods, or the external server's addresses. */}}
{{- define "simple-etl.np.databaseEgress" -}}
{{- if .Values.postgres.enabled }}
- to:
    {{- include "simple-etl.np.peer" (list . "postgres") | nindent 4 }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- to:
    {{- range .Values.networkPolicy.externalDatabaseCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: {{ .Values.externalDatabase.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* The Kubernetes API, for the pods that launch and watch the ETL pods. */}}
{{- define "simple-etl.np.kubeApiEgress" -}}
- to:
    {{- range .Values.networkPolicy.kubeApiServerCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: 443
      protocol: TCP
    - port: 6443
      protocol: TCP
{{- end -}}

{{/* Metadata of a policy. Call with (list $ "policy-name-suffix" "component"). */}}
{{- define "simple-etl.np.metadata" -}}
{{- $ctx := index . 0 -}}
metadata:
  name: {{ include "simple-etl.componentName" (list $ctx (index . 1)) }}
  labels:
    {{- include "simple-etl.labels" (list $ctx (index . 2)) | nindent 4 }}
{{- end -}}
