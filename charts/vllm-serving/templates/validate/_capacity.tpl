{{/* GPU capacity: Spot VMs, ComputeClass fallbacks, flex-start and queued provisioning. */}}
{{- define "vllm-serving.validate.capacity" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- $gke := .Values.gke }}
{{- $c := $gke.computeClass }}
{{- $cap := $rules.capacity }}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $classSet := or $c.name $c.create }}

{{- /* ComputeClass: the class picks machines, so pools are its business; every priority must hold the pod. */}}
{{- if and $classSet $gke.nodePool }}
{{- $errors = append $errors (printf "gke.nodePool: %s is set together with gke.computeClass; the class picks the node pools: list the pool in a priority's nodepools, or remove gke.computeClass" $gke.nodePool) }}
{{- end }}
{{- if and (has $c.name $cap.autopilotComputeClasses) (eq $gke.mode "standard") }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s is a built-in Autopilot ComputeClass, which a Standard cluster does not have; name a custom ComputeClass (gke.computeClass.create), or set gke.mode: autopilot" $c.name) }}
{{- end }}
{{- if and $c.create $c.name (not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $c.name)) }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s cannot name the ComputeClass the chart creates (object names are lower case); use lower case, or create: false to select an existing class" $c.name) }}
{{- end }}
{{- if and $c.create (not $c.priorities) }}
{{- $errors = append $errors "gke.computeClass.priorities: required with gke.computeClass.create; list the capacity to try, most preferred first" }}
{{- end }}
{{- if and $c.priorities (not $c.create) }}
{{- $errors = append $errors "gke.computeClass.priorities: only read with gke.computeClass.create; set gke.computeClass.create: true, or remove the priorities" }}
{{- end }}
{{- $anySpot := false }}
{{- range $i, $p := $c.priorities }}
{{- $where := printf "gke.computeClass.priorities[%d]" $i }}
{{- $count := $p.gpu.count | int }}
{{- $acc := get $rules.accelerators $p.gpu.type }}
{{- if lt $count $tensor }}
{{- $errors = append $errors (printf "%s.gpu.count: %d x %s per node cannot hold a pod of parallelism.tensor %d GPUs; give every priority at least %d GPUs, or lower parallelism.tensor" $where $count $p.gpu.type $tensor $tensor) }}
{{- else if gt $count ($acc.maxPerNode | int) }}
{{- $errors = append $errors (printf "%s.gpu.count: %d exceeds the %d GPUs of the largest %s machine (%s)" $where $count ($acc.maxPerNode | int) $p.gpu.type $acc.largestMachine) }}
{{- end }}
{{- $reserved := and $p.reservations (ne (dig "affinity" "None" ($p.reservations | default dict)) "None") }}
{{- $flex := dig "enabled" false ($p.flexStart | default dict) }}
{{- $kinds := list }}
{{- if $p.spot }}{{ $kinds = append $kinds "spot" }}{{ $anySpot = true }}{{ end }}
{{- if $flex }}{{ $kinds = append $kinds "flexStart" }}{{ end }}
{{- if $reserved }}{{ $kinds = append $kinds "reservations" }}{{ end }}
{{- if gt (len $kinds) 1 }}
{{- $errors = append $errors (printf "%s: %s exclude each other: a node is Spot, flex-start or reserved capacity, never two; split them into separate priorities" $where (join " and " $kinds)) }}
{{- end }}
{{- if and $reserved (eq $p.reservations.affinity "Specific") (not $p.reservations.specific) }}
{{- $errors = append $errors (printf "%s.reservations.specific: required with affinity Specific; name the reservation, or use affinity AnyBestEffort" $where) }}
{{- end }}
{{- if and $flex (gt ($p.maxRunDurationSeconds | default 0 | int) ($cap.flexStartMaxRunSeconds | int)) }}
{{- $errors = append $errors (printf "%s.maxRunDurationSeconds: %d is longer than flex-start nodes live (%d s, 7 days); use %d or less" $where ($p.maxRunDurationSeconds | int) ($cap.flexStartMaxRunSeconds | int) ($cap.flexStartMaxRunSeconds | int)) }}
{{- end }}
{{- if and $p.nodepools (eq $gke.mode "autopilot") }}
{{- $errors = append $errors (printf "%s.nodepools: Autopilot creates every node itself and has no node pools to name; remove nodepools, or set gke.mode: standard" $where) }}
{{- end }}
{{- end }}
{{- if and $gke.spot $c.create $c.priorities (not $anySpot) }}
{{- $errors = append $errors "gke.spot: true selects Spot nodes, but no priority of gke.computeClass.priorities is spot, so none of the class's nodes would ever match; remove gke.spot (the class decides), or add a priority with spot: true" }}
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
