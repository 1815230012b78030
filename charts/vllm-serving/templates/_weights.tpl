{{/*
Per weight source: what vLLM is told to load, the pod's volumes, the container's mounts, its
environment, init containers and annotations. Only the block named by weights.source is read.
*/}}

{{/* The chosen source's block. */}}
{{- define "vllm-serving.weights.block" -}}
{{- get .Values.weights .Values.weights.source | toJson }}
{{- end }}

{{/* Sources whose weights are a local directory under weights.mountPath. */}}
{{- define "vllm-serving.weights.isMounted" -}}
{{- if has .Values.weights.source (list "gcsfuse" "persistentDisk" "nfs") }}true{{ end }}
{{- end }}

{{/* The model argument of `vllm serve`: a Hub id, a mounted directory or a gs:// URL. */}}
{{- define "vllm-serving.weights.modelArg" -}}
{{- $w := .Values.weights }}
{{- if eq $w.source "huggingface" }}
{{- .Values.model.name }}
{{- else if eq $w.source "gcsStream" }}
{{- printf "gs://%s/%s" $w.gcsStream.bucket $w.gcsStream.path | trimSuffix "/" }}
{{- else if eq $w.source "gcsfuse" }}
{{- /* only-dir mounts the model directory itself at mountPath. */}}
{{- $w.mountPath }}
{{- else }}
{{- $sub := (get $w $w.source).path }}
{{- if $sub }}{{ printf "%s/%s" $w.mountPath $sub }}{{ else }}{{ $w.mountPath }}{{ end }}
{{- end }}
{{- end }}

{{/* GCSFuse mount options: the model directory only, caches sized for immutable weights. */}}
{{- define "vllm-serving.weights.gcsfuseMountOptions" -}}
{{- $g := .Values.weights.gcsfuse }}
{{- $opts := list "implicit-dirs" }}
{{- with $g.path }}{{ $opts = append $opts (printf "only-dir=%s" .) }}{{ end }}
{{- $opts = append $opts (printf "metadata-cache:ttl-secs:%d" ($g.metadataCache.ttlSeconds | int)) }}
{{- $opts = append $opts (printf "metadata-cache:stat-cache-max-size-mb:%d" ($g.metadataCache.statCacheMaxSizeMb | int)) }}
{{- $opts = append $opts (printf "metadata-cache:type-cache-max-size-mb:%d" ($g.metadataCache.typeCacheMaxSizeMb | int)) }}
{{- if $g.fileCache.enabled }}
{{- $opts = append $opts (printf "file-cache:cache-file-for-range-read:%t" $g.fileCache.cacheForRangeRead) }}
{{- if $g.fileCache.parallelDownloads }}
{{- $opts = concat $opts (list "file-cache:enable-parallel-downloads:true" "file-cache:max-parallel-downloads:-1") }}
{{- end }}
{{- end }}
{{- concat $opts $g.extraMountOptions | join "," }}
{{- end }}

{{- define "vllm-serving.weights.volumes" -}}
{{- $w := .Values.weights }}
{{- if eq $w.source "huggingface" }}
{{- $cache := $w.huggingface.cache }}
- name: hf-cache
  {{- if $cache.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ $cache.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ $cache.sizeLimit }}
  {{- end }}
{{- else if and (eq $w.source "gcsfuse") $w.gcsfuse.profile }}
{{- /* The profile's claim (persistentvolumeclaim.yaml); the driver decides the file cache's medium and size. */}}
- name: weights
  persistentVolumeClaim:
    claimName: {{ .weightsClaim }}
    readOnly: true
{{- else if eq $w.source "gcsfuse" }}
{{- $g := $w.gcsfuse }}
- name: weights
  csi:
    driver: gcsfuse.csi.storage.gke.io
    readOnly: true
    volumeAttributes:
      bucketName: {{ $g.bucket }}
      mountOptions: {{ include "vllm-serving.weights.gcsfuseMountOptions" . | quote }}
      {{- if $g.fileCache.enabled }}
      {{- /* -1: the whole gke-gcsfuse-cache volume below. */}}
      fileCacheCapacity: "-1"
      {{- end }}
      skipCSIBucketAccessCheck: {{ $g.skipBucketAccessCheck | quote }}
      gcsfuseMetadataPrefetchOnMount: {{ $g.metadataPrefetch | quote }}
{{- if $g.fileCache.enabled }}
{{- /* The sidecar keeps its file cache in this volume, which the GCSFuse webhook looks up by name. */}}
- name: gke-gcsfuse-cache
  emptyDir:
    {{- if eq $g.fileCache.medium "memory" }}
    medium: Memory
    {{- end }}
    sizeLimit: {{ $g.fileCache.size }}
{{- end }}
{{- else if has $w.source (list "persistentDisk" "nfs") }}
- name: weights
  persistentVolumeClaim:
    claimName: {{ .weightsClaim }}
    readOnly: true
{{- end }}
{{- include "vllm-serving.compileCache.volume" . }}
{{- end }}

{{- define "vllm-serving.weights.volumeMounts" -}}
{{- if eq .Values.weights.source "huggingface" }}
- name: hf-cache
  mountPath: {{ .Values.weights.huggingface.cache.mountPath }}
{{- else if include "vllm-serving.weights.isMounted" . }}
- name: weights
  mountPath: {{ .Values.weights.mountPath }}
  readOnly: true
{{- end }}
{{- with .Values.compileCache }}{{ if .enabled }}
- name: compile-cache
  mountPath: {{ .mountPath }}
  {{- if eq .storage "claim" }}
  subPath: {{ .path }}
  {{- end }}
{{- end }}{{ end }}
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
{{- else }}
{{- /* Nothing to download: keep vLLM and transformers from reaching for the Hub. */}}
- name: HF_HUB_OFFLINE
  value: "1"
{{- end }}
{{- if .Values.compileCache.enabled }}
- name: VLLM_CACHE_ROOT
  value: {{ include "vllm-serving.compileCache.root" . | quote }}
{{- if .Values.compileCache.startupPlan }}
- name: VLLM_ENABLE_STARTUP_PLAN
  value: "1"
{{- end }}
{{- end }}
{{- end }}

{{/* The shared compile cache's volume: a bucket mounted read-write through GCSFuse (only-dir: the cache
     directory), or a ReadWriteMany claim. vLLM writes each artifact to a temporary file and renames it
     into place (vllm/compilation/decorators.py:748, torch._inductor.codecache.write_atomic), which GCSFuse,
     NFS and other ReadWriteMany volumes support; an entry it cannot read is compiled again. */}}
{{- define "vllm-serving.compileCache.volume" -}}
{{- $c := .Values.compileCache }}
{{- if $c.enabled }}
- name: compile-cache
  {{- if eq $c.storage "gcsfuse" }}
  csi:
    driver: gcsfuse.csi.storage.gke.io
    volumeAttributes:
      bucketName: {{ $c.bucket }}
      mountOptions: {{ printf "implicit-dirs,only-dir:%s" $c.path | quote }}
  {{- else }}
  persistentVolumeClaim:
    claimName: {{ $c.existingClaim }}
  {{- end }}
{{- end }}
{{- end }}

{{/* VLLM_CACHE_ROOT: the cache directory keyed by what makes a compiled artifact invalid, so that another
     vLLM release, model or parallelism starts from an empty directory (vLLM's own hash of config, code and
     compiler keys each entry inside it: vllm/compilation/backends.py:1091). */}}
{{- define "vllm-serving.compileCache.root" -}}
{{- $p := .Values.parallelism }}
{{- printf "%s/vllm-%s/%s/tp%d-pp%d" .Values.compileCache.mountPath .Values.image.tag (.Values.model.name | replace "/" "--") ($p.tensor | int) ($p.pipeline | int) }}
{{- end }}

{{/* Pod annotations GCSFuse volumes need (weights, batch files or LoRA adapters): the GCSFuse webhook
     injects its sidecar on these. */}}
{{- define "vllm-serving.weights.podAnnotations" -}}
{{- /* For `vllm-serving timeline`: where the weights come from, their size (GB/s when vLLM's log has no
checkpoint size) and whether the image comes from a secondary boot disk. */}}
vllm-serving/weights-source: {{ .Values.weights.source }}
{{- with include "vllm-serving.weightsGB" . }}
vllm-serving/weights-gb: {{ . | float64 | printf "%.1f" | quote }}
{{- end }}
{{- if .Values.gke.secondaryBootDisk.enabled }}
vllm-serving/image-cache: secondary-boot-disk
{{- end }}
{{- if include "vllm-serving.mountsABucket" . }}
{{- $s := .Values.weights.gcsfuse.sidecar }}
gke-gcsfuse/volumes: "true"
gke-gcsfuse/cpu-limit: {{ $s.cpuLimit | quote }}
gke-gcsfuse/memory-limit: {{ $s.memoryLimit | quote }}
gke-gcsfuse/ephemeral-storage-limit: {{ $s.ephemeralStorageLimit | quote }}
{{- end }}
{{- end }}

{{/* "true" when the pods mount a Cloud Storage bucket through the GCSFuse CSI driver, which brings GKE's
GCSFuse sidecar (limited by weights.gcsfuse.sidecar): the weights, a batch bucket, a LoRA adapter from gs://
or the compile cache. The sidecar's annotations and the Autopilot rule on its limits both ask this. */}}
{{- define "vllm-serving.mountsABucket" -}}
{{- $loraInBucket := false }}
{{- range .Values.lora.adapters }}{{ if .gcs }}{{ $loraInBucket = true }}{{ end }}{{ end }}
{{- $cacheInBucket := and .Values.compileCache.enabled (eq .Values.compileCache.storage "gcsfuse") }}
{{- if or (eq .Values.weights.source "gcsfuse") (and .Values.batch.enabled .Values.batch.bucket) $loraInBucket $cacheInBucket }}true{{ end }}
{{- end }}

{{/* Node selector terms a source needs. */}}
{{- define "vllm-serving.weights.nodeSelector" -}}
{{- $g := .Values.weights.gcsfuse }}
{{- if and (eq .Values.weights.source "gcsfuse") $g.fileCache.enabled (eq $g.fileCache.medium "localSsd") }}
cloud.google.com/gke-ephemeral-storage-local-ssd: "true"
{{- end }}
{{- end }}

{{/* Init containers that run before vLLM; they share its image, already on the node. */}}
{{- define "vllm-serving.weights.initContainers" -}}
{{- $w := .Values.weights }}
{{- if and (eq $w.source "gcsfuse") $w.gcsfuse.warmup.enabled }}
- name: warm-file-cache
  image: {{ include "vllm-serving.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-c"]
  args:
    - |
      set -eu
      # Each file read once, in parallel: the GCSFuse file cache then holds the whole model.
      find "$WEIGHTS" -name '*.safetensors' -print0 | xargs -0 -r -n 1 -P "$PARALLELISM" cat > /dev/null
      echo "file cache filled from $WEIGHTS"
  env:
    - name: WEIGHTS
      value: {{ $w.mountPath | quote }}
    - name: PARALLELISM
      value: {{ $w.gcsfuse.warmup.parallelism | quote }}
  resources:
    {{- toYaml $w.gcsfuse.warmup.resources | nindent 4 }}
  volumeMounts:
    - name: weights
      mountPath: {{ $w.mountPath }}
      readOnly: true
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
{{- end }}
{{- if and (eq $w.source "nfs") $w.nfs.readAhead.enabled }}
- name: tune-read-ahead
  image: {{ include "vllm-serving.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-c"]
  args:
    - |
      set -eu
      # The NFS mount's read-ahead belongs to its backing device info, /sys/class/bdi/MAJOR:MINOR,
      # named by the mount's device number (third field of mountinfo). sysfs is writable only
      # in a privileged container; the setting outlives this container.
      device=""
      while read -r _ _ dev _ mnt _; do
        if [ "$mnt" = "$WEIGHTS" ]; then device="$dev"; fi
      done < /proc/self/mountinfo
      if [ -z "$device" ]; then echo "no mount at $WEIGHTS" >&2; exit 1; fi
      echo "$READ_AHEAD_KB" > "/sys/class/bdi/$device/read_ahead_kb"
      echo "read_ahead_kb of $WEIGHTS ($device): $(cat "/sys/class/bdi/$device/read_ahead_kb")"
  env:
    - name: WEIGHTS
      value: {{ $w.mountPath | quote }}
    - name: READ_AHEAD_KB
      value: {{ $w.nfs.readAhead.kb | quote }}
  resources:
    {{- toYaml $w.nfs.readAhead.resources | nindent 4 }}
  volumeMounts:
    - name: weights
      mountPath: {{ $w.mountPath }}
      readOnly: true
  securityContext:
    privileged: true
{{- end }}
{{- end }}

{{/*
The serving workloads: one, or with several persistent disks one per zone, each pinned to its zone
by its volume's node affinity. A list of {name, zone, claim} as JSON.
*/}}
{{- define "vllm-serving.workloads" -}}
{{- $fullname := include "vllm-serving.fullname" . }}
{{- $lws := eq (include "vllm-serving.workloadKind" .) "LeaderWorkerSet" }}
{{- /* A LeaderWorkerSet's name ends up in names the controllers derive: the worker StatefulSet
       <lws>-<group> labels its pods controller-revision-hash: <lws>-<group>-<hash of up to 10>, a label
       value of at most 63 bytes. 48 leaves room for groups 0-999. Its name must also differ from the
       client Service's (fullname): the LWS controller makes its headless Service <lws> only if no
       Service of that name exists. */}}
{{- $budget := ternary 48 55 $lws }}
{{- $w := .Values.weights }}
{{- $volumes := include "vllm-serving.weights.staticVolumes" . | fromJsonArray }}
{{- if not $volumes }}
{{- /* No volume of the chart's: the user's claim, when the source mounts one. */}}
{{- $claim := "" }}
{{- if has $w.source (list "persistentDisk" "nfs") }}{{ $claim = (get $w $w.source).existingClaim }}{{ end }}
{{- $volumes = list (dict "zone" "" "claim" $claim) }}
{{- end }}
{{- $workloads := list }}
{{- range $volumes }}
{{- $name := ternary (include "vllm-serving.lwsName" $fullname) $fullname $lws }}
{{- if gt (len $volumes) 1 }}{{ $name = printf "%s-%s" ($fullname | trunc (min 37 (sub $budget (add 1 (len .zone))) | int) | trimSuffix "-") .zone }}{{ end }}
{{- $workloads = append $workloads (dict "name" $name "zone" .zone "claim" .claim) }}
{{- end }}
{{- toJson $workloads }}
{{- end }}

{{/* The one place that decides which volumes the chart creates for the weights: a PersistentVolume and
     its claim per baked disk (in the disk's zone), or one pair for the NFS share or the bucket of a Cloud
     Storage FUSE profile; none when the user
     names an existing claim, or for a source without a volume. A JSON list of {claim, volume, zone,
     disk}; the volume's name carries the namespace, since PersistentVolumes are cluster-scoped. */}}
{{- define "vllm-serving.weights.staticVolumes" -}}
{{- $w := .Values.weights }}
{{- $volumes := list }}
{{- if and (eq $w.source "persistentDisk") (not $w.persistentDisk.existingClaim) }}
{{- range $disk := $w.persistentDisk.disks }}
{{- $zone := include "vllm-serving.diskZone" $disk }}
{{- $volumes = append $volumes (dict "zone" $zone "disk" $disk "claim" (include "vllm-serving.weightsClaimName" (list $ $zone))) }}
{{- end }}
{{- else if or (and (eq $w.source "nfs") (not $w.nfs.existingClaim)) (and (eq $w.source "gcsfuse") $w.gcsfuse.profile) }}
{{- $volumes = list (dict "zone" "" "disk" "" "claim" (include "vllm-serving.weightsClaimName" (list . ""))) }}
{{- end }}
{{- range $volumes }}{{ $_ := set . "volume" (printf "%s-%s" $.Release.Namespace .claim) }}{{ end }}
{{- toJson $volumes }}
{{- end }}

{{/* The static weights volume's StorageClass: a Cloud Storage FUSE profile's, else none (bound by name). */}}
{{- define "vllm-serving.weights.storageClass" -}}
{{- if eq .Values.weights.source "gcsfuse" }}{{ .Values.weights.gcsfuse.profile }}{{ end }}
{{- end }}

{{/* The capacity recorded on the static weights volume and claim; GCSFuse ignores it, so a profile's
     volume records the size of the cache that must hold the model. */}}
{{- define "vllm-serving.weights.capacity" -}}
{{- $w := .Values.weights }}
{{- if eq $w.source "gcsfuse" }}{{ $w.gcsfuse.fileCache.size }}{{ else }}{{ (get $w $w.source).capacity }}{{ end }}
{{- end }}

{{/* The one LeaderWorkerSet's name, from the full name: within the 48-byte budget above, never the Service's. */}}
{{- define "vllm-serving.lwsName" -}}
{{- printf "%s-lws" (trunc 44 . | trimSuffix "-") }}
{{- end }}

{{/* projects/P/zones/Z/disks/D -> Z */}}
{{- define "vllm-serving.diskZone" -}}
{{- index (splitList "/" .) 3 }}
{{- end }}

{{/* Claim (and, with the namespace, volume) name for the weights; (list $root zone). */}}
{{- define "vllm-serving.weightsClaimName" -}}
{{- $root := index . 0 }}{{ $zone := index . 1 }}
{{- $base := printf "%s-weights" (include "vllm-serving.fullname" $root | trunc 37 | trimSuffix "-") }}
{{- if $zone }}{{ printf "%s-%s" $base $zone }}{{ else }}{{ $base }}{{ end }}
{{- end }}
