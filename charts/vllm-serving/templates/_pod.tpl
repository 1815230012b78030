{{/*
The vLLM pod spec: GPU strategy, scheduling, weights, probes, shutdown and security in one place, so
that every workload kind that runs vLLM gets the same pod. Called with the root context plus
  weightsClaim  the claim of the workload's weights (see vllm-serving.workloads)
  role          server: `vllm serve` (a Deployment's pod, or a LeaderWorkerSet's leader)
                worker: a LeaderWorkerSet worker, `vllm serve --headless` with the leader's address
                batch:  `vllm run-batch` in a Job
*/}}
{{- define "vllm-serving.podSpec" -}}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- $multiNode := gt (.Values.parallelism.pipeline | int) 1 }}
serviceAccountName: {{ include "vllm-serving.serviceAccountName" . }}
{{- /* vLLM never calls the Kubernetes API. */}}
automountServiceAccountToken: false
{{- $shutdown := include "vllm-serving.shutdownTimings" . | fromJson }}
terminationGracePeriodSeconds: {{ $shutdown.terminationGracePeriodSeconds | int }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "vllm-serving.gpuScheduling" . }}
{{- $inits := include "vllm-serving.weights.initContainers" . | trim }}
{{- if or $inits .Values.extraInitContainers }}
initContainers:
  {{- with $inits }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with .Values.extraInitContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- if $multiNode }}
affinity:
  {{- /* A group's pods talk NCCL to each other: one node pool, one zone. matchLabelKeys narrows the
         term to this pod's own group (the API server adds `group-key In (<this pod's>)`, so the key
         may not appear in labelSelector too). */}}
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      {{- range $key := list "topology.kubernetes.io/zone" "cloud.google.com/gke-nodepool" }}
      - topologyKey: {{ $key }}
        labelSelector:
          matchExpressions:
            - key: leaderworkerset.sigs.k8s.io/name
              operator: Exists
        matchLabelKeys: [leaderworkerset.sigs.k8s.io/group-key]
      {{- end }}
  {{- with .Values.affinity }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- else }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "vllm-serving.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    {{- if eq .role "batch" }}
    command:
      {{- list "sh" "-c" (include "vllm-serving.batchScript" .) "run-batch" | toYaml | nindent 6 }}
    args:
      {{- include "vllm-serving.args" (merge (dict "form" "batch") .) | fromJsonArray | toYaml | nindent 6 }}
    {{- else }}
    command: ["vllm", "serve"]
    args:
      {{- include "vllm-serving.args" (merge (dict "form" "serve") .) | fromJsonArray | toYaml | nindent 6 }}
    {{- end }}
    env:
      {{- include "vllm-serving.weights.env" . | trim | nindent 6 }}
      {{- with .Values.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if .Values.lora.runtimeUpdates }}
      - name: VLLM_ALLOW_RUNTIME_LORA_UPDATING
        value: "true"
    {{- end }}
    {{- if eq .role "server" }}
      {{- with include "vllm-serving.apiKeyEnv" . | trim }}
      {{- . | nindent 6 }}
      {{- end }}
    {{- end }}
    {{- if eq .role "batch" }}
      - name: BATCH_DIR
        value: /batch
      - name: BATCH_INPUT
        value: {{ .Values.batch.input | quote }}
      - name: BATCH_OUTPUT
        value: {{ .Values.batch.output | quote }}
      - name: BATCH_SHARDS
        value: {{ .Values.batch.shards | quote }}
    {{- end }}
    {{- if eq .role "server" }}
    ports:
      - name: http
        containerPort: {{ .Values.vllm.port }}
        protocol: TCP
    {{- end }}
    resources:
      requests:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.requests | default dict)) | nindent 8 }}
      limits:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.limits | default dict)) | nindent 8 }}
    {{- if eq .role "server" }}
    {{- /* The startup budget is one value; the probe polls until it is spent. */}}
    startupProbe:
      httpGet:
        path: /health
        port: http
      periodSeconds: {{ .Values.startup.periodSeconds }}
      failureThreshold: {{ divf (include "vllm-serving.startupBudget" .) .Values.startup.periodSeconds | ceil | int }}
      timeoutSeconds: 5
    readinessProbe:
      httpGet:
        path: /health
        port: http
      periodSeconds: {{ .Values.readiness.periodSeconds }}
      failureThreshold: {{ .Values.readiness.failureThreshold }}
      timeoutSeconds: {{ .Values.readiness.timeoutSeconds }}
    livenessProbe:
      httpGet:
        path: /health
        port: http
      periodSeconds: {{ .Values.liveness.periodSeconds }}
      failureThreshold: {{ .Values.liveness.failureThreshold }}
      timeoutSeconds: {{ .Values.liveness.timeoutSeconds }}
    {{- $preStop := $shutdown.preStopSleepSeconds | int }}
    {{- if gt $preStop 0 }}
    lifecycle:
      {{- /* Keep serving while the endpoint removal reaches kube-proxy and load balancers. */}}
      preStop:
        sleep:
          seconds: {{ $preStop }}
    {{- end }}
    {{- else if eq .role "worker" }}
    lifecycle:
      {{- /* A rollout or a group restart deletes the leader and its workers at once; the leader's
             drain needs its workers, so they outlive it: SIGTERM reaches them at the end of the grace
             period only. */}}
      preStop:
        sleep:
          seconds: {{ $shutdown.terminationGracePeriodSeconds | int }}
    {{- end }}
    {{- with .Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- $mounts := printf "%s\n%s" (include "vllm-serving.weights.volumeMounts" . | trim) (include "vllm-serving.extensions.volumeMounts" . | trim) | trim }}
    {{- if or $mounts (gt $tensor 1) (eq .role "batch") }}
    volumeMounts:
      {{- with $mounts }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- if eq .role "batch" }}
      - name: batch
        mountPath: /batch
        {{- /* A bucket mounts its directory alone (only-dir); a claim mounts it as a subPath. */}}
        {{- if and .Values.batch.existingClaim .Values.batch.directory }}
        subPath: {{ .Values.batch.directory }}
        {{- end }}
      {{- end }}
      {{- if gt $tensor 1 }}
      - name: dshm
        mountPath: /dev/shm
      {{- end }}
    {{- end }}
  {{- with .Values.extraContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $volumes := printf "%s\n%s" (include "vllm-serving.weights.volumes" . | trim) (include "vllm-serving.extensions.volumes" . | trim) | trim }}
{{- if or $volumes (gt $tensor 1) (eq .role "batch") }}
volumes:
  {{- with $volumes }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if eq .role "batch" }}
  {{- include "vllm-serving.batchVolume" . | nindent 2 }}
  {{- end }}
  {{- if gt $tensor 1 }}
  {{- /* Tensor-parallel workers exchange activations through shared memory; the container
         runtime's default 64 MiB is far too small. */}}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.sharedMemory.sizeLimit }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Node selection for the GPU nodes: accelerator and optional pool, or a ComputeClass; Spot or
     flex-start capacity; the taints those nodes carry. Shared with the test pod, which runs on the same
     nodes because the serving image is already there. */}}
{{- define "vllm-serving.gpuScheduling" -}}
{{- $gke := .Values.gke }}
{{- $standard := eq $gke.mode "standard" }}
{{- $class := include "vllm-serving.computeClassName" . }}
{{- $selector := dict }}
{{- if $class }}
{{- /* The class decides machines and GPUs: pinning an accelerator would defeat its fallbacks. */}}
{{- $_ := set $selector "cloud.google.com/compute-class" $class }}
{{- else }}
{{- $_ := set $selector "cloud.google.com/gke-accelerator" $gke.accelerator }}
{{- with $gke.nodePool }}
{{- $_ := set $selector "cloud.google.com/gke-nodepool" . }}
{{- end }}
{{- end }}
{{- if $gke.spot }}
{{- $_ := set $selector "cloud.google.com/gke-spot" "true" }}
{{- end }}
{{- $provisioning := include "vllm-serving.batchProvisioning" . }}
{{- if eq $provisioning "flexStart" }}
{{- $_ := set $selector "cloud.google.com/gke-flex-start" "true" }}
{{- end }}
{{- $boot := .Values.gke.secondaryBootDisk }}
{{- if and $boot.enabled (eq .Values.gke.mode "autopilot") }}
{{- /* Autopilot attaches the cached image to nodes it creates for pods that ask for it. */}}
{{- $_ := set $selector (printf "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-%s" $boot.diskImage) (printf "CONTAINER_IMAGE_CACHE.%s" $boot.project) }}
{{- end }}
{{- $selector = merge $selector (include "vllm-serving.weights.nodeSelector" . | fromYaml) }}
nodeSelector:
  {{- toYaml (merge $selector .Values.nodeSelector) | nindent 2 }}
tolerations:
  - key: nvidia.com/gpu
    operator: Exists
    effect: NoSchedule
  {{- /* Autopilot adds its own tolerations for the Spot and ComputeClass taints it applies. */}}
  {{- if and $gke.spot $standard }}
  - key: cloud.google.com/gke-spot
    operator: Equal
    value: "true"
    effect: NoSchedule
  {{- end }}
  {{- if and $class $standard }}
  - key: cloud.google.com/compute-class
    operator: Equal
    value: {{ $class | quote }}
    effect: NoSchedule
  {{- end }}
  {{- if eq $provisioning "queuedProvisioning" }}
  - key: cloud.google.com/gke-queued
    operator: Exists
    effect: NoSchedule
  {{- end }}
  {{- with .Values.tolerations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Seconds the startupProbe allows: startup.maxSeconds, or the weight source's default. */}}
{{- define "vllm-serving.startupBudget" -}}
{{- .Values.startup.maxSeconds | default (get .Values.startup.maxSecondsBySource .Values.weights.source) | int }}
{{- end }}

{{/* One shard of a batch: an Indexed Job's pod N reads <stem>-N<ext> when the input is sharded. */}}
{{- define "vllm-serving.batchScript" -}}
set -eu
in="$BATCH_DIR/$BATCH_INPUT"; out="$BATCH_DIR/$BATCH_OUTPUT"
if [ "$BATCH_SHARDS" -gt 1 ]; then
  in="${in%.*}-$JOB_COMPLETION_INDEX.${in##*.}"; out="${out%.*}-$JOB_COMPLETION_INDEX.${out##*.}"
fi
echo "batch shard ${JOB_COMPLETION_INDEX:-0}: $in -> $out"
exec vllm run-batch -i "$in" -o "$out" "$@"
{{- end }}

{{/* Where batch input and output live: a GCSFuse bucket (read-write) or a claim. */}}
{{- define "vllm-serving.batchVolume" -}}
{{- $b := .Values.batch }}
- name: batch
  {{- if $b.bucket }}
  csi:
    driver: gcsfuse.csi.storage.gke.io
    volumeAttributes:
      bucketName: {{ $b.bucket }}
      mountOptions: {{ printf "implicit-dirs%s" (ternary (printf ",only-dir=%s" $b.directory) "" (ne $b.directory "")) | quote }}
  {{- else }}
  persistentVolumeClaim:
    claimName: {{ $b.existingClaim }}
  {{- end }}
{{- end }}
