{{/*
The serving pod spec: GPU strategy, scheduling, probes, shutdown and security in one place, so that
every workload kind that runs vLLM gets the same pod. Called with the root context plus
`weightsClaim`, the claim of the workload's weights (see vllm-serving.workloads).
*/}}
{{- define "vllm-serving.podSpec" -}}
{{- $tensor := .Values.parallelism.tensor | int }}
serviceAccountName: {{ include "vllm-serving.serviceAccountName" . }}
{{- /* vLLM never calls the Kubernetes API. */}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
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
{{- with include "vllm-serving.weights.initContainers" . | trim }}
initContainers:
  {{- . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "vllm-serving.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["vllm", "serve"]
    args:
      {{- include "vllm-serving.args" . | fromJsonArray | toYaml | nindent 6 }}
    env:
      {{- include "vllm-serving.weights.env" . | trim | nindent 6 }}
      {{- with .Values.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: http
        containerPort: {{ .Values.vllm.port }}
        protocol: TCP
    resources:
      requests:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.requests | default dict)) | nindent 8 }}
      limits:
        {{- toYaml (merge (dict "nvidia.com/gpu" $tensor) (.Values.resources.limits | default dict)) | nindent 8 }}
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
    {{- if gt (.Values.preStopSleepSeconds | int) 0 }}
    lifecycle:
      {{- /* Keep serving while the endpoint removal reaches kube-proxy and load balancers. */}}
      preStop:
        sleep:
          seconds: {{ .Values.preStopSleepSeconds }}
    {{- end }}
    {{- with .Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- $mounts := include "vllm-serving.weights.volumeMounts" . | trim }}
    {{- if or $mounts (gt $tensor 1) }}
    volumeMounts:
      {{- with $mounts }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- if gt $tensor 1 }}
      - name: dshm
        mountPath: /dev/shm
      {{- end }}
    {{- end }}
{{- $volumes := include "vllm-serving.weights.volumes" . | trim }}
{{- if or $volumes (gt $tensor 1) }}
volumes:
  {{- with $volumes }}
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

{{/* Node selection for the GPU nodes: accelerator, optional pool, the GPU taint. Shared with the
     test pod, which runs on the same nodes because the serving image is already there. */}}
{{- define "vllm-serving.gpuScheduling" -}}
{{- $selector := dict "cloud.google.com/gke-accelerator" .Values.gke.accelerator }}
{{- with .Values.gke.nodePool }}
{{- $_ := set $selector "cloud.google.com/gke-nodepool" . }}
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
  {{- with .Values.tolerations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Seconds the startupProbe allows: startup.maxSeconds, or the weight source's default. */}}
{{- define "vllm-serving.startupBudget" -}}
{{- .Values.startup.maxSeconds | default (get .Values.startup.maxSecondsBySource .Values.weights.source) | int }}
{{- end }}
