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
{{- /* Sizes without a unit are bytes: "100" for a cache that must hold a model is a slip for 100Gi. */}}
{{- $sizes := dict "weights.gcsfuse.fileCache.size" .Values.weights.gcsfuse.fileCache.size "weights.huggingface.cache.sizeLimit" .Values.weights.huggingface.cache.sizeLimit "sharedMemory.sizeLimit" .Values.sharedMemory.sizeLimit }}
{{- range $where := keys $sizes | sortAlpha }}
{{- $size := get $sizes $where }}
{{- $text := include "vllm-serving.asWritten" $size }}
{{- if and (regexMatch "^[0-9.]+$" $text) (lt (include "vllm-serving.quantity" $text | float64) 1048576.0) }}
{{- $errors = append $errors (printf "%s: %s is %s bytes (a quantity without a unit counts bytes), far too small to hold a model; give a unit, e.g. %sGi" $where $text $text $text) }}
{{- end }}
{{- end }}
{{- /* /dev/shm is memory-backed: what vLLM's workers write there is charged to the container's memory,
       which the limit caps first. */}}
{{- $memoryLimit := get (.Values.resources.limits | default dict) "memory" }}
{{- if and (gt (.Values.parallelism.tensor | int) 1) $memoryLimit }}
{{- if gt (include "vllm-serving.quantity" .Values.sharedMemory.sizeLimit | float64) (include "vllm-serving.quantity" $memoryLimit | float64) }}
{{- $errors = append $errors (printf "sharedMemory.sizeLimit: %s is more than resources.limits.memory (%s); /dev/shm is memory-backed and counts against the container's memory, so the container would be OOM-killed before /dev/shm filled; lower sharedMemory.sizeLimit or raise the memory limit" (include "vllm-serving.asWritten" .Values.sharedMemory.sizeLimit) (include "vllm-serving.asWritten" $memoryLimit)) }}
{{- end }}
{{- end }}
{{- /* A pod larger than the largest machine of its GPU never schedules (on Standard it stays Pending; on
       Autopilot, whose maximum for a GPU pod is below the machine's shape, GKE rejects it: "If your requests
       are greater than the maximum, Autopilot rejects your workload", cloud.google.com/kubernetes-engine/docs/
       concepts/autopilot-resource-requests). A request defaults to its limit. */}}
{{- $shapes := get (include "vllm-serving.rules" . | fromYaml).machines .Values.gke.accelerator }}
{{- if $shapes }}
{{- $largest := last $shapes }}
{{- $room := dict "cpu" (float64 $largest.vcpus) "memory" (mulf $largest.memoryGiB 1073741824.0) }}
{{- $shown := dict "cpu" (printf "%v vCPUs" $largest.vcpus) "memory" (printf "%vGiB of memory" $largest.memoryGiB) }}
{{- range $resource := list "cpu" "memory" }}
{{- $section := ternary "requests" "limits" (hasKey $requests $resource) }}
{{- $asked := get (ternary $requests $limits (eq $section "requests")) $resource }}
{{- if and $asked (gt (include "vllm-serving.quantity" $asked | float64) (get $room $resource)) }}
{{- $errors = append $errors (printf "resources.%s.%s: %s is more than the %s of %s, the largest %s machine, so no node could hold the pod (Autopilot rejects it, Standard leaves it Pending); ask for less, leaving room for the kubelet's reservation and system pods" $section $resource (include "vllm-serving.asWritten" $asked) (get $shown $resource) $largest.machineType $.Values.gke.accelerator) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
