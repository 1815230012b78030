{{/* Names, labels and the few derived facts every template shares. */}}

{{/* Chart name, cut to leave room for suffixes such as "-test". */}}
{{- define "vllm-serving.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 55 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name + chart name unless the release already contains it. 55 characters
     leave room for the longest suffix the chart appends ("-test") within the 63-character limit;
     dots (allowed in release names) become dashes, since Service names take none. */}}
{{- define "vllm-serving.fullname" -}}
{{- $name := include "vllm-serving.fullnameRaw" . | replace "." "-" }}
{{- /* Helm accepts release names that start with a digit; Service names (DNS-1035) must start with a letter. */}}
{{- if regexMatch "^[0-9]" $name }}
{{- $name = printf "r%s" $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "vllm-serving.fullnameRaw" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vllm-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "vllm-serving.labels" -}}
helm.sh/chart: {{ include "vllm-serving.chart" . }}
{{ include "vllm-serving.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The stable subset used in selectors; never changes across upgrades. */}}
{{- define "vllm-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm-serving.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector of the serving pods (the API servers). */}}
{{- define "vllm-serving.serverSelectorLabels" -}}
{{ include "vllm-serving.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "vllm-serving.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vllm-serving.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vllm-serving.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/* The name clients use in requests: model.servedName, or the model itself. */}}
{{- define "vllm-serving.servedModelName" -}}
{{ .Values.model.servedName | default .Values.model.name }}
{{- end }}

{{/* rules.yaml, the data behind the cross-field rules, as YAML (use with fromYaml). */}}
{{- define "vllm-serving.rules" -}}
{{ .Files.Get "rules.yaml" }}
{{- end }}

{{/* The serving workload's kind: a LeaderWorkerSet when a replica spans several nodes. */}}
{{- define "vllm-serving.workloadKind" -}}
{{- if gt (.Values.parallelism.pipeline | int) 1 }}LeaderWorkerSet{{ else }}Deployment{{ end }}
{{- end }}

{{- define "vllm-serving.workloadApiVersion" -}}
{{- if gt (.Values.parallelism.pipeline | int) 1 }}leaderworkerset.x-k8s.io/v1{{ else }}apps/v1{{ end }}
{{- end }}

{{/* VLLM_API_KEY from vllm.apiKey's Secret, for the server and every client the chart runs; nothing
     without a Secret. */}}
{{- define "vllm-serving.apiKeyEnv" -}}
{{- with .Values.vllm.apiKey.secretName }}
- name: VLLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.vllm.apiKey.key }}
{{- end }}
{{- end }}

{{/* The ComputeClass the pods select: gke.computeClass.name, or a name derived for a class the chart
     creates without one. Empty: none. A ComputeClass is cluster-scoped, so the derived name carries the
     namespace (the same release in two namespaces would otherwise render one class that Helm refuses to
     give the second), and a hash of namespace and release that keeps them apart when the name is cut to
     a label value's 63 characters. GKE refuses class names beginning with gke or autopilot
     (rules.yaml computeClass.reservedNamePrefixes): such a name gets "vllm-" in front. */}}
{{- define "vllm-serving.computeClassName" -}}
{{- $c := .Values.gke.computeClass }}
{{- if $c.name }}{{ $c.name }}
{{- else if $c.create }}
{{- $full := include "vllm-serving.fullname" . }}
{{- $name := printf "%s-%s" $full .Release.Namespace }}
{{- $reserved := (include "vllm-serving.rules" . | fromYaml).computeClass.reservedNamePrefixes }}
{{- if regexMatch (printf "^(%s)" (join "|" $reserved)) $name }}{{ $name = printf "vllm-%s" $name }}{{ end }}
{{- printf "%s-%s" ($name | trunc 54 | trimSuffix "-") (printf "%s/%s" .Release.Namespace $full | sha256sum | trunc 8) }}
{{- end }}
{{- end }}

{{/* "true" when the pods select a custom ComputeClass (not one of GKE's built-in classes): then the class
     decides the labels of rules.yaml computeClass.classFieldLabels, and pods may not select them. */}}
{{- define "vllm-serving.customComputeClass" -}}
{{- $class := include "vllm-serving.computeClassName" . }}
{{- $builtin := (include "vllm-serving.rules" . | fromYaml).capacity.builtinComputeClasses }}
{{- if and $class (not (has $class (concat $builtin.autopilotOnly $builtin.withoutGpus))) }}true{{ end }}
{{- end }}

{{/* How a batch release's Job gets its GPUs (batch.provisioning); empty for a serving release. */}}
{{- define "vllm-serving.batchProvisioning" -}}
{{- if .Values.batch.enabled }}{{ .Values.batch.provisioning }}{{ end }}
{{- end }}

{{/* The batch Job's name, shared by its ProvisioningRequest and PodTemplate. It carries a hash of the
     values, so changed values make a new Job instead of failing on the old one's immutable template. */}}
{{- define "vllm-serving.batchName" -}}
{{- printf "%s-batch-%s" (include "vllm-serving.fullname" . | trunc 40 | trimSuffix "-") (toJson .Values | sha256sum | trunc 8) }}
{{- end }}

{{/* Pod annotations that tie a queued-provisioning batch's pods to their ProvisioningRequest (the keys
     cluster-autoscaler's provisioningrequest API defines and GKE's queued-provisioning guide uses). */}}
{{- define "vllm-serving.provisioningAnnotations" -}}
{{- if eq (include "vllm-serving.batchProvisioning" .) "queuedProvisioning" }}
autoscaling.x-k8s.io/consume-provisioning-request: {{ include "vllm-serving.batchName" . }}
autoscaling.x-k8s.io/provisioning-class-name: queued-provisioning.gke.io
{{- end }}
{{- end }}

{{/* Regular expression of one serving workload's pod names, as Prometheus matches it (anchored);
     (list $root workloadName). A Deployment's pods are NAME-<template hash>-<5 characters>, with
     NAME-<hash>- cut to 58 characters first (so a long NAME loses part of its hash and a dash); a
     LeaderWorkerSet's pods are NAME-<group> (leaders, which serve) and NAME-<group>-<index> (workers). */}}
{{- define "vllm-serving.podPattern" -}}
{{- $root := index . 0 }}{{ $name := index . 1 }}
{{- if eq (include "vllm-serving.workloadKind" $root) "LeaderWorkerSet" }}
{{- printf "%s-[0-9]+" (regexQuoteMeta $name) }}
{{- else }}
{{- printf "%s-[a-z0-9]+(-[a-z0-9]+)?" (regexQuoteMeta $name) }}
{{- end }}
{{- end }}

{{/* GPUs of one serving replica (every pod of a LeaderWorkerSet group). */}}
{{- define "vllm-serving.gpusPerReplica" -}}
{{- mul (.Values.parallelism.tensor | int) (.Values.parallelism.pipeline | int) }}
{{- end }}

{{/* Whether an autoscaler reads GPU utilization: "true" or "". */}}
{{- define "vllm-serving.scalesOnGpu" -}}
{{- $a := .Values.autoscaling }}
{{- if and $a.enabled (not .Values.batch.enabled) }}
{{- range $a.metrics }}{{ if eq .type "gpu-utilization" }}true{{ end }}{{ end }}
{{- end }}
{{- end }}

{{/* Value paths that give a scaled-to-zero workload a signal to wake up on, one per line: signals that
     do not come from the serving pods (whose series vanish at zero replicas, and KEDA reads an empty
     result as 0). Another source of such a signal adds its value path here. */}}
{{- define "vllm-serving.wakeUpSignals" -}}
{{- if .Values.autoscaling.keda.extraTriggers }}
autoscaling.keda.extraTriggers
{{- end }}
{{- if include "vllm-serving.epp.wakesUp" . }}
gateway.endpointPicker.flowControl
{{- end }}
{{- end }}
