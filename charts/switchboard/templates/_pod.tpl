{{/* The pod template shared by the Deployment (postgres) and the StatefulSet (sqlite). */}}
{{- define "switchboard.podTemplate" -}}
metadata:
  labels:
    {{- include "switchboard.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := deepCopy .Values.podAnnotations }}
  {{- if and (eq .Values.store.type "postgres") (not .Values.store.postgres.existingSecret) }}
  {{- /* Roll the pods when the chart-made store Secret changes. */}}
  {{- $_ := set $annotations "checksum/store" (.Values.store.postgres.url | sha256sum) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "switchboard.serviceAccountName" . }}
  automountServiceAccountToken: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ add (include "switchboard.seconds" .Values.controller.shutdownTimeout) 10 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: switchboard
      image: {{ include "switchboard.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - controller
        - --listen=:{{ .Values.service.port }}
        - --admin-listen=:{{ .Values.service.adminPort }}
        - --status-interval={{ .Values.controller.statusInterval }}
        - --retention={{ .Values.controller.retention }}
        - --shutdown-timeout={{ .Values.controller.shutdownTimeout }}
        {{- with .Values.watchNamespace }}
        - --namespace={{ . }}
        {{- end }}
        - --leader-election={{ include "switchboard.leaderElection" . }}
        {{- if .Values.controller.allowPrivateDestinations }}
        - --allow-private-destinations
        {{- end }}
        {{- with .Values.controller.externalUrl }}
        - --external-url={{ . }}
        {{- end }}
        {{- with .Values.controller.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: RUST_LOG
          value: {{ .Values.controller.logLevel | quote }}
        - name: SWITCHBOARD_LOG_FORMAT
          value: {{ .Values.controller.logFormat | quote }}
        {{- if eq .Values.store.type "postgres" }}
        - name: SWITCHBOARD_STORE
          valueFrom:
            secretKeyRef:
              name: {{ include "switchboard.postgresSecret" . }}
              key: {{ if .Values.store.postgres.existingSecret }}{{ .Values.store.postgres.existingSecretKey }}{{ else }}url{{ end }}
        {{- else }}
        - name: SWITCHBOARD_STORE
          value: sqlite:///data/switchboard.db
        - name: SQLITE_TMPDIR
          value: /tmp
        {{- end }}
        {{- with .Values.controller.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
        - name: admin
          containerPort: {{ .Values.service.adminPort }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 3
      startupProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: 2
        failureThreshold: 30
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if ne .Values.store.type "postgres" }}
        - name: data
          mountPath: /data
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A Go-style duration with a single unit (30s, 2m, 1h) as whole seconds, for the grace period. */}}
{{- define "switchboard.seconds" -}}
{{- $d := toString . }}
{{- if hasSuffix "ms" $d }}1
{{- else if hasSuffix "s" $d }}{{ trimSuffix "s" $d | int }}
{{- else if hasSuffix "m" $d }}{{ mul (trimSuffix "m" $d | int) 60 }}
{{- else if hasSuffix "h" $d }}{{ mul (trimSuffix "h" $d | int) 3600 }}
{{- else }}30
{{- end }}
{{- end }}
