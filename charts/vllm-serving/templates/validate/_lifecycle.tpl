{{/* Probe, shutdown and rollout timings that could never work. */}}
{{- define "vllm-serving.validate.lifecycle" -}}
{{- $errors := list }}
{{- if and (not .Values.startup.maxSeconds) (not (include "vllm-serving.weightsGB" .)) }}
{{- $errors = append $errors (printf "model.weightsGB: %s is not in the chart's model table (rules.yaml), so the startup budget cannot be sized to it; set model.weightsGB to the checkpoint's size in GB (its *.safetensors files together), or startup.maxSeconds" .Values.model.name) }}
{{- end }}
{{- $budget := include "vllm-serving.startupBudget" . | int }}
{{- if lt $budget (.Values.startup.periodSeconds | int) }}
{{- $errors = append $errors (printf "startup.maxSeconds: %d is shorter than startup.periodSeconds (%d); raise startup.maxSeconds to the time the first load takes" $budget (.Values.startup.periodSeconds | int)) }}
{{- end }}
{{- if le (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int) }}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds: %d must exceed preStopSleepSeconds (%d), or in-flight requests are cut off; raise it or shorten the pause" (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int)) }}
{{- end }}
{{- if and (eq .Values.rollout.strategy "RollingUpdate") (eq (toString .Values.rollout.maxUnavailable | trimSuffix "%") "0") (eq (toString .Values.rollout.maxSurge | trimSuffix "%") "0") }}
{{- $errors = append $errors "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod; set rollout.maxUnavailable to 1" }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
