{{/* gke.computeClass: the class the pods select and the one the chart creates, as GKE admits them
     ("About custom ComputeClasses": https://cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes;
     built-in classes: concepts/about-built-in-compute-classes, concepts/autopilot-compute-classes), and
     every priority able to hold the pod. The local cluster plays GKE's side of these rules (the CEL rules
     of scripts/vllm_serving/cluster/computeclass-crd.yaml and computeclass-policies.yaml). */}}
{{- define "vllm-serving.validate.computeClass" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- $gke := .Values.gke }}
{{- $c := $gke.computeClass }}
{{- $builtin := $rules.capacity.builtinComputeClasses }}
{{- $cc := $rules.computeClass }}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $class := include "vllm-serving.computeClassName" . }}
{{- $custom := include "vllm-serving.customComputeClass" . }}
{{- $reservedPrefix := printf "^(%s)" (join "|" $cc.reservedNamePrefixes) }}

{{- /* The class's name. */}}
{{- if and $class $gke.nodePool }}
{{- $errors = append $errors (printf "gke.nodePool: %s is set together with gke.computeClass; the class picks the node pools: list the pool in a priority's nodepools, or remove gke.computeClass" $gke.nodePool) }}
{{- end }}
{{- if and (has $c.name $builtin.autopilotOnly) (eq $gke.mode "standard") }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s is a built-in Autopilot ComputeClass, which a Standard cluster does not have; name a custom ComputeClass (gke.computeClass.create), or set gke.mode: autopilot" $c.name) }}
{{- else if has $c.name $builtin.withoutGpus }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s is GKE's built-in ComputeClass for general-purpose nodes, which have no GPUs; use Accelerator (Autopilot) or a custom ComputeClass with gpu priorities (gke.computeClass.create)" $c.name) }}
{{- else if and $c.name (not (has $c.name $builtin.autopilotOnly)) (regexMatch $reservedPrefix $c.name) }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s begins with %s, which GKE keeps for its own classes (a custom ComputeClass's name can't begin with %s); choose another name" $c.name (regexFind $reservedPrefix $c.name) (join " or " $cc.reservedNamePrefixes)) }}
{{- end }}
{{- if and $c.create $c.name (not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $c.name)) }}
{{- $errors = append $errors (printf "gke.computeClass.name: %s cannot name the ComputeClass the chart creates (object names are lower case); use lower case, or create: false to select an existing class" $c.name) }}
{{- end }}

{{- /* Spot-ness belongs to a custom class: GKE rejects Pods that request a ComputeClass and Spot VMs. */}}
{{- if and $custom $gke.spot }}
{{- $errors = append $errors (printf "gke.spot: true together with gke.computeClass (%s): GKE rejects Pods that select a custom ComputeClass and cloud.google.com/gke-spot; Spot VMs come from the class: remove gke.spot and give the class a priority with spot: true" $class) }}
{{- end }}

{{- /* The created class's priorities. */}}
{{- if and $c.create (not $c.priorities) }}
{{- $errors = append $errors "gke.computeClass.priorities: required with gke.computeClass.create; list the capacity to try, most preferred first" }}
{{- end }}
{{- if and $c.priorities (not $c.create) }}
{{- $errors = append $errors "gke.computeClass.priorities: only read with gke.computeClass.create; set gke.computeClass.create: true, or remove the priorities" }}
{{- end }}
{{- $localSsd := hasKey (include "vllm-serving.weights.nodeSelector" . | fromYaml) "cloud.google.com/gke-ephemeral-storage-local-ssd" }}
{{- range $i, $p := $c.priorities }}
{{- $where := printf "gke.computeClass.priorities[%d]" $i }}
{{- if $p.nodepools }}
{{- /* "You can't use other spec.priorities fields alongside the nodepools field in the same priority rule item." */}}
{{- $others := without (keys $p | sortAlpha) "nodepools" }}
{{- if $others }}
{{- $errors = append $errors (printf "%s: nodepools stands alone in its priority (GKE allows no other field beside it), but %s is set too; move %s to a priority of its own" $where (join ", " $others) (join ", " $others)) }}
{{- end }}
{{- if eq $gke.mode "autopilot" }}
{{- $errors = append $errors (printf "%s.nodepools: Autopilot creates every node itself and has no node pools to name; remove nodepools, or set gke.mode: standard" $where) }}
{{- end }}
{{- continue }}
{{- end }}
{{- if not $p.gpu }}
{{- $errors = append $errors (printf "%s.gpu: required, so that the chart can check the priority holds parallelism.tensor GPUs; add gpu {type, count}, or name nodepools alone" $where) }}
{{- continue }}
{{- end }}
{{- $count := $p.gpu.count | int }}
{{- $acc := get $rules.accelerators $p.gpu.type }}
{{- if lt $count $tensor }}
{{- $errors = append $errors (printf "%s.gpu.count: %d x %s per node cannot hold a pod of parallelism.tensor %d GPUs; give every priority at least %d GPUs, or lower parallelism.tensor" $where $count $p.gpu.type $tensor $tensor) }}
{{- else if gt $count ($acc.maxPerNode | int) }}
{{- $errors = append $errors (printf "%s.gpu.count: %d exceeds the %d GPUs of the largest %s machine (%s)" $where $count ($acc.maxPerNode | int) $p.gpu.type $acc.largestMachine) }}
{{- end }}
{{- /* No machine satisfies a priority whose machine carries another GPU, or another number of them. */}}
{{- if and $p.machineType (not (regexMatch $acc.machineTypes $p.machineType)) }}
{{- $errors = append $errors (printf "%s.machineType: %s carries no %s (its machine types match %s); use such a machine type, or change gpu.type" $where $p.machineType $p.gpu.type $acc.machineTypes) }}
{{- else if and $p.machineType (regexMatch "-[0-9]+g$" $p.machineType) (ne (regexFind "[0-9]+g$" $p.machineType | trimSuffix "g" | int) $count) }}
{{- $errors = append $errors (printf "%s.gpu.count: %d, but %s has %s GPUs; set gpu.count to that, or choose the machine type with %d" $where $count $p.machineType (regexFind "[0-9]+g$" $p.machineType | trimSuffix "g") $count) }}
{{- end }}
{{- if and $p.machineFamily (ne $p.machineFamily $acc.family) }}
{{- $errors = append $errors (printf "%s.machineFamily: %s carries no %s, which comes with the %s family; set machineFamily: %s, or change gpu.type" $where $p.machineFamily $p.gpu.type $acc.family $acc.family) }}
{{- end }}
{{- $reserved := and $p.reservations (ne (dig "affinity" "None" ($p.reservations | default dict)) "None") }}
{{- $flex := dig "enabled" false ($p.flexStart | default dict) }}
{{- $kinds := list }}
{{- if $p.spot }}{{ $kinds = append $kinds "spot" }}{{ end }}
{{- if $flex }}{{ $kinds = append $kinds "flexStart" }}{{ end }}
{{- if $reserved }}{{ $kinds = append $kinds "reservations" }}{{ end }}
{{- if gt (len $kinds) 1 }}
{{- $errors = append $errors (printf "%s: %s exclude each other: a node is Spot, flex-start or reserved capacity, never two; split them into separate priorities" $where (join " and " $kinds)) }}
{{- end }}
{{- if and $reserved (eq $p.reservations.affinity "Specific") (not $p.reservations.specific) }}
{{- $errors = append $errors (printf "%s.reservations.specific: required with affinity Specific; name the reservation, or use affinity AnyBestEffort" $where) }}
{{- end }}
{{- /* "Non-TPU reservations can be used only when either the machineType or machineFamily is defined." */}}
{{- if and $reserved (not $p.machineType) (not $p.machineFamily) }}
{{- $errors = append $errors (printf "%s.reservations: GKE consumes a reservation only for a priority that names its machineType or machineFamily; set machineType to the reservation's machine type" $where) }}
{{- end }}
{{- /* "ComputeClasses that specify reservations for a machineType that has attached local SSDs must include a localSSDCount: field explicitly." */}}
{{- $ssds := dig "localSSDCount" "" ($p.storage | default dict) }}
{{- if and $reserved $p.machineType (regexMatch $cc.localSsdMachineTypes $p.machineType) (kindIs "string" $ssds) }}
{{- $errors = append $errors (printf "%s.storage.localSSDCount: required for a reservation of %s, which has attached local SSDs; set it to the number the reservation's machines carry" $where $p.machineType) }}
{{- end }}
{{- /* The class, not a node selector, gives GCSFuse's file cache its Local SSD. */}}
{{- if and $localSsd (lt ($ssds | default 0 | int) 1) }}
{{- $errors = append $errors (printf "%s.storage.localSSDCount: weights.gcsfuse.fileCache.medium localSsd needs nodes with Local SSD ephemeral storage, which a ComputeClass's nodes get from this field (GKE rejects the node selector beside a class); set it to the number of local SSDs the machine type takes, or use fileCache.medium memory or bootDisk" $where) }}
{{- end }}
{{- if and $flex (gt ($p.maxRunDurationSeconds | default 0 | int) ($rules.capacity.flexStartMaxRunSeconds | int)) }}
{{- $errors = append $errors (printf "%s.maxRunDurationSeconds: %d is longer than flex-start nodes live (%d s, 7 days); use %d or less" $where ($p.maxRunDurationSeconds | int) ($rules.capacity.flexStartMaxRunSeconds | int) ($rules.capacity.flexStartMaxRunSeconds | int)) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
