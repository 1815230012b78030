{{/* GPUs per pod: parallelism.tensor against the accelerator's machines. */}}
{{- define "vllm-serving.validate.parallelism" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $acc := get $rules.accelerators .Values.gke.accelerator }}
{{- $max := $acc.maxPerNode | int }}
{{- $choices := list }}
{{- $sizes := list }}
{{- range $n := $rules.tensorSizes }}{{ $sizes = append $sizes (int $n) }}{{ if le (int $n) $max }}{{ $choices = append $choices (toString (int $n)) }}{{ end }}{{ end }}
{{- $choiceText := printf "%s or %s" (initial $choices | join ", ") (last $choices) }}
{{- $class := .Values.gke.computeClass }}
{{- if not (has $tensor $sizes) }}
{{- $errors = append $errors (printf "parallelism.tensor: %d is not a power of two; use %s" $tensor $choiceText) }}
{{- else if and (gt $tensor $max) (not $class.create) }}
{{- $errors = append $errors (printf "parallelism.tensor: %d exceeds the %d GPUs of the largest %s machine (%s); use %s, or choose gke.accelerator with larger machines" $tensor $max .Values.gke.accelerator $acc.largestMachine $choiceText) }}
{{- end }}
{{- if and (gt (.Values.parallelism.pipeline | int) 1) (eq (.Values.parallelism.masterPort | int) (.Values.vllm.port | int)) }}
{{- $errors = append $errors (printf "parallelism.masterPort: %d is vllm.port too; the leader's API server and the workers' rendezvous cannot share a port, so vLLM would fail to bind one of them; use another port (vLLM's default 29501)" (.Values.parallelism.masterPort | int)) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
