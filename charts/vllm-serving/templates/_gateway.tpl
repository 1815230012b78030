{{/* The endpoint picker's ports (the pinned release's defaults, named in its args so that they are
     stated once) and argv. */}}
{{- define "vllm-serving.epp.grpcPort" -}}9002{{- end }}
{{- define "vllm-serving.epp.healthPort" -}}9003{{- end }}
{{- define "vllm-serving.epp.metricsPort" -}}9090{{- end }}

{{- define "vllm-serving.epp.args" -}}
{{- $epp := .Values.gateway.endpointPicker }}
{{- $args := list
  "--pool-name" (include "vllm-serving.fullname" .)
  "--pool-namespace" .Release.Namespace
  "--config-file" "/config/config.yaml"
  "--grpc-port" (include "vllm-serving.epp.grpcPort" .)
  "--grpc-health-port" (include "vllm-serving.epp.healthPort" .)
  "--metrics-port" (include "vllm-serving.epp.metricsPort" .)
  "--zap-encoder" "json"
  "--v" ($epp.verbosity | toString)
  "--tracing=false" }}
{{- /* Scrapers (GMP, Prometheus) read the picker's metrics without a ServiceAccount token; the
       NetworkPolicy limits who reaches the port. */}}
{{- $args = append $args "--metrics-endpoint-auth=false" }}
{{- /* pprof (on by default in v1.5.0) shares the metrics port, which scrapers reach without a token. */}}
{{- $args = append $args "--enable-pprof=false" }}
{{- /* A request queued while the pool had no endpoint carries the gateway's endpoint-subset hint as it was
       then: empty. The picker honours it, so the request never dispatches, even after pods come up (GIE issue
       #2117, fixed by this flag, #2126; pkg/epp/requestcontrol/candidates.go in v1.5.0). The chart's pool
       is the release's serving pods, which the picker knows itself: the hint adds nothing. */}}
{{- if $epp.flowControl }}
{{- $args = append $args "--disable-endpoint-subset-filter" }}
{{- end }}
{{- $args = concat $args $epp.extraArgs }}
{{- toJson $args }}
{{- end }}

{{/* The EndpointPickerConfig: score pods on queue length, KV-cache use and prefix-cache hits, and
     with LoRA adapters on which pods already hold the requested adapter. */}}
{{- define "vllm-serving.epp.config" -}}
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
{{- if .Values.gateway.endpointPicker.flowControl }}
{{- /* Read from the config file only (the runner's loader, cmd/epp/runner); its environment variable is
       deprecated. */}}
featureGates:
  - flowControl
{{- end }}
plugins:
  - type: queue-scorer
  - type: kv-cache-utilization-scorer
  - type: prefix-cache-scorer
  {{- if or .Values.lora.adapters .Values.lora.runtimeUpdates }}
  - type: lora-affinity-scorer
  {{- end }}
schedulingProfiles:
  - name: default
    plugins:
      - pluginRef: queue-scorer
        weight: 2
      - pluginRef: kv-cache-utilization-scorer
        weight: 2
      - pluginRef: prefix-cache-scorer
        weight: 3
      {{- if or .Values.lora.adapters .Values.lora.runtimeUpdates }}
      - pluginRef: lora-affinity-scorer
        weight: 1
      {{- end }}
{{- end }}

{{/* The gateway's wake-up signal: requests the endpoint picker's flow control holds for this release's
     pool. v1.5.0 names the gauge inference_extension_flow_control_queue_size and labels it with the
     pool's name (inference_pool, from --pool-name; pkg/epp/metrics/metrics.go,
     pkg/epp/flowcontrol/controller/controller.go). The llm-d router renames it
     llm_d_epp_flow_control_queue_size (v0.10.0, the old name kept as a deprecated alias): move with the
     pin. A scrape adds the picker's namespace. An exact metric name: Google Managed Prometheus matches no
     other way. */}}
{{- define "vllm-serving.epp.queueQuery" -}}
{{- printf "sum(inference_extension_flow_control_queue_size{%snamespace=%q,inference_pool=%q})" (include "vllm-serving.autoscaling.clusterMatcher" .) .Release.Namespace (include "vllm-serving.fullname" .) }}
{{- end }}

{{/* "true" when the chart writes the gateway's wake-up trigger: KEDA scaling to zero behind the gateway,
     with the picker holding requests. */}}
{{- define "vllm-serving.epp.wakesUp" -}}
{{- $a := .Values.autoscaling }}
{{- if and .Values.gateway.enabled .Values.gateway.endpointPicker.flowControl $a.enabled (eq $a.provider "keda") (eq ($a.minReplicas | int) 0) }}true{{ end }}
{{- end }}

{{/* `cluster="<autoscaling.clusterName>",` to begin a PromQL selector with, or nothing: GMP labels every
     series with the cluster it was scraped in, and its query endpoint reads the whole project. */}}
{{- define "vllm-serving.autoscaling.clusterMatcher" -}}
{{- with .Values.autoscaling.clusterName }}{{ printf "cluster=%q," . }}{{ end }}
{{- end }}
