{{/* Autoscaling: replica bounds, signals each provider can read, a way back from zero. */}}
{{- define "vllm-serving.validate.autoscaling" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
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
{{- /* The HPA (KEDA's too) adds pods only when the metric passes its target by more than its tolerance
       (kube-controller-manager --horizontal-pod-autoscaler-tolerance): a target within the tolerance of
       the metric's ceiling can never be passed. */}}
{{- $tolerance := $rules.hpaTolerance | float64 }}
{{- if $a.enabled }}
{{- range $i, $m := $a.metrics }}
{{- $ceiling := 0.0 }}{{ $of := "" }}
{{- if eq $m.type "gpu-utilization" }}{{ $ceiling = 100.0 }}{{ $of = "GPU utilization stops at 100 %" }}{{ end }}
{{- if and (eq $m.type "batch-size") $.Values.vllm.maxNumSeqs }}{{ $ceiling = float64 $.Values.vllm.maxNumSeqs }}{{ $of = printf "a pod runs at most vllm.maxNumSeqs (%d) requests at once" (int $.Values.vllm.maxNumSeqs) }}{{ end }}
{{- $passable := floor (divf $ceiling (addf 1.0 $tolerance)) }}
{{- if and (gt $ceiling 0.0) (le $ceiling (mulf (float64 $m.target) (addf 1.0 $tolerance))) (not (and (eq $m.type "gpu-utilization") (gt (float64 $m.target) 100.0))) }}
{{- $errors = append $errors (printf "autoscaling.metrics[%d].target: %v can never be passed by the autoscaler's %v %% tolerance, since %s, so no pod would ever be added; use at most %v" $i $m.target (mulf $tolerance 100.0 | include "vllm-serving.asWritten") $of (include "vllm-serving.asWritten" $passable)) }}
{{- end }}
{{- end }}
{{- /* KEDA's own spelling: lower-case scaler types; a prometheus trigger needs its server. */}}
{{- range $i, $t := $a.keda.extraTriggers }}
{{- if and (eq $t.type "prometheus") (not (get ($t.metadata | default dict) "serverAddress")) }}
{{- $errors = append $errors (printf "autoscaling.keda.extraTriggers[%d].metadata.serverAddress: required by KEDA's prometheus scaler, which fails the trigger without it; set the Prometheus endpoint it queries (the chart's own triggers query autoscaling.keda.serverAddress)" $i) }}
{{- end }}
{{- end }}
{{- /* Wake-up triggers that read vLLM's own series read nothing at zero replicas. */}}
{{- $wakers := list }}
{{- range $t := $a.keda.extraTriggers }}
{{- if not (and (eq $t.type "prometheus") (regexMatch "vllm:" (get ($t.metadata | default dict) "query" | default "" | toString))) }}{{ $wakers = append $wakers $t.type }}{{ end }}
{{- end }}
{{- if and (eq $a.provider "keda") (eq ($a.minReplicas | int) 0) $a.keda.extraTriggers (not $wakers) (not (include "vllm-serving.epp.wakesUp" .)) }}
{{- $errors = append $errors "autoscaling.keda.extraTriggers: every trigger reads vLLM's own series (vllm:...), which vanish with the serving pods at zero replicas, and KEDA reads the empty result as 0, so none can wake the workload; add a trigger on a signal from outside the serving pods (requests at the load balancer, a queue's length), or set autoscaling.minReplicas: 1" }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}

{{/* Warnings (vllm-serving.warnings): targets the autoscaler can pass, but only once the pods are saturated. */}}
{{- define "vllm-serving.warnings.autoscaling" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $warnings := list }}
{{- $a := .Values.autoscaling }}
{{- $tolerance := $rules.hpaTolerance | float64 }}
{{- if $a.enabled }}
{{- range $i, $m := $a.metrics }}
{{- $ceiling := 0.0 }}{{ $of := "" }}
{{- if eq $m.type "gpu-utilization" }}{{ $ceiling = 100.0 }}{{ $of = "GPU utilization stops at 100 %" }}{{ end }}
{{- if and (eq $m.type "batch-size") $.Values.vllm.maxNumSeqs }}{{ $ceiling = float64 $.Values.vllm.maxNumSeqs }}{{ $of = printf "a pod runs at most vllm.maxNumSeqs (%d) requests at once" (int $.Values.vllm.maxNumSeqs) }}{{ end }}
{{- $target := float64 $m.target }}
{{- $passedAt := mulf $target (addf 1.0 $tolerance) }}
{{- /* Targets the autoscaler can never pass are refused (vllm-serving.validate.autoscaling). */}}
{{- if and (gt $ceiling 0.0) (lt $passedAt $ceiling) (gt $target (mulf $ceiling ($rules.warnings.targetCeilingFraction | float64))) }}
{{- $warnings = append $warnings (printf "autoscaling.metrics[%d].target: %v is close to the metric's ceiling (%s): the autoscaler adds a pod only once the average passes %v, when the pods are already saturated, and requests then queue for up to %s s (the startup budget) while the new pod loads the model; a target of at most %v scales out before that" $i $m.target $of (round $passedAt 2 | include "vllm-serving.asWritten") (include "vllm-serving.startupBudget" $) (mulf $ceiling ($rules.warnings.targetCeilingFraction | float64) | floor | include "vllm-serving.asWritten")) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $warnings }}
{{- end }}
