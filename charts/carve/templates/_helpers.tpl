{{/* Name of the chart, or nameOverride. */}}
{{- define "carve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: fullnameOverride, else the release name if it
contains the chart's name, else <release>-<name>. Kept to 40 characters so
that suffixes like -controller-metrics still fit the 63 of a Service name.
*/}}
{{- define "carve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := include "carve.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* carve-controller's Deployment, ServiceAccount and RBAC objects. */}}
{{- define "carve.controller.fullname" -}}
{{- include "carve.fullname" . }}-controller
{{- end }}

{{/* The Service in front of the webhook server, passed as --webhook-service. */}}
{{- define "carve.webhook.service" -}}
{{- include "carve.fullname" . }}-webhook
{{- end }}

{{- define "carve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "carve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: carve
{{- end }}

{{/* Selector of carve-controller's pods; never changes within a release. */}}
{{- define "carve.controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "carve.controller.labels" -}}
{{ include "carve.labels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "carve.controller.certSecret" -}}
{{ include "carve.controller.fullname" . }}-webhook-certs
{{- end }}

{{- define "carve.controller.image" -}}
{{- with .Values.controller.image }}
{{- printf "%s:%s" .repository (default $.Chart.AppVersion .tag) }}
{{- end }}
{{- end }}

{{/*
controller.podLevelResources as auto, on or off: unquoted on/off in a values
file arrive as the booleans true/false (YAML 1.1).
*/}}
{{- define "carve.controller.podLevelResources" -}}
{{- $v := .Values.controller.podLevelResources }}
{{- if kindIs "bool" $v }}{{ ternary "on" "off" $v }}{{ else }}{{ $v }}{{ end }}
{{- end }}

{{/* carve-cloudprovider's Deployment, Service, ServiceAccount and RBAC objects. */}}
{{- define "carve.cloudprovider.fullname" -}}
{{- include "carve.fullname" . }}-cloudprovider
{{- end }}

{{/* Selector of carve-cloudprovider's pods; never changes within a release. */}}
{{- define "carve.cloudprovider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: cloudprovider
{{- end }}

{{- define "carve.cloudprovider.labels" -}}
{{ include "carve.labels" . }}
app.kubernetes.io/component: cloudprovider
{{- end }}

{{- define "carve.cloudprovider.image" -}}
{{- with .Values.cloudProvider.image }}
{{- printf "%s:%s" .repository (default $.Chart.AppVersion .tag) }}
{{- end }}
{{- end }}

{{/* Where carve-cloudprovider's TLS Secret is mounted. */}}
{{- define "carve.cloudprovider.tlsDir" -}}
/etc/carve-cloudprovider/tls
{{- end }}

{{/* carve-scheduler's Deployment, ConfigMap, ServiceAccount and RBAC objects. */}}
{{- define "carve.scheduler.fullname" -}}
{{- include "carve.fullname" . }}-scheduler
{{- end }}

{{/* Selector of carve-scheduler's pods; never changes within a release. */}}
{{- define "carve.scheduler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: scheduler
{{- end }}

{{- define "carve.scheduler.labels" -}}
{{ include "carve.labels" . }}
app.kubernetes.io/component: scheduler
{{- end }}

{{- define "carve.scheduler.image" -}}
{{- with .Values.scheduler.image }}
{{- printf "%s:%s" .repository (default $.Chart.AppVersion .tag) }}
{{- end }}
{{- end }}

{{/*
carve-scheduler's KubeSchedulerConfiguration: a copy of
manifests/scheduler/config.yaml that hack/chart-scheduler-config.sh keeps
current (make verify fails when it is not). It is served as it is; the
templates read its leader election lock from it.
*/}}
{{- define "carve.scheduler.config" -}}
{{- .Files.Get "files/scheduler-config.yaml" }}
{{- end }}

{{/* Where the ConfigMap is mounted in carve-scheduler's pod. */}}
{{- define "carve.scheduler.configDir" -}}
/etc/carve-scheduler
{{- end }}

{{/*
The pod security context of carve's pods: non-root, RuntimeDefault seccomp,
and the images' user unless runAsUser is null (OpenShift's restricted-v2
SCC assigns a user from the namespace's range and refuses a fixed one).
*/}}
{{- define "carve.podSecurityContext" -}}
runAsNonRoot: true
{{- with .Values.runAsUser }}
runAsUser: {{ . }}
runAsGroup: {{ . }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The bundled cluster-autoscaler (autoscaler.enabled). */}}
{{- define "carve.autoscaler.fullname" -}}
{{ include "carve.fullname" . }}-autoscaler
{{- end }}

{{- define "carve.autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: autoscaler
{{- end }}

{{- define "carve.autoscaler.labels" -}}
{{ include "carve.labels" . }}
app.kubernetes.io/component: autoscaler
{{- end }}

{{/*
Whether the chart makes the mutual-TLS certificates of carve-cloudprovider
and the bundled autoscaler: with the autoscaler on, TLS on and no Secret of
the admin's.
*/}}
{{- define "carve.autoscaler.generatesTLS" -}}
{{- if and .Values.autoscaler.enabled (not .Values.cloudProvider.insecure) (not .Values.cloudProvider.tls.secretName) }}true{{ end }}
{{- end }}

{{/* The Secret carve-cloudprovider serves TLS from. */}}
{{- define "carve.cloudprovider.tlsSecret" -}}
{{- if include "carve.autoscaler.generatesTLS" . }}{{ include "carve.cloudprovider.fullname" . }}-tls{{ else }}{{ .Values.cloudProvider.tls.secretName }}{{ end }}
{{- end }}

{{/* The Secret with the autoscaler's client certificate. */}}
{{- define "carve.autoscaler.tlsSecret" -}}
{{- if include "carve.autoscaler.generatesTLS" . }}{{ include "carve.autoscaler.fullname" . }}-tls{{ else }}{{ .Values.autoscaler.tls.clientSecretName }}{{ end }}
{{- end }}

{{/*
The priorityClassName of a component: its own value, else carve's class when
the chart makes it. Call with (dict "root" $ "name" <component's value>).
*/}}
{{- define "carve.priorityClassName" -}}
{{- if .name }}{{ .name }}{{ else if .root.Values.priorityClass.create }}{{ include "carve.fullname" .root }}-critical{{ end }}
{{- end }}
