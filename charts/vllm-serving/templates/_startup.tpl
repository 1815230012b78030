{{- /*
The startup budget: how long the startupProbe lets vLLM start, sized to the model. The startupProbe counts
from the container's start, so image pull and volume mounts are outside it (`vllm-serving timeline` shows
them too).
*/ -}}

{{/* The model's checkpoint in GB: model.weightsGB, else from rules.yaml's model table (model.name matched
without case): a quantized checkpoint's weightBytes, else parameters x dtypeBytes of its torch_dtype; empty
when neither knows the model. */}}
{{- define "vllm-serving.weightsGB" -}}
{{- if .Values.model.weightsGB }}
{{- .Values.model.weightsGB | float64 }}
{{- else }}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- range $name, $model := $rules.models }}
{{- if eq (lower $name) (lower $.Values.model.name) }}
{{- if $model.weightBytes }}
{{- divf $model.weightBytes 1e9 }}
{{- else }}
{{- divf (mulf $model.parameters (get $rules.dtypeBytes $model.torch_dtype)) 1e9 }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Seconds vLLM is expected to take from container start to a healthy API server, reading the
checkpoint at weights.source's published rate (startup.throughputGBps) and then compiling and capturing
CUDA graphs. `vllm-serving size` prints the same figure per source. */}}
{{- define "vllm-serving.expectedStartSeconds" -}}
{{- $s := .Values.startup }}
{{- $load := divf (include "vllm-serving.weightsGB" . | float64) (get $s.throughputGBps .Values.weights.source) }}
{{- addf $load $s.compileSeconds $s.graphCaptureSeconds }}
{{- end }}

{{/* Seconds the startupProbe allows: startup.maxSeconds, else margin x the expected start. */}}
{{- define "vllm-serving.startupBudget" -}}
{{- if .Values.startup.maxSeconds }}
{{- .Values.startup.maxSeconds | int }}
{{- else }}
{{- mulf (include "vllm-serving.expectedStartSeconds" . | float64) .Values.startup.margin | ceil | int }}
{{- end }}
{{- end }}
