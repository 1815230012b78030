{{/* The batch Job: where it reads and writes, and what a batch release cannot have. */}}
{{- define "vllm-serving.validate.batch" -}}
{{- $errors := list }}
{{- $b := .Values.batch }}
{{- if $b.enabled }}
{{- if and (not $b.bucket) (not $b.existingClaim) }}
{{- $errors = append $errors "batch.bucket: a batch Job needs somewhere to read requests and write results; name a bucket or set batch.existingClaim" }}
{{- else if and $b.bucket $b.existingClaim }}
{{- $errors = append $errors "batch.existingClaim: set together with batch.bucket; use one of them" }}
{{- end }}
{{- if not $b.input }}
{{- $errors = append $errors "batch.input: required when batch.enabled; the JSONL file of requests, relative to batch.directory" }}
{{- end }}
{{- if gt (.Values.parallelism.pipeline | int) 1 }}
{{- $errors = append $errors "parallelism.pipeline: a batch Job runs one pod per shard; multi-node (pipeline > 1) serves only, so set parallelism.pipeline: 1 or batch.enabled: false" }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- $errors = append $errors "autoscaling.enabled: a batch Job is not autoscaled; use batch.parallelism, or batch.enabled: false" }}
{{- end }}
{{- if gt ($b.parallelism | int) ($b.shards | int) }}
{{- $errors = append $errors (printf "batch.parallelism: %d is more than batch.shards (%d); the extra pods would have no shard" ($b.parallelism | int) ($b.shards | int)) }}
{{- end }}
{{- end }}
{{- if and .Values.chatUI.enabled $b.enabled }}
{{- $errors = append $errors "chatUI.enabled: the chat UI talks to the serving Service, which a batch release does not have; deploy it with a serving release" }}
{{- end }}
{{- if and $b.enabled $b.input $b.output (eq (trimPrefix "./" $b.input) (trimPrefix "./" $b.output)) }}
{{- $errors = append $errors (printf "batch.output: %s is batch.input too, so the results would overwrite the requests they answer; name another file (e.g. results.jsonl)" $b.output) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
