{{/*
Per weight source: the pod's volumes, the vLLM container's mounts and its environment.
Only the block of weights.source is read.
*/}}

{{- define "vllm-serving.weights.volumes" -}}
{{- if eq .Values.weights.source "huggingface" }}
{{- $cache := .Values.weights.huggingface.cache }}
- name: hf-cache
  {{- if $cache.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ $cache.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ $cache.sizeLimit }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "vllm-serving.weights.volumeMounts" -}}
{{- if eq .Values.weights.source "huggingface" }}
- name: hf-cache
  mountPath: {{ .Values.weights.huggingface.cache.mountPath }}
{{- end }}
{{- end }}

{{- define "vllm-serving.weights.env" -}}
{{- if eq .Values.weights.source "huggingface" }}
{{- $hf := .Values.weights.huggingface }}
- name: HF_HOME
  value: {{ $hf.cache.mountPath | quote }}
{{- with $hf.tokenSecret.name }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $hf.tokenSecret.key }}
{{- end }}
{{- end }}
{{- end }}
