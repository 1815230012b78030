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
     preStop pause that precedes SIGTERM and the margin vLLM needs after its drain to abort what is left
     and stop its processes before the kill (vllm 0.33 v1/engine/core.py _handle_shutdown). */}}
{{- define "vllm-serving.shutdownTimeout" -}}
{{- $t := include "vllm-serving.shutdownTimings" . | fromJson }}
{{- sub (sub ($t.terminationGracePeriodSeconds | int) ($t.preStopSleepSeconds | int)) (.Values.shutdownMarginSeconds | int) }}
{{- end }}

{{/* The pod's grace period and preStop pause, as JSON (use with fromJson). The grace is the one a normal
     deletion gives (rollouts, scale-in, drains); at a Spot preemption the kubelet caps it anyway
     (pkg/kubelet/nodeshutdown killPods: min(pod grace, the node's grace for its priority)), so only the
     pause shrinks there, for vLLM to get SIGTERM inside that window. */}}
{{- define "vllm-serving.shutdownTimings" -}}
{{- $preStop := .Values.preStopSleepSeconds | int }}
{{- if include "vllm-serving.mayRunOnSpot" . }}
{{- $preStop = min $preStop (.Values.gke.spotShutdown.preStopSleepSeconds | int) }}
{{- end }}
{{- toJson (dict "terminationGracePeriodSeconds" (.Values.terminationGracePeriodSeconds | int) "preStopSleepSeconds" $preStop) }}
{{- end }}

{{/* "true" when the pods may land on Spot VMs: gke.spot (or a gke-spot node selector), a created
     ComputeClass with a spot priority, the built-in autopilot-spot class, or an existing custom class
     (its priorities are not in the values, so Spot is assumed); else empty. */}}
{{- define "vllm-serving.mayRunOnSpot" -}}
{{- $c := .Values.gke.computeClass }}
{{- $builtIn := (include "vllm-serving.rules" . | fromYaml).capacity.autopilotComputeClasses }}
{{- $spot := or .Values.gke.spot (eq (toString (get .Values.nodeSelector "cloud.google.com/gke-spot")) "true") }}
{{- if $c.create }}
{{- range $c.priorities }}{{ if .spot }}{{ $spot = true }}{{ end }}{{ end }}
{{- else if $c.name }}
{{- $spot = or $spot (eq $c.name "autopilot-spot") (not (has $c.name $builtIn)) }}
{{- end }}
{{- if $spot }}true{{ end }}
{{- end }}
