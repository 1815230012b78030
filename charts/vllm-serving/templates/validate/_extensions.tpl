{{/* Extension points: the chat template from one place, extra volumes named apart from the chart's. */}}
{{- define "vllm-serving.validate.extensions" -}}
{{- $errors := list }}
{{- if and .Values.vllm.chatTemplate.inline .Values.vllm.chatTemplate.existingConfigMap }}
{{- $errors = append $errors "vllm.chatTemplate.existingConfigMap: set together with vllm.chatTemplate.inline; use one of them" }}
{{- end }}
{{- $chartVolumes := list "weights" "hf-cache" "dshm" "batch" "chat-template" }}
{{- range $i, $v := .Values.extraVolumes }}
{{- if or (has $v.name $chartVolumes) (hasPrefix "lora-" $v.name) }}
{{- $errors = append $errors (printf "extraVolumes[%d].name: %s is a volume the chart makes (%s, lora-N); pick another name" $i $v.name (join ", " $chartVolumes)) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
