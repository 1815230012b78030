{{/* Autoscaling: replica bounds, signals each provider can read, a way back from zero. */}}
{{- define "vllm-serving.validate.autoscaling" -}}
{{- $errors := list }}
{{- $a := .Values.autoscaling }}
{{- if $a.enabled }}
{{- if gt ($a.minReplicas | int) ($a.maxReplicas | int) }}
{{- $errors = append $errors (printf "autoscaling.minReplicas: %d is above autoscaling.maxReplicas (%d)" ($a.minReplicas | int) ($a.maxReplicas | int)) }}
{{- end }}
{{- if and (eq $a.provider "hpa") (eq ($a.minReplicas | int) 0) }}
{{- $errors = append $errors "autoscaling.minReplicas: 0 (scale to zero) needs autoscaling.provider: keda; the HPA keeps at least one pod" }}
{{- end }}
{{- $seen := list }}
{{- range $i, $m := $a.metrics }}
{{- $where := printf "autoscaling.metrics[%d]" $i }}
{{- if has $m.type $seen }}
{{- $errors = append $errors (printf "%s.type: %s is listed twice; give each signal once" $where $m.type) }}
{{- end }}
{{- $seen = append $seen $m.type }}
{{- if and (eq $m.type "gpu-utilization") (gt (float64 $m.target) 100.0) }}
{{- $errors = append $errors (printf "%s.target: %v is not a percentage; GPU utilization targets lie between 0 and 100" $where $m.target) }}
{{- end }}
{{- if eq $a.provider "hpa" }}
{{- if eq $m.type "concurrency" }}
{{- $errors = append $errors (printf "%s.type: concurrency adds two metrics in one query, which only autoscaling.provider: keda can do" $where) }}
{{- else if and (ne $m.type "gpu-utilization") (not $.Values.monitoring.podMonitoring.enabled) }}
{{- $errors = append $errors (printf "%s.type: %s reaches the HPA through Google Managed Prometheus; set monitoring.podMonitoring.enabled" $where $m.type) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* At zero replicas every series the serving pods produce is gone, and KEDA reads an empty result
       as 0: only a signal from elsewhere can wake the workload up. */}}
{{- if and (eq $a.provider "keda") (eq ($a.minReplicas | int) 0) (not (include "vllm-serving.wakeUpSignals" . | trim)) }}
{{- if .Values.gateway.enabled }}
{{- /* Without flow control the picker answers 503 at once while the pool has no pod, and counts nothing
       a trigger could wake up on. */}}
{{- $errors = append $errors "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods, which vanish at zero replicas, and KEDA reads the empty result as 0; set gateway.endpointPicker.flowControl: true (the endpoint picker then holds requests while the pool has no pod, and the chart wakes the workload on them), add autoscaling.keda.extraTriggers, or set autoscaling.minReplicas: 1" }}
{{- else }}
{{- $errors = append $errors "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods, which vanish at zero replicas, and KEDA reads the empty result as 0; add a wake-up signal that does not come from the serving pods (autoscaling.keda.extraTriggers, e.g. requests counted at the load balancer or a queue's length), or set autoscaling.minReplicas: 1" }}
{{- end }}
{{- end }}
{{- if and (include "vllm-serving.epp.wakesUp" .) (not (or .Values.monitoring.podMonitoring.enabled .Values.monitoring.serviceMonitor.enabled)) }}
{{- $errors = append $errors "gateway.endpointPicker.flowControl: the wake-up trigger reads the endpoint picker's inference_extension_flow_control_queue_size from Prometheus, but nothing scrapes the picker; set monitoring.podMonitoring.enabled: true (Google Managed Prometheus) or monitoring.serviceMonitor.enabled: true" }}
{{- end }}
{{- if and (eq $a.provider "keda") (not $a.keda.serverAddress) }}
{{- $errors = append $errors "autoscaling.keda.serverAddress: required with autoscaling.provider keda; the Prometheus endpoint KEDA queries (Google Managed Prometheus or a Prometheus server)" }}
{{- end }}
{{- /* GMP's query endpoint and the adapter's External metrics read every cluster of the project
       (https://cloud.google.com/stackdriver/docs/managed-prometheus/best-practices/config; k8s-stackdriver
       GetExternalMetricRequest): without the cluster a release in staging adds prod's load to its own. */}}
{{- $types := list }}
{{- range $a.metrics }}{{ $types = append $types .type }}{{ end }}
{{- if not $a.clusterName }}
{{- if and (eq $a.provider "keda") (contains "monitoring.googleapis.com" ($a.keda.serverAddress | toString)) }}
{{- $errors = append $errors "autoscaling.clusterName: required with KEDA on Google Managed Prometheus's project endpoint (autoscaling.keda.serverAddress), which holds the series of every cluster in the project; set it to this GKE cluster's name, the cluster label GMP gives each series" }}
{{- else if and (eq $a.provider "hpa") (has "gpu-utilization" $types) }}
{{- $errors = append $errors "autoscaling.clusterName: required with an HPA on gpu-utilization: its External metric is read across the project, so every cluster's GPUs would count; set it to this GKE cluster's name" }}
{{- end }}
{{- end }}
{{- if and (eq $a.provider "hpa") (or $a.keda.serverAddress $a.keda.gcpWorkloadIdentity $a.keda.extraTriggers) }}
{{- $errors = append $errors "autoscaling.keda is set but autoscaling.provider is hpa; set autoscaling.provider: keda, or remove autoscaling.keda" }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
