{{/* The shared compile cache (compileCache): the storage it names must be given. */}}
{{- define "vllm-serving.validate.compileCache" -}}
{{- $errors := list }}
{{- $c := .Values.compileCache }}
{{- if and $c.enabled (eq $c.storage "gcsfuse") (not $c.bucket) }}
{{- $errors = append $errors "compileCache.bucket: required when compileCache.storage is gcsfuse; name a bucket the pods' ServiceAccount may write (roles/storage.objectUser), or set compileCache.storage: claim with compileCache.existingClaim" }}
{{- end }}
{{- if and $c.enabled (eq $c.storage "claim") (not $c.existingClaim) }}
{{- $errors = append $errors "compileCache.existingClaim: required when compileCache.storage is claim; name a ReadWriteMany PersistentVolumeClaim in the release's namespace (a Filestore share: storage class standard-rwx)" }}
{{- end }}
{{- if and $c.enabled (or (eq $c.mountPath .Values.weights.mountPath) (eq $c.mountPath .Values.weights.huggingface.cache.mountPath)) }}
{{- $errors = append $errors (printf "compileCache.mountPath: %s is where the weights are mounted; choose another directory, e.g. /vllm-cache" $c.mountPath) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
