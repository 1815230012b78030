{{/* A vLLM pod's metadata, called with the pod spec's context (see vllm-serving.podSpec). The component
     label is the role; the zone label keeps per-zone workloads' pods apart, since their selectors include
     it. The GCSFuse and queued-provisioning annotations win over the user's podAnnotations: their
     consumers (the GCSFuse webhook, the cluster autoscaler) need them as they are. */}}
{{- define "vllm-serving.podMetadata" -}}
labels:
  {{- include "vllm-serving.labels" . | nindent 2 }}
  app.kubernetes.io/component: {{ .role }}
  {{- with .zone }}
  vllm-serving/zone: {{ . }}
  {{- end }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with merge (include "vllm-serving.weights.podAnnotations" . | fromYaml) (include "vllm-serving.provisioningAnnotations" . | fromYaml) (include "vllm-serving.chatTemplate.podAnnotations" . | fromYaml) .Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The vLLM pod spec: GPU strategy, scheduling, weights, probes, shutdown and security in one place, so
that every workload kind that runs vLLM gets the same pod. Called with the root context plus
  role          server: `vllm serve` (a Deployment's pod, or a LeaderWorkerSet's leader)
                worker: a LeaderWorkerSet worker, `vllm serve --headless` with the leader's address
                batch:  `vllm run-batch` in a Job
  weightsClaim  the claim of the workload's weights (see vllm-serving.workloads)
  zone          the workload's zone, when it has one (see vllm-serving.podMetadata)
What differs by role comes from the role's own helper, vllm-serving.pod.<role>: a map of YAML text
fragments (text rather than objects, so that quoting and order stay as written), each spliced in at its
place: pod (pod fields), command (with args), env, ports, lifecycle (probes, preStop), volumeMounts and
volumes. A role leaves out what it does not add.
*/}}
{{- define "vllm-serving.podSpec" -}}
{{- $role := include (printf "vllm-serving.pod.%s" .role) . | fromYaml }}
{{- $tensor := .Values.parallelism.tensor | int }}
{{- with $role.pod }}
{{ . }}
{{- end }}
serviceAccountName: {{ include "vllm-serving.serviceAccountName" . }}
{{- /* vLLM never calls the Kubernetes API. */}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ (include "vllm-serving.shutdownTimings" . | fromJson).terminationGracePeriodSeconds | int }}
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
{{- $inits := list (include "vllm-serving.weights.initContainers" .) }}
{{- with .Values.extraInitContainers }}{{ $inits = append $inits (toYaml .) }}{{ end }}
{{- with include "vllm-serving.pod.list" $inits }}
initContainers:
  {{- . | nindent 2 }}
{{- end }}
{{- include "vllm-serving.pod.affinity" . }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "vllm-serving.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    {{- $role.command | nindent 4 }}
    env:
      {{- include "vllm-serving.weights.env" . | trim | nindent 6 }}
      {{- with .Values.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
      {{- if .Values.lora.runtimeUpdates }}
      - name: VLLM_ALLOW_RUNTIME_LORA_UPDATING
        value: "true"
      {{- end }}
      {{- with $role.env }}
      {{- . | nindent 6 }}
      {{- end }}
    {{- with $role.ports }}
    ports:
      {{- . | nindent 6 }}
    {{- end }}
    resources:
      requests:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.requests | default dict)) | nindent 8 }}
      limits:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.limits | default dict)) | nindent 8 }}
    {{- with $role.lifecycle }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with .Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- $mounts := include "vllm-serving.pod.list" (list (include "vllm-serving.weights.volumeMounts" .) (include "vllm-serving.extensions.volumeMounts" .)) }}
    {{- if or $mounts $role.volumeMounts (gt $tensor 1) }}
    volumeMounts:
      {{- with $mounts }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $role.volumeMounts }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- if gt $tensor 1 }}
      - name: dshm
        mountPath: /dev/shm
      {{- end }}
    {{- end }}
  {{- with .Values.extraContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $volumes := include "vllm-serving.pod.list" (list (include "vllm-serving.weights.volumes" .) (include "vllm-serving.extensions.volumes" .)) }}
{{- if or $volumes $role.volumes (gt $tensor 1) }}
volumes:
  {{- with $volumes }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $role.volumes }}
  {{- . | nindent 2 }}
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

{{/* A LeaderWorkerSet group's pods talk NCCL to each other: one node pool, one zone. matchLabelKeys
     narrows the term to this pod's own group (the API server adds `group-key In (<this pod's>)`, so the
     key may not appear in labelSelector too). */}}
{{- define "vllm-serving.pod.affinity" -}}
{{- if gt (.Values.parallelism.pipeline | int) 1 }}
affinity:
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
{{- end }}

{{/* YAML list fragments as one list, leaving out empty ones. */}}
{{- define "vllm-serving.pod.list" -}}
{{- $items := list }}
{{- range . }}{{ with trim . }}{{ $items = append $items . }}{{ end }}{{ end }}
{{- join "\n" $items }}
{{- end }}

{{/* `vllm serve` and its argv: the server's and the worker's command. */}}
{{- define "vllm-serving.pod.serve" -}}
command: ["vllm", "serve"]
args:
  {{- include "vllm-serving.args" (merge (dict "form" "serve") .) | fromJsonArray | toYaml | nindent 2 }}
{{- end }}

{{/* A server (a Deployment's pod or a LeaderWorkerSet leader) answers the API: its key, its port, probes
     on /health, and a pause before SIGTERM. */}}
{{- define "vllm-serving.pod.server" -}}
{{- $preStop := (include "vllm-serving.shutdownTimings" . | fromJson).preStopSleepSeconds | int }}
command: |-
  {{- include "vllm-serving.pod.serve" . | nindent 2 }}
env: |-
  {{- include "vllm-serving.apiKeyEnv" . | trim | nindent 2 }}
ports: |-
  - name: http
    containerPort: {{ .Values.vllm.port }}
    protocol: TCP
lifecycle: |-
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
  {{- if gt $preStop 0 }}
  lifecycle:
    {{- /* Keep serving while the endpoint removal reaches kube-proxy and load balancers. */}}
    preStop:
      sleep:
        seconds: {{ $preStop }}
  {{- end }}
{{- end }}

{{/* A LeaderWorkerSet worker runs the model's other stages: `vllm serve --headless` (see
     vllm-serving.args), no API, so no port or probes. */}}
{{- define "vllm-serving.pod.worker" -}}
command: |-
  {{- include "vllm-serving.pod.serve" . | nindent 2 }}
lifecycle: |-
  lifecycle:
    {{- /* A rollout or a deletion takes the leader and its workers down at once; the leader's drain needs
           its workers, so each waits for the leader's API port to close (SIGTERM at the end of the grace
           period at the latest). On a group restart after a crash the leader is gone soon, and the
           workers with it, instead of each sleeping the whole grace before the group can be recreated. */}}
    preStop:
      exec:
        command:
          - python3
          - -c
          - {{ include "vllm-serving.waitForLeader" . | quote }}
{{- end }}

{{/* A worker's preStop: return once the leader's API port has refused two connections in a row. */}}
{{- define "vllm-serving.waitForLeader" -}}
import os, socket, time
misses = 0
while misses < 2:
    try:
        socket.create_connection((os.environ["LWS_LEADER_ADDRESS"], {{ .Values.vllm.port }}), timeout=2).close()
        misses = 0
    except OSError:
        misses += 1
    time.sleep(0.5)
{{- end }}

{{/* A batch pod runs one shard through `vllm run-batch` once, reading and writing under /batch. */}}
{{- define "vllm-serving.pod.batch" -}}
pod: |-
  restartPolicy: Never
command: |-
  command:
    {{- list "sh" "-c" (include "vllm-serving.batchScript" .) "run-batch" | toYaml | nindent 4 }}
  args:
    {{- include "vllm-serving.args" (merge (dict "form" "batch") .) | fromJsonArray | toYaml | nindent 4 }}
env: |-
  - name: BATCH_DIR
    value: /batch
  - name: BATCH_INPUT
    value: {{ .Values.batch.input | quote }}
  - name: BATCH_OUTPUT
    value: {{ .Values.batch.output | quote }}
  - name: BATCH_SHARDS
    value: {{ .Values.batch.shards | quote }}
volumeMounts: |-
  - name: batch
    mountPath: /batch
    {{- /* A bucket mounts its directory alone (only-dir); a claim mounts it as a subPath. */}}
    {{- if and .Values.batch.existingClaim .Values.batch.directory }}
    subPath: {{ .Values.batch.directory }}
    {{- end }}
volumes: |-
  {{- include "vllm-serving.batchVolume" . | nindent 2 }}
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

{{/* Node selection for the GPU nodes: accelerator and optional pool, or a ComputeClass; Spot or
     flex-start capacity; the taints those nodes carry. Shared with the test pod, which runs on the same
     nodes because the serving image is already there. */}}
{{- define "vllm-serving.gpuScheduling" -}}
{{- $gke := .Values.gke }}
{{- $standard := eq $gke.mode "standard" }}
{{- $class := include "vllm-serving.computeClassName" . }}
{{- $custom := include "vllm-serving.customComputeClass" . }}
{{- $provisioning := include "vllm-serving.batchProvisioning" . }}
{{- $selector := dict }}
{{- with $class }}
{{- $_ := set $selector "cloud.google.com/compute-class" . }}
{{- end }}
{{- if not $custom }}
{{- /* Without a class, or with GKE's built-in Accelerator class, which still wants the GPU named. */}}
{{- $_ := set $selector "cloud.google.com/gke-accelerator" $gke.accelerator }}
{{- end }}
{{- with $gke.nodePool }}
{{- $_ := set $selector "cloud.google.com/gke-nodepool" . }}
{{- end }}
{{- if $gke.spot }}
{{- $_ := set $selector "cloud.google.com/gke-spot" "true" }}
{{- end }}
{{- /* Flex-start nodes; queued provisioning selects them too when GKE's auto-provisioning creates the
       pool (GKE's "Node auto-provisioning" PodTemplate); a named pool was created --flex-start. */}}
{{- if or (eq $provisioning "flexStart") (and (eq $provisioning "queuedProvisioning") (not $gke.nodePool)) }}
{{- $_ := set $selector "cloud.google.com/gke-flex-start" "true" }}
{{- end }}
{{- $boot := .Values.gke.secondaryBootDisk }}
{{- if and $boot.enabled (eq .Values.gke.mode "autopilot") }}
{{- /* Autopilot attaches the cached image to nodes it creates for pods that ask for it. */}}
{{- $_ := set $selector (printf "cloud.google.com.node-restriction.kubernetes.io/gke-secondary-boot-disk-%s" $boot.diskImage) (printf "CONTAINER_IMAGE_CACHE.%s" $boot.project) }}
{{- end }}
{{- $selector = merge $selector (include "vllm-serving.weights.nodeSelector" . | fromYaml) }}
{{- if $custom }}
{{- /* GKE rejects a pod that selects a custom class together with a label the class decides (the local
       SSD that GCSFuse's file cache asks for is the class's storage.localSSDCount). */}}
{{- range $label, $_ := (include "vllm-serving.rules" . | fromYaml).computeClass.classFieldLabels }}
{{- $_ := unset $selector $label }}
{{- end }}
{{- end }}
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
