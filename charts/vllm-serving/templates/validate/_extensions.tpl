{{/* Extension points: the chat template from one place, extra volumes named apart from the chart's. */}}
{{- define "vllm-serving.validate.extensions" -}}
{{- $errors := list }}
{{- if and .Values.vllm.chatTemplate.inline .Values.vllm.chatTemplate.existingConfigMap }}
{{- $errors = append $errors "vllm.chatTemplate.existingConfigMap: set together with vllm.chatTemplate.inline; use one of them" }}
{{- end }}
{{- $chartVolumes := list "weights" "hf-cache" "dshm" "batch" "chat-template" }}
{{- range $i, $v := .Values.extraVolumes }}
{{- if or (has $v.name $chartVolumes) (hasPrefix "lora-" $v.name) }}
{{- $errors = append $errors (printf "extraVolumes[%d].name: %s is a volume the chart makes (%s, lora-N); pick another name" $i $v.name (join ", " $chartVolumes)) }}
{{- end }}
{{- end }}
{{- /* Mounts of volumes nobody defines, or over the chart's own mounts; containers named like the chart's. */}}
{{- $volumes := concat $chartVolumes (list "gke-gcsfuse-cache") }}
{{- range .Values.extraVolumes }}{{ $volumes = append $volumes .name }}{{ end }}
{{- range $i, $a := .Values.lora.adapters }}{{ if $a.gcs }}{{ $volumes = append $volumes (printf "lora-%d" $i) }}{{ end }}{{ end }}
{{- $chartPaths := list "/dev/shm" .Values.weights.mountPath .Values.weights.huggingface.cache.mountPath "/batch" (include "vllm-serving.chatTemplate.dir" .) "/adapters" }}
{{- range $i, $m := .Values.extraVolumeMounts }}
{{- if not (has $m.name $volumes) }}
{{- $errors = append $errors (printf "extraVolumeMounts[%d].name: %s is no volume of the pod, so Kubernetes would refuse the pod; define it in extraVolumes or mount one that exists" $i $m.name) }}
{{- end }}
{{- $path := trimSuffix "/" $m.mountPath }}
{{- range $own := $chartPaths }}
{{- if or (eq $path (trimSuffix "/" $own)) (hasPrefix (printf "%s/" (trimSuffix "/" $own)) $path) }}
{{- $errors = append $errors (printf "extraVolumeMounts[%d].mountPath: %s is on the chart's own mount %s (/dev/shm, weights.mountPath, the Hugging Face cache, /batch, the chat template and /adapters are the chart's); mount it elsewhere" $i $m.mountPath $own) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $list := list "extraContainers" "extraInitContainers" }}
{{- $own := ternary (list "vllm") (list "warm-file-cache" "tune-read-ahead") (eq $list "extraContainers") }}
{{- range $i, $c := get $.Values $list }}
{{- if has $c.name $own }}
{{- $errors = append $errors (printf "%s[%d].name: %s is a container the chart makes (%s); pick another name" $list $i $c.name (join ", " $own)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
