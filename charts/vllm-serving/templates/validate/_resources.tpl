{{/* resources: the GPU count's one source, requests within limits. */}}
{{- define "vllm-serving.validate.resources" -}}
{{- $errors := list }}
{{- /* The GPU count has one source, parallelism.tensor. */}}
{{- range $section := list "requests" "limits" }}
{{- if hasKey (get $.Values.resources $section | default dict) "nvidia.com/gpu" }}
{{- $errors = append $errors (printf "resources.%s.nvidia.com/gpu: the GPU count comes from parallelism.tensor; remove it and set parallelism.tensor" $section) }}
{{- end }}
{{- end }}

{{- /* Kubernetes refuses a request above its limit, but only at install. */}}
{{- $requests := .Values.resources.requests | default dict }}
{{- $limits := .Values.resources.limits | default dict }}
{{- range $resource := keys $requests | sortAlpha }}
{{- if hasKey $limits $resource }}
{{- $request := get $requests $resource }}{{ $limit := get $limits $resource }}
{{- if gt (include "vllm-serving.quantity" $request | float64) (include "vllm-serving.quantity" $limit | float64) }}
{{- $errors = append $errors (printf "resources.requests.%s: %s is more than resources.limits.%s (%s), which Kubernetes refuses; raise the limit or lower the request" $resource (include "vllm-serving.asWritten" $request) $resource (include "vllm-serving.asWritten" $limit)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
