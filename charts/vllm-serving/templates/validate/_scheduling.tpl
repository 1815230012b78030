{{/* Node selectors that would silently lose to gke.accelerator, gke.nodePool or a ComputeClass, or that GKE
     rejects beside a ComputeClass. */}}
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
{{- if and $pinned (or (include "vllm-serving.customComputeClass" $) (eq $key "cloud.google.com/gke-nodepool")) }}
{{- $errors = append $errors (printf "nodeSelector.%s: %v pins the nodes while gke.computeClass (%s) chooses them, so the class's other priorities could never be used; remove it from nodeSelector and list it in the class's priorities" $key $pinned $class) }}
{{- end }}
{{- end }}
{{- end }}
{{- if include "vllm-serving.customComputeClass" . }}
{{- /* GKE rejects a Pod that selects a custom ComputeClass and a system label that a field of the class
       decides ("About custom ComputeClasses", "Node selectors for system node labels"). */}}
{{- $fields := (include "vllm-serving.rules" . | fromYaml).computeClass.classFieldLabels }}
{{- range $key := keys .Values.nodeSelector | sortAlpha }}
{{- if and (hasKey $fields $key) (ne $key "cloud.google.com/gke-accelerator") }}
{{- $errors = append $errors (printf "nodeSelector.%s: GKE rejects Pods that select a custom ComputeClass (%s) and this label, which the class decides; remove it from nodeSelector and set %s in the class" $key $class (get $fields $key)) }}
{{- end }}
{{- end }}
{{- else if and $pinnedAccelerator (ne (toString $pinnedAccelerator) .Values.gke.accelerator) }}
{{- $errors = append $errors (printf "nodeSelector.cloud.google.com/gke-accelerator: %v contradicts gke.accelerator (%s), whose selector wins; remove it from nodeSelector and set gke.accelerator" $pinnedAccelerator .Values.gke.accelerator) }}
{{- end }}
{{- if and (not $class) $pinnedPool .Values.gke.nodePool (ne (toString $pinnedPool) .Values.gke.nodePool) }}
{{- $errors = append $errors (printf "nodeSelector.cloud.google.com/gke-nodepool: %v contradicts gke.nodePool (%s), whose selector wins; remove it from nodeSelector and set gke.nodePool" $pinnedPool .Values.gke.nodePool) }}
{{- end }}
{{- /* A zone label's value is a zone (us-central1-a): a region there matches no node. */}}
{{- range $key := list "topology.kubernetes.io/zone" "topology.gke.io/zone" "failure-domain.beta.kubernetes.io/zone" }}
{{- $zone := get $.Values.nodeSelector $key | default "" | toString }}
{{- if regexMatch "^[a-z]+-[a-z]+[0-9]+$" $zone }}
{{- $errors = append $errors (printf "nodeSelector.%s: %s is a region, and a node's zone label is always a zone, so no pod would schedule; name one of its zones (e.g. %s-a), or select the region with topology.kubernetes.io/region" $key $zone $zone) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
