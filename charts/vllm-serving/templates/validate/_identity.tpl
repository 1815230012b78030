{{/* Secrets and identity: tokens and keys from Secrets, Workload Identity on a ServiceAccount the chart makes. */}}
{{- define "vllm-serving.validate.identity" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- /* Secrets come from Secrets only. */}}
{{- range $e := .Values.env }}
{{- $envName := $e.name | default "" | toString }}
{{- if and (has $envName $rules.tokenEnvNames) (hasKey $e "value") }}
{{- $errors = append $errors (printf "env: %s has a literal value; store the token in a Secret and set weights.huggingface.tokenSecret.name" $envName) }}
{{- else if and (regexMatch $rules.secretEnvPattern $envName) (not (has $envName $rules.notSecretEnvNames)) (hasKey $e "value") }}
{{- $errors = append $errors (printf "env: %s has a literal value; a secret comes from a Secret: use valueFrom.secretKeyRef" $envName) }}
{{- end }}
{{- end }}

{{- if and (not .Values.serviceAccount.create) .Values.serviceAccount.gcpServiceAccount }}
{{- $errors = append $errors "serviceAccount.gcpServiceAccount: with serviceAccount.create: false the chart makes no ServiceAccount to annotate, so Workload Identity would be lost; annotate your own ServiceAccount (serviceAccount.name) and remove gcpServiceAccount, or set serviceAccount.create: true" }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
