{{/* The chart's name, truncated to what Kubernetes names allow. */}}
{{- define "servicecenterd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release's, with the chart's unless it holds it. */}}
{{- define "servicecenterd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "servicecenterd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "servicecenterd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "servicecenterd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "servicecenterd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
{{- end }}

{{- define "servicecenterd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "servicecenterd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The replicas: replicaCount, else 2 (replicated) or 1 (embedded). */}}
{{- define "servicecenterd.replicas" -}}
{{- if kindIs "invalid" .Values.replicaCount }}
{{- ternary 1 2 (eq .Values.mode "embedded") }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* The probes' and ServiceMonitor's scheme. */}}
{{- define "servicecenterd.scheme" -}}
{{- if .Values.tls.secretName }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/*
servicecenterd.validate fails the render, with a message naming the value,
on a combination that would deploy something broken.
*/}}
{{- define "servicecenterd.validate" -}}
{{- $v := .Values }}
{{- $replicas := include "servicecenterd.replicas" . | int }}
{{- if not (has $v.mode (list "replicated" "embedded")) }}
{{- fail (printf "mode %q: want replicated or embedded" $v.mode) }}
{{- end }}
{{- if and (eq $v.mode "embedded") (ne $replicas 1) }}
{{- fail (printf "mode embedded runs one replica (its SQLite store is one process's): replicaCount is %d; use mode replicated with a database for more" $replicas) }}
{{- end }}
{{- if and (eq $v.mode "replicated") (lt $replicas 1) }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if and (eq $v.mode "replicated") (not $v.database.existingSecret) }}
{{- fail "mode replicated needs database.existingSecret: the Secret holding the PostgreSQL URL the replicas share" }}
{{- end }}
{{- if and (eq $v.mode "replicated") $v.redis.enabled (not $v.redis.existingSecret) }}
{{- fail "redis.enabled needs redis.existingSecret: the Secret holding the Redis URL" }}
{{- end }}
{{- if and $v.top.url (not $v.top.credentialsSecret) }}
{{- fail "top.url needs top.credentialsSecret: the Secret holding app-secret and session" }}
{{- end }}
{{- if and (not $v.auth.clientsSecret) (not $v.auth.insecureAllowUnauthenticated) }}
{{- fail "auth.clientsSecret is empty: callers could not authenticate; name the Secret holding the clients file, or set auth.insecureAllowUnauthenticated when a mesh guards the ports" }}
{{- end }}
{{- if and $v.tls.clientCA (not $v.tls.secretName) }}
{{- fail "tls.clientCA needs tls.secretName" }}
{{- end }}
{{- if le (int $v.terminationGracePeriodSeconds) (add (int $v.drainDelaySeconds) (int $v.shutdownTimeoutSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed drainDelaySeconds + shutdownTimeoutSeconds (%d): Kubernetes would kill the replica while it drains" (int $v.terminationGracePeriodSeconds) (add (int $v.drainDelaySeconds) (int $v.shutdownTimeoutSeconds))) }}
{{- end }}
{{- range $k, $_ := $v.settings }}
{{- if has $k (list "grpc_addr" "http_addr" "database_url" "database_url_file" "redis_url" "data_dir" "top_app_secret" "top_session" "clients_file") }}
{{- fail (printf "settings.%s: the chart sets this itself (see values.yaml); secrets never go in a ConfigMap" $k) }}
{{- end }}
{{- end }}
{{- end }}
