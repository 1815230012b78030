{{/* GPU capacity: Spot VMs, flex-start and queued provisioning (the ComputeClass is _compute_class.tpl). */}}
{{- define "vllm-serving.validate.capacity" -}}
{{- $errors := list }}
{{- $gke := .Values.gke }}
{{- $c := $gke.computeClass }}
{{- $classSet := or $c.name $c.create }}

{{- /* Flex-start and queued provisioning are for the batch Job. */}}
{{- $prov := .Values.batch.provisioning }}
{{- if ne $prov "onDemand" }}
{{- if not .Values.batch.enabled }}
{{- $errors = append $errors (printf "batch.provisioning: %s provisions the batch Job's nodes; set batch.enabled, or for serving add a flexStart priority to gke.computeClass" $prov) }}
{{- else if $classSet }}
{{- $errors = append $errors (printf "batch.provisioning: %s together with gke.computeClass; the class decides how nodes are provisioned: add a flexStart priority to it, or set batch.provisioning: onDemand" $prov) }}
{{- else if $gke.spot }}
{{- $errors = append $errors (printf "gke.spot: flex-start capacity (batch.provisioning: %s) is not Spot; remove gke.spot, or set batch.provisioning: onDemand" $prov) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}

{{/* Warnings (vllm-serving.warnings): capacity that serves, but not through a preemption. */}}
{{- define "vllm-serving.warnings.capacity" -}}
{{- $warnings := list }}
{{- $a := .Values.autoscaling }}
{{- $c := .Values.gke.computeClass }}
{{- $where := ternary "autoscaling.minReplicas" "replicaCount" $a.enabled }}
{{- $fewest := ternary $a.minReplicas .Values.replicaCount $a.enabled | int }}
{{- /* Spot as the capacity the pods prefer (a class that merely falls back to Spot is not warned of). */}}
{{- $spotBy := "" }}
{{- if .Values.gke.spot }}{{ $spotBy = "gke.spot" }}
{{- else if eq (toString (get .Values.nodeSelector "cloud.google.com/gke-spot")) "true" }}{{ $spotBy = "nodeSelector.cloud.google.com/gke-spot" }}
{{- else if and $c.create $c.priorities (first $c.priorities).spot }}{{ $spotBy = "gke.computeClass.priorities[0].spot" }}
{{- else if and (not $c.create) (eq $c.name "autopilot-spot") }}{{ $spotBy = "gke.computeClass.name: autopilot-spot" }}
{{- end }}
{{- if and $spotBy (not .Values.batch.enabled) (eq $fewest 1) }}
{{- $warnings = append $warnings (printf "%s: 1 pod on Spot VMs (%s): a preemption takes the API down until a replacement has loaded the model on another node (up to %s s, the startup budget); run at least 2 pods (%s: 2), or prefer on-demand capacity, if the API must stay up" $where $spotBy (include "vllm-serving.startupBudget" .) $where) }}
{{- end }}
{{- toYaml $warnings }}
{{- end }}
