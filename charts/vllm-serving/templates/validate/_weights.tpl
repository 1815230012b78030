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
{{- /* The sidecar's limits apply to every bucket the pod mounts: the weights' or the compile cache's. */}}
{{- $cacheInBucket := and .Values.compileCache.enabled (eq .Values.compileCache.storage "gcsfuse") }}
{{- if and (or (eq $w.source "gcsfuse") $cacheInBucket) (eq .Values.gke.mode "autopilot") }}
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
{{- toYaml $errors }}
{{- end }}
