{{/*
Cross-field rules that the schema cannot express. Every problem is collected and reported in one
`fail`, so a user fixes them all in one go. vllm_serving/validate.py holds the same rules with the same
messages; both read their data from rules.yaml.
*/}}
{{- define "vllm-serving.validate" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}

{{- /* GPUs per pod: a power of two that the accelerator's largest machine can hold. */}}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $acc := get $rules.accelerators .Values.gke.accelerator }}
{{- $max := $acc.maxPerNode | int }}
{{- $choices := list }}
{{- range $n := list 1 2 4 8 16 }}{{ if le $n $max }}{{ $choices = append $choices (toString $n) }}{{ end }}{{ end }}
{{- $choiceText := printf "%s or %s" (initial $choices | join ", ") (last $choices) }}
{{- if not (has $tensor (list 1 2 4 8 16 32 64)) }}
{{- $errors = append $errors (printf "parallelism.tensor: %d is not a power of two; use %s" $tensor $choiceText) }}
{{- else if gt $tensor $max }}
{{- $errors = append $errors (printf "parallelism.tensor: %d exceeds the %d GPUs of the largest %s machine (%s); use %s, or choose gke.accelerator with larger machines" $tensor $max .Values.gke.accelerator $acc.largestMachine $choiceText) }}
{{- end }}

{{- /* One way to set one thing: flags built from typed values may not repeat in extraArgs. */}}
{{- range $arg := .Values.vllm.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" $arg "" }}
{{- with get $rules.ownedFlags $flag }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s is set by the chart from %s; set that value instead" $flag .) }}
{{- end }}
{{- end }}

{{- /* The GPU count has one source, parallelism.tensor. */}}
{{- range $section := list "requests" "limits" }}
{{- if hasKey (get $.Values.resources $section | default dict) "nvidia.com/gpu" }}
{{- $errors = append $errors (printf "resources.%s.nvidia.com/gpu: the GPU count comes from parallelism.tensor; remove it and set parallelism.tensor" $section) }}
{{- end }}
{{- end }}

{{- /* Tokens come from Secrets only. */}}
{{- range $e := .Values.env }}
{{- if and (has $e.name $rules.tokenEnvNames) (hasKey $e "value") }}
{{- $errors = append $errors (printf "env: %s has a literal value; store the token in a Secret and set weights.huggingface.tokenSecret.name" $e.name) }}
{{- end }}
{{- end }}

{{- /* Probe and shutdown timings that could never work. */}}
{{- if lt (.Values.startup.maxSeconds | int) (.Values.startup.periodSeconds | int) }}
{{- $errors = append $errors (printf "startup.maxSeconds: %d is shorter than startup.periodSeconds (%d); raise startup.maxSeconds to the time the first load takes" (.Values.startup.maxSeconds | int) (.Values.startup.periodSeconds | int)) }}
{{- end }}
{{- if le (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int) }}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds: %d must exceed preStopSleepSeconds (%d), or in-flight requests are cut off; raise it or shorten the pause" (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int)) }}
{{- end }}
{{- if and (eq .Values.rollout.strategy "RollingUpdate") (eq (toString .Values.rollout.maxUnavailable | trimSuffix "%") "0") (eq (toString .Values.rollout.maxSurge | trimSuffix "%") "0") }}
{{- $errors = append $errors "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod; set rollout.maxUnavailable to 1" }}
{{- end }}

{{- if $errors }}
{{- fail (printf "\n%s" (join "\n" $errors)) }}
{{- end }}
{{- end }}
