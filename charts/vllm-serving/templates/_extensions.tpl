{{/* Volumes and mounts beyond the weights: the chat template, LoRA adapters and the user's own.
     Every serving, worker and batch pod gets them: Ray workers load LoRA adapters too. */}}

{{/* Where the chat template's ConfigMap is mounted, and the file --chat-template names. */}}
{{- define "vllm-serving.chatTemplate.dir" -}}
/etc/vllm/chat-template
{{- end }}

{{- define "vllm-serving.chatTemplate.file" -}}
{{- with .Values.vllm.chatTemplate }}
{{- if or .inline .existingConfigMap }}
{{- printf "%s/%s" (include "vllm-serving.chatTemplate.dir" $) .key }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vllm-serving.chatTemplate.configMapName" -}}
{{- .Values.vllm.chatTemplate.existingConfigMap | default (printf "%s-chat-template" (include "vllm-serving.fullname" .)) }}
{{- end }}

{{- define "vllm-serving.extensions.volumes" -}}
{{- range include "vllm-serving.lora.adapters" . | fromJsonArray }}
{{- if .volume }}
- name: {{ .volume }}
  csi:
    driver: gcsfuse.csi.storage.gke.io
    readOnly: true
    volumeAttributes:
      bucketName: {{ .bucket }}
      mountOptions: {{ printf "implicit-dirs%s" (ternary (printf ",only-dir=%s" .dir) "" (ne .dir "")) | quote }}
{{- end }}
{{- end }}
{{- if include "vllm-serving.chatTemplate.file" . }}
- name: chat-template
  configMap:
    name: {{ include "vllm-serving.chatTemplate.configMapName" . }}
    items:
      - key: {{ .Values.vllm.chatTemplate.key }}
        path: {{ .Values.vllm.chatTemplate.key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "vllm-serving.extensions.volumeMounts" -}}
{{- range include "vllm-serving.lora.adapters" . | fromJsonArray }}
{{- if .volume }}
- name: {{ .volume }}
  mountPath: {{ .path }}
  readOnly: true
{{- end }}
{{- end }}
{{- if include "vllm-serving.chatTemplate.file" . }}
- name: chat-template
  mountPath: {{ include "vllm-serving.chatTemplate.dir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The LoRA adapters as a JSON list of {name, path (what vLLM loads), and for a bucket: volume,
     bucket, dir}. A bucket directory is mounted read-only at /adapters/<name>. */}}
{{- define "vllm-serving.lora.adapters" -}}
{{- $out := list }}
{{- range $i, $a := .Values.lora.adapters }}
{{- $e := dict "name" $a.name }}
{{- if $a.gcs }}
{{- $parts := splitn "/" 2 (trimPrefix "gs://" $a.gcs | trimSuffix "/") }}
{{- $_ := set $e "volume" (printf "lora-%d" $i) }}
{{- $_ := set $e "bucket" $parts._0 }}
{{- $_ := set $e "dir" ($parts._1 | default "") }}
{{- $_ := set $e "path" (printf "/adapters/%s" $a.name) }}
{{- else if $a.huggingface }}
{{- $_ := set $e "path" $a.huggingface }}
{{- else }}
{{- $_ := set $e "path" (printf "%s/%s" (trimSuffix "/" $.Values.weights.mountPath) (trimSuffix "/" $a.path)) }}
{{- end }}
{{- $out = append $out $e }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* --enable-lora and the flags that go with it, as a JSON list. */}}
{{- define "vllm-serving.lora.args" -}}
{{- $l := .Values.lora }}
{{- $args := list }}
{{- if or $l.adapters $l.runtimeUpdates }}
{{- $args = append $args "--enable-lora" }}
{{- $adapters := include "vllm-serving.lora.adapters" . | fromJsonArray }}
{{- if $adapters }}
{{- $args = append $args "--lora-modules" }}
{{- $base := include "vllm-serving.servedModelName" . }}
{{- range $adapters }}
{{- $args = append $args (dict "name" .name "path" .path "base_model_name" $base | toJson) }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $l.maxLoras) }}
{{- $args = concat $args (list "--max-loras" ($l.maxLoras | int64 | toString)) }}
{{- end }}
{{- if not (kindIs "invalid" $l.maxRank) }}
{{- $args = concat $args (list "--max-lora-rank" ($l.maxRank | int64 | toString)) }}
{{- end }}
{{- if not (kindIs "invalid" $l.maxCpuLoras) }}
{{- $args = concat $args (list "--max-cpu-loras" ($l.maxCpuLoras | int64 | toString)) }}
{{- end }}
{{- end }}
{{- toJson $args }}
{{- end }}

{{/* The adapters' names, comma-separated (names carry no commas). */}}
{{- define "vllm-serving.lora.names" -}}
{{- $names := list }}
{{- range .Values.lora.adapters }}{{ $names = append $names .name }}{{ end }}
{{- join "," $names }}
{{- end }}

{{/* vLLM reads --chat-template once, at start-up: a serving pod template that carries the inline template's
     checksum rolls the pods when it changes (Helm's documented pattern, "Automatically Roll Deployments").
     Not on a batch Job, whose pod template is immutable. */}}
{{- define "vllm-serving.chatTemplate.podAnnotations" -}}
{{- if and .Values.vllm.chatTemplate.inline (has .role (list "server" "worker")) }}
checksum/chat-template: {{ dict .Values.vllm.chatTemplate.key .Values.vllm.chatTemplate.inline | toJson | sha256sum }}
{{- end }}
{{- end }}
