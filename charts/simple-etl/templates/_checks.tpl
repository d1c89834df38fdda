{{/*
Fail fast on combinations the schema cannot express, and on anything in values that
looks like a secret: passwords and keys live in Secrets, never in values (or in the
rendered manifests through them).
*/}}
{{- define "simple-etl.checks" -}}
{{- if not .Values.postgres.enabled -}}
  {{- if not .Values.externalDatabase.host -}}
    {{- fail "postgres.enabled=false needs externalDatabase.host" -}}
  {{- end -}}
  {{- if and (has .Values.externalDatabase.sslMode (list "verify-ca" "verify-full")) (not .Values.externalDatabase.caSecret.name) -}}
    {{- fail (printf "externalDatabase.sslMode=%s needs externalDatabase.caSecret.name: a Secret with the CA bundle that signed the server's certificate" .Values.externalDatabase.sslMode) -}}
  {{- end -}}
  {{- range $role := list "airflow" "etl" "reader" -}}
    {{- if not (index $.Values.database $role).existingSecret -}}
      {{- fail (printf "postgres.enabled=false needs database.%s.existingSecret: the chart cannot create roles on an external server, so it must not invent their passwords" $role) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- range $name, $svc := dict "airflow.apiServer" .Values.airflow.apiServer.service "grafana" .Values.grafana.service -}}
  {{- if and $svc.nodePort (ne $svc.type "NodePort") -}}
    {{- fail (printf "%s.service.nodePort is set but %s.service.type is %s, not NodePort" $name $name $svc.type) -}}
  {{- end -}}
{{- end -}}
{{- range $name, $ing := dict "airflow.apiServer" .Values.airflow.apiServer.ingress "grafana" .Values.grafana.ingress -}}
  {{- if and $ing.enabled (not $ing.host) -}}
    {{- fail (printf "%s.ingress.enabled needs %s.ingress.host" $name $name) -}}
  {{- end -}}
{{- end -}}
{{- if and .Values.grafana.ingress.enabled (not .Values.grafana.enabled) -}}
  {{- fail "grafana.ingress.enabled needs grafana.enabled" -}}
{{- end -}}
{{- if eq (include "simple-etl.etl.namespace" .) .Release.Namespace -}}
  {{- fail "etl.namespace.name must differ from the release namespace: whoever may create ETL pods must not be able to mount the release's other Secrets" -}}
{{- end -}}
{{- include "simple-etl.assertNoSecretLiterals" (dict "path" "" "values" .Values) -}}
{{- end -}}

{{/* Walks the values tree; a non-empty string under a secret-looking key fails the render. */}}
{{- define "simple-etl.assertNoSecretLiterals" -}}
{{- $path := .path -}}
{{- range $key, $value := .values -}}
  {{- $where := ternary $key (printf "%s.%s" $path $key) (eq $path "") -}}
  {{- if kindIs "map" $value -}}
    {{- include "simple-etl.assertNoSecretLiterals" (dict "path" $where "values" $value) -}}
  {{- else if and (kindIs "string" $value) $value (regexMatch "(?i)(passw|secret|token|fernet|credential|private_?key|api_?key|sql_alchemy_conn)" $key) (not (regexMatch "(existingSecret|SecretName)$" $key)) -}}
    {{- fail (printf "%s looks like a secret written into values: store it in a Secret and name that Secret in the matching existingSecret value" $where) -}}
  {{- end -}}
{{- end -}}
{{- end -}}
