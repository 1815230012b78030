{{/* Probe, shutdown, rollout and disruption settings that could never work. */}}
{{- define "vllm-serving.validate.lifecycle" -}}
{{- $errors := list }}
{{- if and (not .Values.startup.maxSeconds) (not (include "vllm-serving.weightsGB" .)) }}
{{- $errors = append $errors (printf "model.weightsGB: %s is not in the chart's model table (rules.yaml), so the startup budget cannot be sized to it; set model.weightsGB to the checkpoint's size in GB (its *.safetensors files together), or startup.maxSeconds" .Values.model.name) }}
{{- end }}
{{- $budget := include "vllm-serving.startupBudget" . | int }}
{{- if lt $budget (.Values.startup.periodSeconds | int) }}
{{- $errors = append $errors (printf "startup.maxSeconds: %d is shorter than startup.periodSeconds (%d); raise startup.maxSeconds to the time the first load takes" $budget (.Values.startup.periodSeconds | int)) }}
{{- end }}

{{- /* A normal deletion: preStop pause, vLLM's drain (--shutdown-timeout), the margin, then the kill. */}}
{{- $grace := .Values.terminationGracePeriodSeconds | int }}
{{- $margin := .Values.shutdownMarginSeconds | int }}
{{- $pause := .Values.preStopSleepSeconds | int }}
{{- if le $grace (add $pause $margin) }}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds: %d must exceed preStopSleepSeconds (%d) plus shutdownMarginSeconds (%d), or in-flight requests are cut off; raise it to at least %d or shorten the pause" $grace $pause $margin (add $pause $margin 1)) }}
{{- end }}

{{- /* A Spot preemption: the kubelet kills the pod after min(its grace, the node's grace for non-system
       pods) (kubernetes pkg/kubelet/nodeshutdown killPods); the pause and the margin must leave vLLM some
       of that window to drain. */}}
{{- $spot := .Values.gke.spotShutdown }}
{{- $limit := get (include "vllm-serving.rules" . | fromYaml).capacity.spotGraceSeconds .Values.gke.mode | int }}
{{- if gt ($spot.nodeGraceSeconds | int) $limit }}
{{- $errors = append $errors (printf "gke.spotShutdown.nodeGraceSeconds: %d is more than the %d s GKE gives a pod on a %s Spot VM after the preemption notice; use %d or less" ($spot.nodeGraceSeconds | int) $limit .Values.gke.mode $limit) }}
{{- end }}
{{- if include "vllm-serving.mayRunOnSpot" . }}
{{- $window := min $grace ($spot.nodeGraceSeconds | int) }}
{{- $spotPause := (include "vllm-serving.shutdownTimings" . | fromJson).preStopSleepSeconds | int }}
{{- if ge (add $spotPause $margin) $window }}
{{- $errors = append $errors (printf "gke.spotShutdown.preStopSleepSeconds: %d plus shutdownMarginSeconds (%d) leaves vLLM no time to drain in the %d s the kubelet gives a pod whose Spot VM is preempted (gke.spotShutdown.nodeGraceSeconds); use at most %d" $spotPause $margin $window (sub (sub $window $margin) 1)) }}
{{- end }}
{{- end }}

{{- $maxUnavailable := toString .Values.rollout.maxUnavailable }}
{{- $maxSurge := toString .Values.rollout.maxSurge }}
{{- $rolling := eq .Values.rollout.strategy "RollingUpdate" }}
{{- if and $rolling (eq ($maxUnavailable | trimSuffix "%") "0") (eq ($maxSurge | trimSuffix "%") "0") }}
{{- $errors = append $errors "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod; set rollout.maxUnavailable to 1" }}
{{- else if and $rolling (eq (include "vllm-serving.workloadKind" .) "LeaderWorkerSet") (not .Values.batch.enabled) }}
{{- /* The LeaderWorkerSet webhook (lws v0.9.0 pkg/webhooks/leaderworkerset_webhook.go) scales both over
       spec.replicas, maxUnavailable rounded down and maxSurge up, refuses 0 and 0, and any percentage
       above 100%. The fewest groups the release runs rounds down the most. */}}
{{- $source := ternary "autoscaling.minReplicas" "replicaCount" .Values.autoscaling.enabled }}
{{- $groups := max 1 (ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int) }}
{{- range $key, $value := dict "maxUnavailable" $maxUnavailable "maxSurge" $maxSurge }}
{{- if and (hasSuffix "%" $value) (gt ($value | trimSuffix "%" | int) 100) }}
{{- $errors = append $errors (printf "rollout.%s: %s is more than 100%%, which the LeaderWorkerSet webhook refuses; use 100%% or less" $key $value) }}
{{- end }}
{{- end }}
{{- if and (hasSuffix "%" $maxUnavailable) (eq ($maxSurge | trimSuffix "%") "0") }}
{{- if eq (div (mul ($maxUnavailable | trimSuffix "%" | int) $groups) 100) 0 }}
{{- $errors = append $errors (printf "rollout.maxUnavailable: %s of %d LeaderWorkerSet groups (%s) rounds down to 0 with rollout.maxSurge 0, which the LeaderWorkerSet webhook refuses; use a count of groups (1) or at least %d%%" $maxUnavailable $groups $source (div (add 100 $groups -1) $groups)) }}
{{- end }}
{{- end }}
{{- end }}

{{- /* The disruption controller counts pods, and evicting any pod of a group restarts the whole group:
       a percentage of pods can take down more groups than that percentage. */}}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (gt (.Values.parallelism.pipeline | int) 1) (kindIs "string" $pdb.maxUnavailable) }}
{{- $errors = append $errors (printf "podDisruptionBudget.maxUnavailable: %s counts pods, and with parallelism.pipeline %d each evicted pod takes its whole group down, so more groups than that could go; use a count of groups (1)" $pdb.maxUnavailable (.Values.parallelism.pipeline | int)) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
