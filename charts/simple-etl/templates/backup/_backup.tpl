{{/*
The backup pod: the Postgres image's clients, each database's owner from its Secret, the
backup volume. Call with (list $ "args"...): `backup`, or `restore NAME`.
*/}}
{{- define "simple-etl.backup.podSpec" -}}
{{- $ctx := index . 0 -}}
restartPolicy: Never
# The release namespace's tokenless account without any Role (etl-serviceaccount.yaml).
serviceAccountName: {{ include "simple-etl.componentName" (list $ctx "etl") }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with include "simple-etl.imagePullSecrets" $ctx }}
{{ . | trim }}
{{- end }}
{{- with include "simple-etl.priorityClassName" $ctx }}
{{ . | trim }}
{{- end }}
securityContext:
  {{- include "simple-etl.podSecurityContext" (dict "uid" 999 "gid" 999) | nindent 2 }}
containers:
  - name: backup
    image: {{ include "simple-etl.image" (list $ctx $ctx.Values.postgres.image) }}
    imagePullPolicy: {{ $ctx.Values.postgres.image.pullPolicy }}
    command: ["sh", "/etc/simple-etl/backup/backup.sh"]
    args: {{ toJson (rest .) }}
    env:
      - name: BACKUP_DIR
        value: /backups
      - name: KEEP
        value: {{ $ctx.Values.backup.keep | quote }}
      - name: PGHOST
        value: {{ include "simple-etl.postgres.host" $ctx | quote }}
      - name: PGPORT
        value: {{ include "simple-etl.postgres.port" $ctx | quote }}
      - name: PGSSLMODE
        value: {{ include "simple-etl.postgres.sslMode" $ctx | quote }}
      {{- include "simple-etl.dbCa.env" $ctx | nindent 6 }}
      - name: PGCONNECT_TIMEOUT
        value: "10"
      - name: AIRFLOW_DB
        value: {{ $ctx.Values.database.airflow.name | quote }}
      - name: WAREHOUSE_DB
        value: {{ $ctx.Values.database.warehouse.name | quote }}
      {{- range $role, $secret := dict "AIRFLOW" (include "simple-etl.airflowDb.secretName" $ctx) "ETL" (include "simple-etl.etlDb.secretName" $ctx) }}
      - name: {{ $role }}_USER
        valueFrom:
          secretKeyRef:
            name: {{ $secret }}
            key: username
      - name: {{ $role }}_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ $secret }}
            key: password
      {{- end }}
    resources:
      {{- toYaml $ctx.Values.backup.resources | nindent 6 }}
    securityContext:
      {{- include "simple-etl.containerSecurityContext" $ctx | nindent 6 }}
    volumeMounts:
      - name: script
        mountPath: /etc/simple-etl/backup
        readOnly: true
      - name: backups
        mountPath: /backups
      - name: tmp
        mountPath: /tmp
      {{- include "simple-etl.dbCa.volumeMount" $ctx | nindent 6 }}
volumes:
  - name: script
    configMap:
      name: {{ include "simple-etl.componentName" (list $ctx "backup") }}
  - name: backups
    persistentVolumeClaim:
      claimName: {{ default (include "simple-etl.componentName" (list $ctx "backups")) $ctx.Values.backup.persistence.existingClaim }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- include "simple-etl.dbCa.volume" $ctx | nindent 2 }}
{{- end -}}
