{{/* GPU capacity: Spot VMs, flex-start and queued provisioning (the ComputeClass is _compute_class.tpl). */}}
{{- define "vllm-serving.validate.capacity" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- $gke := .Values.gke }}
{{- $c := $gke.computeClass }}
{{- $cap := $rules.capacity }}
{{- $classSet := or $c.name $c.create }}

{{- /* Spot shutdown must fit what GKE gives a pod after the preemption notice. */}}
{{- if $gke.spot }}
{{- $grace := $gke.spotShutdown.terminationGracePeriodSeconds | int }}
{{- $limit := get $cap.spotGraceSeconds $gke.mode | int }}
{{- if gt $grace $limit }}
{{- $errors = append $errors (printf "gke.spotShutdown.terminationGracePeriodSeconds: %d is more than the %d s GKE gives a pod on a %s Spot VM after the preemption notice; use %d or less" $grace $limit $gke.mode $limit) }}
{{- end }}
{{- if le $grace ($gke.spotShutdown.preStopSleepSeconds | int) }}
{{- $errors = append $errors (printf "gke.spotShutdown.preStopSleepSeconds: %d must be shorter than gke.spotShutdown.terminationGracePeriodSeconds (%d), or vLLM never gets SIGTERM before the kill; shorten the pause" ($gke.spotShutdown.preStopSleepSeconds | int) $grace) }}
{{- end }}
{{- end }}

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
