{{/*
Cross-field rules that the schema cannot express. Every problem is collected and reported in one
`fail`, so a user fixes them all in one go. This is the only copy of each rule: `vllm-serving validate`
asks Helm (templates/validate.yaml) and prints these messages unchanged. Data comes from rules.yaml.
*/}}
{{- define "vllm-serving.validate" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}

{{- /* GPUs per pod: a power of two that the accelerator's largest machine can hold. */}}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $acc := get $rules.accelerators .Values.gke.accelerator }}
{{- $max := $acc.maxPerNode | int }}
{{- $choices := list }}
{{- range $n := list 1 2 4 8 16 }}{{ if le $n $max }}{{ $choices = append $choices (toString $n) }}{{ end }}{{ end }}
{{- $choiceText := printf "%s or %s" (initial $choices | join ", ") (last $choices) }}
{{- $class := .Values.gke.computeClass }}
{{- if not (has $tensor (list 1 2 4 8 16 32 64)) }}
{{- $errors = append $errors (printf "parallelism.tensor: %d is not a power of two; use %s" $tensor $choiceText) }}
{{- else if and (gt $tensor $max) (not $class.create) }}
{{- $errors = append $errors (printf "parallelism.tensor: %d exceeds the %d GPUs of the largest %s machine (%s); use %s, or choose gke.accelerator with larger machines" $tensor $max .Values.gke.accelerator $acc.largestMachine $choiceText) }}
{{- end }}

{{- /* One way to set one thing: flags built from typed values may not repeat in extraArgs. Flags are
       compared as vLLM 0.33's parser reads them (vllm/utils/argparse_utils.py, FlexibleArgumentParser:
       `--a_b` is `--a-b` up to the first ".", `--flag=value`; argparse takes a unique prefix of a long
       flag). One item holding a space is no flag to vLLM: it would refuse it only when the pod starts. */}}
{{- range $arg := .Values.vllm.extraArgs }}
{{- $name := regexReplaceAll "=.*$" $arg "" }}
{{- $flag := $name }}
{{- if hasPrefix "--" $name }}
{{- $head := regexReplaceAll "\\..*$" $name "" }}
{{- $flag = printf "%s%s" (replace "_" "-" $head) (trimPrefix $head $name) }}
{{- end }}
{{- $said := $flag }}
{{- if ne $flag $name }}{{ $said = printf "%s (to vLLM: %s)" $name $flag }}{{ end }}
{{- $owner := get $rules.ownedFlags $flag }}
{{- $abbreviates := "" }}
{{- if and (not $owner) (hasPrefix "--" $flag) (gt (len $flag) 3) }}
{{- range $owned, $value := $rules.ownedFlags }}
{{- if and (not $abbreviates) (hasPrefix $flag $owned) }}{{ $abbreviates = $owned }}{{ $owner = $value }}{{ end }}
{{- end }}
{{- end }}
{{- if and (hasPrefix "-" $arg) (regexMatch "\\s" $name) }}
{{- $errors = append $errors (printf "vllm.extraArgs: %q is one item holding a space, which vLLM does not read as a flag and its value; give them as two items, or as FLAG=VALUE" $arg) }}
{{- else if $abbreviates }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s abbreviates %s, which the chart sets from %s; set that value instead" $name $abbreviates $owner) }}
{{- else if $owner }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s is set by the chart from %s; set that value instead" $said $owner) }}
{{- end }}
{{- with get $rules.secretFlags $flag }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s puts a secret in the pod spec, where anyone who can read the workload sees it; set %s instead" $said .) }}
{{- end }}
{{- if has $flag $rules.gpuCountFlags }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s runs more engines than the parallelism.tensor GPUs the pod gets; scale out with replicaCount or autoscaling instead" $said) }}
{{- end }}
{{- end }}

{{- /* The GPU count has one source, parallelism.tensor. */}}
{{- range $section := list "requests" "limits" }}
{{- if hasKey (get $.Values.resources $section | default dict) "nvidia.com/gpu" }}
{{- $errors = append $errors (printf "resources.%s.nvidia.com/gpu: the GPU count comes from parallelism.tensor; remove it and set parallelism.tensor" $section) }}
{{- end }}
{{- end }}

{{- /* Kubernetes refuses a request above its limit, but only at install. */}}
{{- $requests := .Values.resources.requests | default dict }}
{{- $limits := .Values.resources.limits | default dict }}
{{- range $resource := keys $requests | sortAlpha }}
{{- if hasKey $limits $resource }}
{{- $request := get $requests $resource }}{{ $limit := get $limits $resource }}
{{- if gt (include "vllm-serving.quantity" $request | float64) (include "vllm-serving.quantity" $limit | float64) }}
{{- $errors = append $errors (printf "resources.requests.%s: %s is more than resources.limits.%s (%s), which Kubernetes refuses; raise the limit or lower the request" $resource (include "vllm-serving.asWritten" $request) $resource (include "vllm-serving.asWritten" $limit)) }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Secrets come from Secrets only. */}}
{{- range $e := .Values.env }}
{{- $envName := $e.name | default "" | toString }}
{{- if and (has $envName $rules.tokenEnvNames) (hasKey $e "value") }}
{{- $errors = append $errors (printf "env: %s has a literal value; store the token in a Secret and set weights.huggingface.tokenSecret.name" $envName) }}
{{- else if and (regexMatch $rules.secretEnvPattern $envName) (not (has $envName $rules.notSecretEnvNames)) (hasKey $e "value") }}
{{- $errors = append $errors (printf "env: %s has a literal value; a secret comes from a Secret: use valueFrom.secretKeyRef" $envName) }}
{{- end }}
{{- end }}

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
{{- if and (not .Values.serviceAccount.create) .Values.serviceAccount.gcpServiceAccount }}
{{- $errors = append $errors "serviceAccount.gcpServiceAccount: with serviceAccount.create: false the chart makes no ServiceAccount to annotate, so Workload Identity would be lost; annotate your own ServiceAccount (serviceAccount.name) and remove gcpServiceAccount, or set serviceAccount.create: true" }}
{{- end }}
{{- if and (regexMatch ":[^/]*$" .Values.image.repository) (not (contains "@" .Values.image.repository)) }}
{{- $errors = append $errors (printf "image.repository: %s carries a tag, and the chart appends image.tag (%s:%s); give the repository alone and the tag in image.tag" .Values.image.repository .Values.image.repository .Values.image.tag) }}
{{- else if contains "@" .Values.image.repository }}
{{- $errors = append $errors (printf "image.repository: %s carries a digest, which the chart cannot follow with image.tag; give the repository alone and the release in image.tag" .Values.image.repository) }}
{{- end }}

{{- /* Probe and shutdown timings that could never work. */}}
{{- $budget := include "vllm-serving.startupBudget" . | int }}
{{- if lt $budget (.Values.startup.periodSeconds | int) }}
{{- $errors = append $errors (printf "startup.maxSeconds: %d is shorter than startup.periodSeconds (%d); raise startup.maxSeconds to the time the first load takes" $budget (.Values.startup.periodSeconds | int)) }}
{{- end }}
{{- if le (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int) }}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds: %d must exceed preStopSleepSeconds (%d), or in-flight requests are cut off; raise it or shorten the pause" (.Values.terminationGracePeriodSeconds | int) (.Values.preStopSleepSeconds | int)) }}
{{- end }}
{{- if and (eq .Values.rollout.strategy "RollingUpdate") (eq (toString .Values.rollout.maxUnavailable | trimSuffix "%") "0") (eq (toString .Values.rollout.maxSurge | trimSuffix "%") "0") }}
{{- $errors = append $errors "rollout.maxUnavailable: 0 together with rollout.maxSurge 0 can never replace a pod; set rollout.maxUnavailable to 1" }}
{{- end }}

{{- /* Weights: exactly one source, with what it needs. */}}
{{- $w := .Values.weights }}
{{- range $source, $markers := $rules.sourceMarkers }}
{{- if ne $source $w.source }}
{{- range $field := $markers }}
{{- if get (get $w $source) $field }}
{{- $errors = append $errors (printf "weights.%s.%s is set but weights.source is %s; only one source is read: remove weights.%s, or set weights.source: %s" $source $field $w.source $source $source) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "gcsfuse") (not $w.gcsfuse.bucket) }}
{{- $errors = append $errors "weights.gcsfuse.bucket: required when weights.source is gcsfuse; name the bucket that holds the model" }}
{{- end }}
{{- if and (eq $w.source "gcsfuse") $w.gcsfuse.warmup.enabled (not $w.gcsfuse.fileCache.enabled) }}
{{- $errors = append $errors "weights.gcsfuse.warmup.enabled: the warm-up fills the file cache; set weights.gcsfuse.fileCache.enabled too" }}
{{- end }}
{{- if and (eq $w.source "gcsfuse") (eq .Values.gke.mode "autopilot") }}
{{- range $key := list "cpuLimit" "memoryLimit" "ephemeralStorageLimit" }}
{{- if eq (toString (get $w.gcsfuse.sidecar $key)) "0" }}
{{- $errors = append $errors (printf "weights.gcsfuse.sidecar.%s: \"0\" (no limit) is refused on Autopilot; give a quantity" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "gcsStream") (not $w.gcsStream.bucket) }}
{{- $errors = append $errors "weights.gcsStream.bucket: required when weights.source is gcsStream; name the bucket that holds the model" }}
{{- end }}
{{- if eq $w.source "persistentDisk" }}
{{- $pd := $w.persistentDisk }}
{{- if and (not $pd.disks) (not $pd.existingClaim) }}
{{- $errors = append $errors "weights.persistentDisk.disks: required when weights.source is persistentDisk; list the baked disk (projects/P/zones/Z/disks/D), or set weights.persistentDisk.existingClaim" }}
{{- else if and $pd.disks $pd.existingClaim }}
{{- $errors = append $errors "weights.persistentDisk.existingClaim: set together with weights.persistentDisk.disks; use one of them" }}
{{- end }}
{{- $zones := list }}
{{- range $handle := $pd.disks }}
{{- $zone := include "vllm-serving.diskZone" $handle }}
{{- if has $zone $zones }}
{{- $errors = append $errors (printf "weights.persistentDisk.disks: two disks in zone %s; give one disk per zone" $zone) }}
{{- end }}
{{- $zones = append $zones $zone }}
{{- end }}
{{- if and .Values.batch.enabled (gt (len $zones) 1) }}
{{- /* One Job, one pod template: it mounts one claim, so the other zones' volumes would go unused. */}}
{{- $errors = append $errors (printf "weights.persistentDisk.disks: a batch Job runs in one zone, but the disks are in %d (%s); list only the disk of the zone the Job should run in" (len $zones) (join ", " $zones)) }}
{{- end }}
{{- range $key := list "topology.kubernetes.io/zone" "topology.gke.io/zone" }}
{{- $pinned := get $.Values.nodeSelector $key }}
{{- if and $pinned $zones (not (has $pinned $zones)) }}
{{- $errors = append $errors (printf "nodeSelector.%s: %s has no disk in weights.persistentDisk.disks (zones: %s); add a disk in that zone or drop the selector" $key $pinned (join ", " $zones)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "nfs") (not $w.nfs.existingClaim) (or (not $w.nfs.server) (not $w.nfs.share)) }}
{{- $errors = append $errors "weights.nfs.server: server and share are required when weights.source is nfs (the Filestore IP and file share, e.g. /vol1), or set weights.nfs.existingClaim" }}
{{- else if and (eq $w.source "nfs") $w.nfs.existingClaim (or $w.nfs.server $w.nfs.share) }}
{{- $errors = append $errors "weights.nfs.existingClaim: set together with weights.nfs.server and share, which the claim would silently override; use one of them" }}
{{- end }}

{{- /* GKE Autopilot: what its admission (GKE Warden) refuses, named before it is rendered. */}}
{{- if eq .Values.gke.mode "autopilot" }}
{{- $ap := $rules.autopilot }}
{{- with .Values.gke.nodePool }}
{{- $errors = append $errors (printf "gke.nodePool: %s becomes the node selector cloud.google.com/gke-nodepool, which Autopilot refuses (it creates the nodes itself); remove gke.nodePool and let gke.accelerator choose the nodes" .) }}
{{- end }}
{{- range $key := keys .Values.nodeSelector | sortAlpha }}
{{- $allowed := has $key $ap.nodeSelectorKeys }}
{{- range $prefix := $ap.nodeSelectorKeyPrefixes }}{{ if hasPrefix $prefix $key }}{{ $allowed = true }}{{ end }}{{ end }}
{{- if not $allowed }}
{{- $errors = append $errors (printf "nodeSelector.%s: Autopilot allows node selectors only on its own keys (%s); remove it or use one of those" $key (join ", " $ap.nodeSelectorKeys)) }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "nfs") $w.nfs.readAhead.enabled }}
{{- $errors = append $errors "weights.nfs.readAhead.enabled: the read-ahead init container is privileged, which Autopilot refuses; set weights.nfs.readAhead.enabled: false, or use a Standard cluster" }}
{{- end }}
{{- $image := .Values.gke.secondaryBootDisk.diskImage }}
{{- if and .Values.gke.secondaryBootDisk.enabled (gt (len $image) ($ap.maxDiskImageName | int)) }}
{{- $errors = append $errors (printf "gke.secondaryBootDisk.diskImage: %s has %d characters; Autopilot's node selector key gke-secondary-boot-disk-<image> allows %d at most, so bake the image under a shorter name (vllm-serving bake image-cache --image-name)" $image (len $image) ($ap.maxDiskImageName | int)) }}
{{- end }}
{{- end }}

{{- /* Image pulls. */}}
{{- $boot := .Values.gke.secondaryBootDisk }}
{{- if $boot.enabled }}
{{- if and (eq .Values.gke.mode "standard") (not .Values.gke.nodePool) }}
{{- $errors = append $errors "gke.secondaryBootDisk.enabled: on Standard clusters set gke.nodePool to the node pool created with --secondary-boot-disk" }}
{{- end }}
{{- if and (eq .Values.gke.mode "autopilot") (or (not $boot.diskImage) (not $boot.project)) }}
{{- $errors = append $errors "gke.secondaryBootDisk.diskImage: on Autopilot name the disk image and its project (gke.secondaryBootDisk.diskImage, gke.secondaryBootDisk.project)" }}
{{- end }}
{{- if eq .Values.image.pullPolicy "Always" }}
{{- $errors = append $errors "image.pullPolicy: Always asks the registry on every start, bypassing the image cached on the secondary boot disk; use IfNotPresent" }}
{{- end }}
{{- end }}
{{- /* Streaming matters for an image that is not already on the secondary boot disk. */}}
{{- if and .Values.gke.imageStreaming (not $boot.enabled) (not (regexMatch "^[a-z0-9-]+-docker\\.pkg\\.dev/" .Values.image.repository)) }}
{{- $errors = append $errors (printf "image.repository: %s is not in Artifact Registry, and GKE streams only Artifact Registry images; mirror it to LOCATION-docker.pkg.dev or set gke.imageStreaming: false" .Values.image.repository) }}
{{- end }}

{{- /* Autoscaling. */}}
{{- $a := .Values.autoscaling }}
{{- if $a.enabled }}
{{- if gt ($a.minReplicas | int) ($a.maxReplicas | int) }}
{{- $errors = append $errors (printf "autoscaling.minReplicas: %d is above autoscaling.maxReplicas (%d)" ($a.minReplicas | int) ($a.maxReplicas | int)) }}
{{- end }}
{{- if and (eq $a.provider "hpa") (eq ($a.minReplicas | int) 0) }}
{{- $errors = append $errors "autoscaling.minReplicas: 0 (scale to zero) needs autoscaling.provider: keda; the HPA keeps at least one pod" }}
{{- end }}
{{- $seen := list }}
{{- range $i, $m := $a.metrics }}
{{- $where := printf "autoscaling.metrics[%d]" $i }}
{{- if has $m.type $seen }}
{{- $errors = append $errors (printf "%s.type: %s is listed twice; give each signal once" $where $m.type) }}
{{- end }}
{{- $seen = append $seen $m.type }}
{{- if and (eq $m.type "gpu-utilization") (gt (float64 $m.target) 100.0) }}
{{- $errors = append $errors (printf "%s.target: %v is not a percentage; GPU utilization targets lie between 0 and 100" $where $m.target) }}
{{- end }}
{{- if eq $a.provider "hpa" }}
{{- if eq $m.type "concurrency" }}
{{- $errors = append $errors (printf "%s.type: concurrency adds two metrics in one query, which only autoscaling.provider: keda can do" $where) }}
{{- else if and (ne $m.type "gpu-utilization") (not $.Values.monitoring.podMonitoring.enabled) }}
{{- $errors = append $errors (printf "%s.type: %s reaches the HPA through Google Managed Prometheus; set monitoring.podMonitoring.enabled" $where $m.type) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* At zero replicas every series the serving pods produce is gone, and KEDA reads an empty result
       as 0: only a signal from elsewhere can wake the workload up. */}}
{{- if and (eq $a.provider "keda") (eq ($a.minReplicas | int) 0) (not (include "vllm-serving.wakeUpSignals" . | trim)) }}
{{- if .Values.gateway.enabled }}
{{- /* Without flow control the picker answers 503 at once while the pool has no pod, and counts nothing
       a trigger could wake up on. */}}
{{- $errors = append $errors "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods, which vanish at zero replicas, and KEDA reads the empty result as 0; set gateway.endpointPicker.flowControl: true (the endpoint picker then holds requests while the pool has no pod, and the chart wakes the workload on them), add autoscaling.keda.extraTriggers, or set autoscaling.minReplicas: 1" }}
{{- else }}
{{- $errors = append $errors "autoscaling.minReplicas: 0 would never scale back up: every trigger reads series of the serving pods, which vanish at zero replicas, and KEDA reads the empty result as 0; add a wake-up signal that does not come from the serving pods (autoscaling.keda.extraTriggers, e.g. requests counted at the load balancer or a queue's length), or set autoscaling.minReplicas: 1" }}
{{- end }}
{{- end }}
{{- if and (include "vllm-serving.epp.wakesUp" .) (not (or .Values.monitoring.podMonitoring.enabled .Values.monitoring.serviceMonitor.enabled)) }}
{{- $errors = append $errors "gateway.endpointPicker.flowControl: the wake-up trigger reads the endpoint picker's inference_extension_flow_control_queue_size from Prometheus, but nothing scrapes the picker; set monitoring.podMonitoring.enabled: true (Google Managed Prometheus) or monitoring.serviceMonitor.enabled: true" }}
{{- end }}
{{- if and (eq $a.provider "keda") (not $a.keda.serverAddress) }}
{{- $errors = append $errors "autoscaling.keda.serverAddress: required with autoscaling.provider keda; the Prometheus endpoint KEDA queries (Google Managed Prometheus or a Prometheus server)" }}
{{- end }}
{{- if and (eq $a.provider "hpa") (or $a.keda.serverAddress $a.keda.gcpWorkloadIdentity $a.keda.extraTriggers) }}
{{- $errors = append $errors "autoscaling.keda is set but autoscaling.provider is hpa; set autoscaling.provider: keda, or remove autoscaling.keda" }}
{{- end }}
{{- end }}

{{- /* GPU capacity: Spot VMs, ComputeClass fallbacks, flex-start and queued provisioning. */}}
{{- $errors = concat $errors (include "vllm-serving.validateCapacity" (dict "Values" .Values "rules" $rules) | fromYamlArray) }}

{{- /* Multi-node, batch and the chat UI. */}}
{{- $b := .Values.batch }}
{{- if $b.enabled }}
{{- if and (not $b.bucket) (not $b.existingClaim) }}
{{- $errors = append $errors "batch.bucket: a batch Job needs somewhere to read requests and write results; name a bucket or set batch.existingClaim" }}
{{- else if and $b.bucket $b.existingClaim }}
{{- $errors = append $errors "batch.existingClaim: set together with batch.bucket; use one of them" }}
{{- end }}
{{- if not $b.input }}
{{- $errors = append $errors "batch.input: required when batch.enabled; the JSONL file of requests, relative to batch.directory" }}
{{- end }}
{{- if gt (.Values.parallelism.pipeline | int) 1 }}
{{- $errors = append $errors "parallelism.pipeline: a batch Job runs one pod per shard; multi-node (pipeline > 1) serves only, so set parallelism.pipeline: 1 or batch.enabled: false" }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- $errors = append $errors "autoscaling.enabled: a batch Job is not autoscaled; use batch.parallelism, or batch.enabled: false" }}
{{- end }}
{{- if gt ($b.parallelism | int) ($b.shards | int) }}
{{- $errors = append $errors (printf "batch.parallelism: %d is more than batch.shards (%d); the extra pods would have no shard" ($b.parallelism | int) ($b.shards | int)) }}
{{- end }}
{{- end }}
{{- if and .Values.chatUI.enabled $b.enabled }}
{{- $errors = append $errors "chatUI.enabled: the chat UI talks to the serving Service, which a batch release does not have; deploy it with a serving release" }}
{{- end }}

{{- /* Traffic: the API key, ... */}}
{{- range $e := .Values.env }}
{{- if eq $e.name "VLLM_API_KEY" }}
{{- $errors = append $errors "env: VLLM_API_KEY is set by the chart from vllm.apiKey; remove it from env and set vllm.apiKey.secretName (and vllm.apiKey.key)" }}
{{- end }}
{{- end }}
{{- /* gradio-app:v1.0.7 (GoogleCloudPlatform/kubernetes-engine-samples, ai-ml/llm-serving-gemma/gradio/app/app.py
       at ff107cde, the commit that publishes it) posts the JSON body alone and reads no key from its
       environment: it cannot be given the Secret. */}}
{{- if and .Values.chatUI.enabled .Values.vllm.apiKey.secretName }}
{{- $errors = append $errors "chatUI.enabled: the chat UI (GKE's Gradio sample app) sends no Authorization header, so vLLM would answer it 401 with vllm.apiKey set; disable the chat UI or leave vllm.apiKey.secretName empty" }}
{{- end }}

{{- /* LoRA adapters and the extension points. */}}
{{- $l := .Values.lora }}
{{- $names := list (include "vllm-serving.servedModelName" .) }}
{{- range $i, $a := $l.adapters }}
{{- if has $a.name $names }}
{{- $errors = append $errors (printf "lora.adapters[%d].name: %s is already the name of the model or of another adapter; clients pick by name, so give each a name of its own" $i $a.name) }}
{{- end }}
{{- $names = append $names $a.name }}
{{- if and $a.path (not (include "vllm-serving.weights.isMounted" $)) }}
{{- $errors = append $errors (printf "lora.adapters[%d].path: a path on the weights volume needs a mounted weights.source (gcsfuse, persistentDisk or nfs), not %s; use gcs or huggingface for this adapter" $i $.Values.weights.source) }}
{{- end }}
{{- end }}
{{- if and $l.runtimeUpdates (not .Values.vllm.apiKey.secretName) }}
{{- $errors = append $errors "lora.runtimeUpdates: lets every caller make vLLM load any path or Hugging Face repository; set vllm.apiKey.secretName too, so that only key holders can" }}
{{- end }}
{{- if and (not $l.adapters) (not $l.runtimeUpdates) (or (not (kindIs "invalid" $l.maxLoras)) (not (kindIs "invalid" $l.maxRank)) (not (kindIs "invalid" $l.maxCpuLoras))) }}
{{- $errors = append $errors "lora.maxLoras: LoRA limits are set but no adapter is; list lora.adapters (or set lora.runtimeUpdates), or remove the limits" }}
{{- end }}
{{- if and .Values.vllm.chatTemplate.inline .Values.vllm.chatTemplate.existingConfigMap }}
{{- $errors = append $errors "vllm.chatTemplate.existingConfigMap: set together with vllm.chatTemplate.inline; use one of them" }}
{{- end }}
{{- $chartVolumes := list "weights" "hf-cache" "dshm" "batch" "chat-template" }}
{{- range $i, $v := .Values.extraVolumes }}
{{- if or (has $v.name $chartVolumes) (hasPrefix "lora-" $v.name) }}
{{- $errors = append $errors (printf "extraVolumes[%d].name: %s is a volume the chart makes (%s, lora-N); pick another name" $i $v.name (join ", " $chartVolumes)) }}
{{- end }}
{{- end }}

{{- if and .Values.networkPolicy.enabled .Values.gateway.enabled (not .Values.networkPolicy.proxyOnlySubnet) }}
{{- $errors = append $errors "networkPolicy.proxyOnlySubnet: the gateway's proxies reach the pods from the region's proxy-only subnet; give its CIDR (gcloud compute networks subnets list --filter=purpose=REGIONAL_MANAGED_PROXY)" }}
{{- end }}
{{- if and .Values.gateway.enabled .Values.batch.enabled }}
{{- $errors = append $errors "gateway.enabled: a batch release serves nothing to route to; deploy the gateway with a serving release" }}
{{- end }}

{{- /* Monitoring. */}}
{{- $timeout := include "vllm-serving.seconds" .Values.monitoring.timeout | float64 }}
{{- $interval := include "vllm-serving.seconds" .Values.monitoring.interval | float64 }}
{{- if gt $timeout $interval }}
{{- $errors = append $errors (printf "monitoring.timeout: %s is longer than monitoring.interval (%s); a scrape must end before the next begins" .Values.monitoring.timeout .Values.monitoring.interval) }}
{{- end }}

{{- if $errors }}
{{- fail (printf "\n%s" (join "\n" $errors)) }}
{{- end }}
{{- end }}

{{/* A Prometheus duration (500ms, 15s, 1m, 2h) in seconds. */}}
{{- define "vllm-serving.seconds" -}}
{{- $number := regexFind "^[0-9]+" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- mulf $number (get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0) $unit) }}
{{- end }}

{{/* A Kubernetes quantity (4, 500m, 24Gi, 1e3) as a number, for comparisons. */}}
{{- define "vllm-serving.quantity" -}}
{{- $text := toString . }}
{{- $number := regexFind "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" $text }}
{{- $suffix := trimPrefix $number $text }}
{{- if regexMatch "^[eE]" $suffix }}
{{- float64 $text }}
{{- else }}
{{- $factors := dict "" 1.0 "n" 1e-9 "u" 1e-6 "m" 1e-3 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- mulf (float64 $number) (get $factors $suffix) }}
{{- end }}
{{- end }}

{{/* A number as the user wrote it: a whole number that JSON made a float prints without an exponent. */}}
{{- define "vllm-serving.asWritten" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* The capacity rules (gke.spot, gke.computeClass, batch.provisioning), as a YAML list of problems.
     Called with Values and the parsed rules.yaml. */}}
{{- define "vllm-serving.validateCapacity" -}}
{{- $errors := list }}
{{- $gke := .Values.gke }}
{{- $c := $gke.computeClass }}
{{- $cap := .rules.capacity }}
{{- $tensor := .Values.parallelism.tensor | int }}
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
{{- $acc := get $.rules.accelerators $p.gpu.type }}
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
