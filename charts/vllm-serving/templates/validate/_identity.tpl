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
{{- /* Workload Identity names a Google service account by its e-mail (a user-managed one, or a project's
       Compute Engine default service account, PROJECT_NUMBER-compute@developer.gserviceaccount.com). */}}
{{- $accounts := dict "serviceAccount.gcpServiceAccount" (.Values.serviceAccount.gcpServiceAccount | default "") "serviceAccount.annotations.iam.gke.io/gcp-service-account" (get .Values.serviceAccount.annotations "iam.gke.io/gcp-service-account" | default "") }}
{{- range $where := keys $accounts | sortAlpha }}
{{- $email := get $accounts $where }}
{{- if and $email (not (regexMatch $rules.googleServiceAccount $email)) }}
{{- $errors = append $errors (printf "%s: %s is not a Google service account's e-mail; use NAME@PROJECT_ID.iam.gserviceaccount.com, or a project's Compute Engine default service account PROJECT_NUMBER-compute@developer.gserviceaccount.com" $where $email) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
