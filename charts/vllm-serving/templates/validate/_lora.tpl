{{/* LoRA adapters: names of their own, paths that can exist, limits with something to limit. */}}
{{- define "vllm-serving.validate.lora" -}}
{{- $errors := list }}
{{- $l := .Values.lora }}
{{- $names := list (include "vllm-serving.servedModelName" .) }}
{{- range $i, $a := $l.adapters }}
{{- if has $a.name $names }}
{{- $errors = append $errors (printf "lora.adapters[%d].name: %s is already the name of the model or of another adapter; clients pick by name, so give each a name of its own" $i $a.name) }}
{{- end }}
{{- $names = append $names $a.name }}
{{- if and $a.path (not (include "vllm-serving.weights.isMounted" $)) }}
{{- $errors = append $errors (printf "lora.adapters[%d].path: a path on the weights volume needs a mounted weights.source (gcsfuse, persistentDisk or nfs), not %s; use gcs or huggingface for this adapter" $i $.Values.weights.source) }}
{{- end }}
{{- end }}
{{- if and $l.runtimeUpdates (not .Values.vllm.apiKey.secretName) }}
{{- $errors = append $errors "lora.runtimeUpdates: lets every caller make vLLM load any path or Hugging Face repository; set vllm.apiKey.secretName too, so that only key holders can" }}
{{- end }}
{{- if and (not $l.adapters) (not $l.runtimeUpdates) (or (not (kindIs "invalid" $l.maxLoras)) (not (kindIs "invalid" $l.maxRank)) (not (kindIs "invalid" $l.maxCpuLoras))) }}
{{- $errors = append $errors "lora.maxLoras: LoRA limits are set but no adapter is; list lora.adapters (or set lora.runtimeUpdates), or remove the limits" }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
