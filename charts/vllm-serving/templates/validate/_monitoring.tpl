{{/* Monitoring: scrapes that end before the next begins. */}}
{{- define "vllm-serving.validate.monitoring" -}}
{{- $errors := list }}
{{- $timeout := include "vllm-serving.seconds" .Values.monitoring.timeout | float64 }}
{{- $interval := include "vllm-serving.seconds" .Values.monitoring.interval | float64 }}
{{- if gt $timeout $interval }}
{{- $errors = append $errors (printf "monitoring.timeout: %s is longer than monitoring.interval (%s); a scrape must end before the next begins" .Values.monitoring.timeout .Values.monitoring.interval) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
