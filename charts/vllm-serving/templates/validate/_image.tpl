{{/* The vLLM image: repository and tag apart, pulls from the secondary boot disk, streaming. */}}
{{- define "vllm-serving.validate.image" -}}
{{- $errors := list }}
{{- if and (regexMatch ":[^/]*$" .Values.image.repository) (not (contains "@" .Values.image.repository)) }}
{{- $errors = append $errors (printf "image.repository: %s carries a tag, and the chart appends image.tag (%s:%s); give the repository alone and the tag in image.tag" .Values.image.repository .Values.image.repository .Values.image.tag) }}
{{- else if contains "@" .Values.image.repository }}
{{- $errors = append $errors (printf "image.repository: %s carries a digest, which the chart cannot follow with image.tag; give the repository alone and the release in image.tag" .Values.image.repository) }}
{{- end }}
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
{{- toYaml $errors }}
{{- end }}
