{{/*
The vLLM argv, built in one place: after `vllm serve` (form "serve"; role server, or worker for a
LeaderWorkerSet's headless workers) or `vllm run-batch` (form "batch"). Typed values become flags only
when set; extraArgs
follow verbatim. The flags built here are listed under ownedFlags in rules.yaml,
so that the rules in templates/validate/ and `vllm-serving validate` refuse them in extraArgs.
*/}}
{{- define "vllm-serving.args" -}}
{{- $v := .Values.vllm }}
{{- $model := include "vllm-serving.weights.modelArg" . }}
{{- /* `vllm serve MODEL` takes the model as its first argument, `vllm run-batch` as --model. */}}
{{- $args := list $model }}
{{- if eq .form "batch" }}
{{- $args = list "--model" $model }}
{{- end }}
{{- /* Clients use model.servedName, else model.name, whatever vLLM loads from (a path, a gs:// URL). */}}
{{- $served := include "vllm-serving.servedModelName" . }}
{{- if ne $served $model }}
{{- $args = concat $args (list "--served-model-name" $served) }}
{{- end }}
{{- if eq .form "serve" }}
{{- $args = concat $args (list "--port" ($v.port | toString)) }}
{{- /* On SIGTERM vLLM aborts in-flight requests unless given time to drain: what the grace period
       leaves after the preStop pause. */}}
{{- $args = concat $args (list "--shutdown-timeout" (include "vllm-serving.shutdownTimeout" . )) }}
{{- end }}
{{- $args = concat $args (list "--tensor-parallel-size" (.Values.parallelism.tensor | toString)) }}
{{- $pipeline := .Values.parallelism.pipeline | int }}
{{- if gt $pipeline 1 }}
{{- /* Across the pods of a LeaderWorkerSet group, natively (vLLM's multiprocessing backend; the image
       has no Ray): every pod runs `vllm serve` with the group's size, its own rank and the leader's
       address. The LWS pod webhook injects LWS_WORKER_INDEX (0 on the leader) and LWS_LEADER_ADDRESS
       (<lws>-<group>.<lws>.<namespace>) into every container; the kubelet expands $(VAR) in args. */}}
{{- $args = concat $args (list "--pipeline-parallel-size" (toString $pipeline) "--nnodes" (toString $pipeline) "--node-rank" "$(LWS_WORKER_INDEX)" "--master-addr" "$(LWS_LEADER_ADDRESS)" "--master-port" (.Values.parallelism.masterPort | toString)) }}
{{- if eq .role "worker" }}
{{- /* Workers run the model's other stages and serve no API. */}}
{{- $args = append $args "--headless" }}
{{- end }}
{{- end }}
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
{{- $source := include "vllm-serving.weights.block" . | fromJson }}
{{- with $source.loadFormat }}
{{- $args = concat $args (list "--load-format" .) }}
{{- end }}
{{- with $source.safetensorsLoadStrategy }}
{{- $args = concat $args (list "--safetensors-load-strategy" .) }}
{{- end }}
{{- if eq .Values.weights.source "gcsStream" }}
{{- $streamer := dict "concurrency" ($source.concurrency | int) }}
{{- if not (kindIs "invalid" $source.memoryLimit) }}
{{- $_ := set $streamer "memory_limit" ($source.memoryLimit | int64) }}
{{- end }}
{{- $args = concat $args (list "--model-loader-extra-config" (toJson $streamer)) }}
{{- end }}
{{- $args = concat $args (include "vllm-serving.lora.args" . | fromJsonArray) }}
{{- with include "vllm-serving.chatTemplate.file" . }}
{{- $args = concat $args (list "--chat-template" .) }}
{{- end }}
{{- $args = concat $args $v.extraArgs }}
{{- toJson $args }}
{{- end }}

{{/* Seconds vLLM drains in-flight requests after SIGTERM (--shutdown-timeout): the grace period less the
     preStop pause that precedes SIGTERM. */}}
{{- define "vllm-serving.shutdownTimeout" -}}
{{- $t := include "vllm-serving.shutdownTimings" . | fromJson }}
{{- sub ($t.terminationGracePeriodSeconds | int) ($t.preStopSleepSeconds | int) }}
{{- end }}

{{/* The pod's grace period and preStop pause: gke.spotShutdown on Spot VMs, whose node shuts down soon
     after the preemption notice; else the chart-wide values. As JSON (use with fromJson). */}}
{{- define "vllm-serving.shutdownTimings" -}}
{{- if .Values.gke.spot }}{{ toJson .Values.gke.spotShutdown }}
{{- else }}{{ toJson (pick .Values "terminationGracePeriodSeconds" "preStopSleepSeconds") }}{{ end }}
{{- end }}
