{{/* Monitoring: scrapes that end before the next begins. */}}
{{- define "vllm-serving.validate.monitoring" -}}
{{- $errors := list }}
{{- $timeout := include "vllm-serving.seconds" .Values.monitoring.timeout | float64 }}
{{- $interval := include "vllm-serving.seconds" .Values.monitoring.interval | float64 }}
{{- if gt $timeout $interval }}
{{- $errors = append $errors (printf "monitoring.timeout: %s is longer than monitoring.interval (%s); a scrape must end before the next begins" .Values.monitoring.timeout .Values.monitoring.interval) }}
{{- end }}
{{- /* The scrape finds its target by port name: one no container has gives no target at all. */}}
{{- $m := .Values.monitoring }}
{{- if or $m.podMonitoring.enabled $m.serviceMonitor.enabled }}
{{- $ports := list "http" }}
{{- if $m.podMonitoring.enabled }}
{{- range .Values.extraContainers }}{{ range .ports }}{{ with .name }}{{ $ports = append $ports . }}{{ end }}{{ end }}{{ end }}
{{- end }}
{{- if not (has $m.port $ports) }}
{{- $errors = append $errors (printf "monitoring.port: %s names no port %s (%s), so the scrape would find no target; use http, vLLM's port%s" $m.port (ternary "of the vLLM pods' containers" "of the Service" $m.podMonitoring.enabled) (join ", " $ports) (ternary ", or a named port of extraContainers" "" $m.podMonitoring.enabled)) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
