{{/*
The argv after `vllm serve`, built in one place. Typed values become flags only when set; extraArgs
follow verbatim. The flags built here are listed under ownedFlags in rules.yaml,
so that _validate.tpl and `vllm-serving validate` refuse them in extraArgs.
*/}}
{{- define "vllm-serving.args" -}}
{{- $v := .Values.vllm }}
{{- $model := include "vllm-serving.weights.modelArg" . }}
{{- $args := list $model }}
{{- /* Clients use model.servedName, else model.name, whatever vLLM loads from (a path, a gs:// URL). */}}
{{- $served := include "vllm-serving.servedModelName" . }}
{{- if ne $served $model }}
{{- $args = concat $args (list "--served-model-name" $served) }}
{{- end }}
{{- $args = concat $args (list "--port" ($v.port | toString)) }}
{{- $args = concat $args (list "--tensor-parallel-size" (.Values.parallelism.tensor | toString)) }}
{{- if not (kindIs "invalid" $v.maxModelLen) }}
{{- $args = concat $args (list "--max-model-len" ($v.maxModelLen | int64 | toString)) }}
{{- end }}
{{- if not (kindIs "invalid" $v.gpuMemoryUtilization) }}
{{- $args = concat $args (list "--gpu-memory-utilization" ($v.gpuMemoryUtilization | toString)) }}
{{- end }}
{{- if not (kindIs "invalid" $v.maxNumSeqs) }}
{{- $args = concat $args (list "--max-num-seqs" ($v.maxNumSeqs | int64 | toString)) }}
{{- end }}
{{- with $v.dtype }}
{{- $args = concat $args (list "--dtype" .) }}
{{- end }}
{{- $source := include "vllm-serving.weights.block" . | fromJson }}
{{- with $source.loadFormat }}
{{- $args = concat $args (list "--load-format" .) }}
{{- end }}
{{- with $source.safetensorsLoadStrategy }}
{{- $args = concat $args (list "--safetensors-load-strategy" .) }}
{{- end }}
{{- if eq .Values.weights.source "gcsStream" }}
{{- $streamer := dict "concurrency" ($source.concurrency | int) }}
{{- if not (kindIs "invalid" $source.memoryLimit) }}
{{- $_ := set $streamer "memory_limit" ($source.memoryLimit | int64) }}
{{- end }}
{{- $args = concat $args (list "--model-loader-extra-config" (toJson $streamer)) }}
{{- end }}
{{- $args = concat $args $v.extraArgs }}
{{- toJson $args }}
{{- end }}
