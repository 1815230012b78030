{{/*
The argv after `vllm serve`, built in one place. Typed values become flags only when set; extraArgs
follow verbatim. The flags built here are listed under ownedFlags in rules.yaml,
so that _validate.tpl and `vllm-serving validate` refuse them in extraArgs.
*/}}
{{- define "vllm-serving.args" -}}
{{- $v := .Values.vllm }}
{{- $args := list .Values.model.name }}
{{- with .Values.model.servedName }}
{{- $args = concat $args (list "--served-model-name" .) }}
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
{{- $args = concat $args $v.extraArgs }}
{{- toJson $args }}
{{- end }}
