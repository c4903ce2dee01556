{{/*
servicecenterd.pod is the pod template of both modes: the Deployment's
(replicated) and the StatefulSet's (embedded). Settings are environment
variables (SERVICECENTERD_*, docs/configuration.md); secrets are files or
secretKeyRefs, never values in the rendered objects.
*/}}
{{- define "servicecenterd.pod" -}}
{{- $v := .Values -}}
metadata:
  labels:
    {{- include "servicecenterd.selectorLabels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $v.settings $v.podAnnotations }}
  annotations:
    {{- if $v.settings }}
    checksum/settings: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "servicecenterd.serviceAccountName" . }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: servicecenterd
      image: "{{ $v.image.repository }}:{{ $v.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: [serve]
      ports:
        - name: grpc
          containerPort: 9090
          protocol: TCP
        - name: http
          containerPort: 8080
          protocol: TCP
      env:
        - name: SERVICECENTERD_GRPC_ADDR
          value: ":9090"
        - name: SERVICECENTERD_HTTP_ADDR
          value: ":8080"
        - name: SERVICECENTERD_LOG_LEVEL
          value: {{ $v.log.level | quote }}
        - name: SERVICECENTERD_LOG_FORMAT
          value: {{ $v.log.format | quote }}
        - name: SERVICECENTERD_DRAIN_DELAY
          value: "{{ int $v.drainDelaySeconds }}s"
        - name: SERVICECENTERD_SHUTDOWN_TIMEOUT
          value: "{{ int $v.shutdownTimeoutSeconds }}s"
        {{- with $v.grpcMaxConnectionAge }}
        - name: SERVICECENTERD_GRPC_MAX_CONNECTION_AGE
          value: {{ . | quote }}
        {{- end }}
        {{- if $v.top.url }}
        - name: SERVICECENTERD_TOP_URL
          value: {{ $v.top.url | quote }}
        - name: SERVICECENTERD_TOP_APP_KEY
          {{- if $v.top.appKey }}
          value: {{ $v.top.appKey | quote }}
          {{- else }}
          valueFrom:
            secretKeyRef:
              name: {{ $v.top.credentialsSecret }}
              key: app-key
          {{- end }}
        - name: SERVICECENTERD_TOP_APP_SECRET_FILE
          value: /etc/servicecenterd/top/app-secret
        - name: SERVICECENTERD_TOP_SESSION_FILE
          value: /etc/servicecenterd/top/session
        {{- end }}
        {{- if $v.top.rateLimit }}
        - name: SERVICECENTERD_TOP_RATE_LIMIT
          value: {{ $v.top.rateLimit | quote }}
        {{- end }}
        {{- if eq $v.mode "replicated" }}
        - name: SERVICECENTERD_DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ $v.database.existingSecret }}
              key: {{ $v.database.key }}
        {{- if $v.redis.enabled }}
        - name: SERVICECENTERD_REDIS_URL
          valueFrom:
            secretKeyRef:
              name: {{ $v.redis.existingSecret }}
              key: {{ $v.redis.key }}
        {{- end }}
        {{- else }}
        - name: SERVICECENTERD_DATA_DIR
          value: /var/lib/servicecenterd
        {{- end }}
        {{- if $v.auth.clientsSecret }}
        - name: SERVICECENTERD_CLIENTS_FILE
          value: /etc/servicecenterd/clients/{{ $v.auth.clientsKey }}
        {{- end }}
        {{- if $v.auth.insecureAllowUnauthenticated }}
        - name: SERVICECENTERD_INSECURE_ALLOW_UNAUTHENTICATED
          value: "true"
        {{- end }}
        {{- if $v.tls.secretName }}
        - name: SERVICECENTERD_TLS_CERT_FILE
          value: /etc/servicecenterd/tls/tls.crt
        - name: SERVICECENTERD_TLS_KEY_FILE
          value: /etc/servicecenterd/tls/tls.key
        {{- if $v.tls.clientCA }}
        - name: SERVICECENTERD_TLS_CLIENT_CA_FILE
          value: /etc/servicecenterd/tls/ca.crt
        {{- end }}
        {{- end }}
        {{- if $v.settings }}
        - name: SERVICECENTERD_CONFIG
          value: /etc/servicecenterd/config/config.yaml
        {{- end }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: OTEL_SERVICE_NAME
          value: {{ include "servicecenterd.name" . | quote }}
        - name: OTEL_RESOURCE_ATTRIBUTES
          value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),service.instance.id=$(POD_NAME)"
        {{- with $v.tracing.otlpEndpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ . | quote }}
        - name: OTEL_EXPORTER_OTLP_PROTOCOL
          value: {{ $v.tracing.protocol | quote }}
        - name: OTEL_TRACES_SAMPLER
          value: parentbased_traceidratio
        - name: OTEL_TRACES_SAMPLER_ARG
          value: {{ $v.tracing.sampleRatio | quote }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
          scheme: {{ include "servicecenterd.scheme" . }}
        {{- toYaml $v.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
          scheme: {{ include "servicecenterd.scheme" . }}
        {{- toYaml $v.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
          scheme: {{ include "servicecenterd.scheme" . }}
        {{- toYaml $v.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if $v.top.url }}
        - name: top-credentials
          mountPath: /etc/servicecenterd/top
          readOnly: true
        {{- end }}
        {{- if $v.auth.clientsSecret }}
        - name: clients
          mountPath: /etc/servicecenterd/clients
          readOnly: true
        {{- end }}
        {{- if $v.tls.secretName }}
        - name: tls
          mountPath: /etc/servicecenterd/tls
          readOnly: true
        {{- end }}
        {{- if $v.settings }}
        - name: settings
          mountPath: /etc/servicecenterd/config
          readOnly: true
        {{- end }}
        {{- if eq $v.mode "embedded" }}
        - name: data
          mountPath: /var/lib/servicecenterd
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $v.top.url }}
    - name: top-credentials
      secret:
        secretName: {{ $v.top.credentialsSecret }}
        defaultMode: 0440
        items:
          - key: app-secret
            path: app-secret
          - key: session
            path: session
    {{- end }}
    {{- if $v.auth.clientsSecret }}
    - name: clients
      secret:
        secretName: {{ $v.auth.clientsSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if $v.tls.secretName }}
    - name: tls
      secret:
        secretName: {{ $v.tls.secretName }}
        defaultMode: 0440
    {{- end }}
    {{- if $v.settings }}
    - name: settings
      configMap:
        name: {{ include "servicecenterd.fullname" . }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml $v.topologySpreadConstraints | nindent 4 }}
  {{- else if eq $v.mode "replicated" }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "servicecenterd.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end }}
