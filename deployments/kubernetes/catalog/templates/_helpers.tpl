{{/* The chart's names and labels. */}}
{{- define "catalog.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "catalog.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "catalog.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Every role's environment: the services, the secrets as files, the extra settings. */}}
{{- define "catalog.env" -}}
- name: CATALOG_KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: CATALOG_TOPICS
  value: {{ .Values.kafka.topics | quote }}
- name: CATALOG_TOPIC_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: CATALOG_API_URL
  value: {{ printf "http://%s-api:%v" (include "catalog.fullname" .) .Values.roles.api.port | quote }}
- name: CATALOG_PG_URL_FILE
  value: /var/run/secrets/catalog/postgres/url
{{- if .Values.redis.urlSecret.name }}
- name: CATALOG_REDIS_URL_FILE
  value: /var/run/secrets/catalog/redis/url
{{- else }}
- name: CATALOG_REDIS_ADDR
  value: none
{{- end }}
{{- if .Values.kafka.tls.enabled }}
- name: CATALOG_KAFKA_TLS
  value: "true"
{{- if .Values.kafka.tls.caSecret.name }}
- name: CATALOG_KAFKA_TLS_CA_FILE
  value: /var/run/secrets/catalog/kafka-ca/ca.crt
{{- end }}
{{- end }}
{{- if .Values.kafka.sasl.mechanism }}
- name: CATALOG_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: CATALOG_KAFKA_SASL_USER
  value: {{ .Values.kafka.sasl.user | quote }}
- name: CATALOG_KAFKA_SASL_PASSWORD_FILE
  value: /var/run/secrets/catalog/kafka-sasl/password
{{- end }}
{{- if .Values.admin.tokenSecret.name }}
- name: CATALOG_ADMIN_TOKEN_FILE
  value: /var/run/secrets/catalog/admin/token
{{- end }}
{{- if .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.tracing.otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.sampleRatio | quote }}
{{- end }}
{{- range $k, $v := .Values.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* The secrets, each mounted read-only as one file. */}}
{{- define "catalog.volumes" -}}
- name: postgres
  secret:
    secretName: {{ .Values.postgres.urlSecret.name }}
    items: [{key: {{ .Values.postgres.urlSecret.key }}, path: url}]
{{- if .Values.redis.urlSecret.name }}
- name: redis
  secret:
    secretName: {{ .Values.redis.urlSecret.name }}
    items: [{key: {{ .Values.redis.urlSecret.key }}, path: url}]
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret.name }}
    items: [{key: {{ .Values.kafka.tls.caSecret.key }}, path: ca.crt}]
{{- end }}
{{- if .Values.kafka.sasl.mechanism }}
- name: kafka-sasl
  secret:
    secretName: {{ .Values.kafka.sasl.passwordSecret.name }}
    items: [{key: {{ .Values.kafka.sasl.passwordSecret.key }}, path: password}]
{{- end }}
{{- if .Values.admin.tokenSecret.name }}
- name: admin
  secret:
    secretName: {{ .Values.admin.tokenSecret.name }}
    items: [{key: {{ .Values.admin.tokenSecret.key }}, path: token}]
{{- end }}
{{- end -}}

{{- define "catalog.volumeMounts" -}}
- {name: postgres, mountPath: /var/run/secrets/catalog/postgres, readOnly: true}
{{- if .Values.redis.urlSecret.name }}
- {name: redis, mountPath: /var/run/secrets/catalog/redis, readOnly: true}
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret.name }}
- {name: kafka-ca, mountPath: /var/run/secrets/catalog/kafka-ca, readOnly: true}
{{- end }}
{{- if .Values.kafka.sasl.mechanism }}
- {name: kafka-sasl, mountPath: /var/run/secrets/catalog/kafka-sasl, readOnly: true}
{{- end }}
{{- if .Values.admin.tokenSecret.name }}
- {name: admin, mountPath: /var/run/secrets/catalog/admin, readOnly: true}
{{- end }}
{{- end -}}
