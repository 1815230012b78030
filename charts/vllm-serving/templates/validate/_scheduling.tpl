{{/* Node selectors that would silently lose to gke.accelerator, gke.nodePool or a ComputeClass. */}}
{{- define "vllm-serving.validate.scheduling" -}}
{{- $errors := list }}
{{- /* Settings that would silently lose to another: refuse them rather than drop one. */}}
{{- $pinnedAccelerator := get .Values.nodeSelector "cloud.google.com/gke-accelerator" }}
{{- $pinnedPool := get .Values.nodeSelector "cloud.google.com/gke-nodepool" }}
{{- $class := include "vllm-serving.computeClassName" . }}
{{- if $class }}
{{- /* With a ComputeClass the pods select the class, not gke.accelerator: a pinned accelerator or pool
       would make every fallback of the class unschedulable. */}}
{{- range $key, $pinned := dict "cloud.google.com/gke-accelerator" $pinnedAccelerator "cloud.google.com/gke-nodepool" $pinnedPool }}
{{- if $pinned }}
{{- $errors = append $errors (printf "nodeSelector.%s: %v pins the nodes while gke.computeClass (%s) chooses them, so the class's other priorities could never be used; remove it from nodeSelector and list it in the class's priorities" $key $pinned $class) }}
{{- end }}
{{- end }}
{{- else if and $pinnedAccelerator (ne (toString $pinnedAccelerator) .Values.gke.accelerator) }}
{{- $errors = append $errors (printf "nodeSelector.cloud.google.com/gke-accelerator: %v contradicts gke.accelerator (%s), whose selector wins; remove it from nodeSelector and set gke.accelerator" $pinnedAccelerator .Values.gke.accelerator) }}
{{- end }}
{{- if and (not $class) $pinnedPool .Values.gke.nodePool (ne (toString $pinnedPool) .Values.gke.nodePool) }}
{{- $errors = append $errors (printf "nodeSelector.cloud.google.com/gke-nodepool: %v contradicts gke.nodePool (%s), whose selector wins; remove it from nodeSelector and set gke.nodePool" $pinnedPool .Values.gke.nodePool) }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
