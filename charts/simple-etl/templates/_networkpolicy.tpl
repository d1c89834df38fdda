{{/*
Building blocks of the NetworkPolicies. Each component's policy selects its own pods and
lists exactly the flows of the data path (docs: ARCHITECTURE.md §3.4); anything else is
denied, in both directions.
*/}}

{{/*
A peer: the pods of one component of this release, in the release's namespace (named,
so that the ETL namespace's policies can point at them too). Call with (list $ "component").
*/}}
{{- define "simple-etl.np.peer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ (index . 0).Release.Namespace }}
  podSelector:
    matchLabels:
      {{- include "simple-etl.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* A peer: the ETL pods the DAG launches (by the DAG's labels), in their own namespace. */}}
{{- define "simple-etl.np.etlPeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ include "simple-etl.etl.namespace" . }}
  podSelector:
    matchLabels:
      {{- include "simple-etl.etlPodLabels" . | nindent 6 }}
{{- end -}}

{{/*
Who may reach a UI port: anyone (networkPolicy.uiIngressFrom empty: kind's NodePorts,
whose clients arrive from the node), or only those peers (the ingress controller's
namespace) plus the release's own clients of that port, given as components. Call with
(list $ "component"...); the test pods count only while helm tests are on.
*/}}
{{- define "simple-etl.np.uiFrom" -}}
{{- $ctx := index . 0 -}}
{{- with $ctx.Values.networkPolicy.uiIngressFrom -}}
from:
  {{- toYaml . | nindent 2 }}
  {{- range $component := rest $ }}
  {{- if or $ctx.Values.tests.enabled (not (hasSuffix "-test" $component)) }}
  {{- include "simple-etl.np.peer" (list $ctx $component) | nindent 2 }}
  {{- end }}
  {{- end }}
{{- end }}
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

{{/*
Metadata of a policy. Call with (list $ "policy-name-suffix" "component"), and a
namespace as a fourth element for a policy of the ETL namespace.
*/}}
{{- define "simple-etl.np.metadata" -}}
{{- $ctx := index . 0 -}}
metadata:
  name: {{ include "simple-etl.componentName" (list $ctx (index . 1)) }}
  {{- if gt (len .) 3 }}
  namespace: {{ index . 3 }}
  {{- end }}
  labels:
    {{- include "simple-etl.labels" (list $ctx (index . 2)) | nindent 4 }}
{{- end -}}
