{{/* Weights: exactly one source, with what it needs. */}}
{{- define "vllm-serving.validate.weights" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
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
{{- /* The sidecar's limits apply to every bucket the pod mounts: weights, batch, adapters, compile cache. */}}
{{- if and (include "vllm-serving.mountsABucket" .) (eq .Values.gke.mode "autopilot") }}
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
{{- /* A directory inside a bucket is not a URL: a gs:// path would be looked up under the bucket as is. */}}
{{- range $source := list "gcsfuse" "gcsStream" "persistentDisk" "nfs" }}
{{- $path := get (get $w $source) "path" | default "" | toString }}
{{- if hasPrefix "gs://" $path }}
{{- $parts := splitn "/" 2 (trimPrefix "gs://" $path) }}
{{- $errors = append $errors (printf "weights.%s.path: %s is a URL, but the path is a directory inside the source; set weights.%s.path: %s (and the bucket, %s, where the source has one)" $source $path $source ($parts._1 | default "" | trimSuffix "/" | quote) $parts._0) }}
{{- end }}
{{- end }}
{{- /* A cluster's nodes are in one region: a disk in another region has no node to attach to. */}}
{{- if eq $w.source "persistentDisk" }}
{{- $regions := list }}
{{- range $handle := $w.persistentDisk.disks }}
{{- $region := include "vllm-serving.diskZone" $handle | regexFind "^[a-z]+-[a-z]+[0-9]+" }}
{{- if and $region (not (has $region $regions)) }}{{ $regions = append $regions $region }}{{ end }}
{{- end }}
{{- if gt (len $regions) 1 }}
{{- $errors = append $errors (printf "weights.persistentDisk.disks: the disks are in %d regions (%s), but one release runs in one cluster, whose nodes are all in one region; list only the disks of the cluster's region" (len $regions) (join ", " $regions)) }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "gcsfuse") $w.gcsfuse.fileCache.enabled }}
{{- $cache := $w.gcsfuse.fileCache }}
{{- /* The cache is an emptyDir on the node's disk (bootDisk, localSsd): the kubelet evicts a pod whose
       ephemeral storage (emptyDirs included) outgrows the sum of its containers' limits
       (kubernetes pkg/kubelet/eviction/eviction_manager.go, podEphemeralStorageLimitEviction). */}}
{{- $sidecar := toString $w.gcsfuse.sidecar.ephemeralStorageLimit }}
{{- if and (ne $cache.medium "memory") (ne $sidecar "0") }}
{{- $limit := include "vllm-serving.quantity" $sidecar | float64 }}
{{- with get ($.Values.resources.limits | default dict) "ephemeral-storage" }}{{ $limit = addf $limit (include "vllm-serving.quantity" . | float64) }}{{ end }}
{{- if lt $limit (include "vllm-serving.quantity" $cache.size | float64) }}
{{- $errors = append $errors (printf "weights.gcsfuse.sidecar.ephemeralStorageLimit: %s is less than weights.gcsfuse.fileCache.size (%s); the cache lives on the node's disk, and the kubelet evicts the pod once its ephemeral storage passes its containers' limits, so it would be evicted while caching the model; raise the limit above the cache size, or set it to \"0\" (no limit)" $sidecar (include "vllm-serving.asWritten" $cache.size)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
