{{/* GKE Autopilot: what its admission (GKE Warden) refuses, named before it is rendered. */}}
{{- define "vllm-serving.validate.autopilot" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- $w := .Values.weights }}
{{- if eq .Values.gke.mode "autopilot" }}
{{- $ap := $rules.autopilot }}
{{- with .Values.gke.nodePool }}
{{- $errors = append $errors (printf "gke.nodePool: %s becomes the node selector cloud.google.com/gke-nodepool, which Autopilot refuses (it creates the nodes itself); remove gke.nodePool and let gke.accelerator choose the nodes" .) }}
{{- end }}
{{- range $key, $value := .Values.nodeSelector }}
{{- $allowed := has $key $ap.nodeSelectorKeys }}
{{- range $prefix := $ap.nodeSelectorKeyPrefixes }}{{ if hasPrefix $prefix $key }}{{ $allowed = true }}{{ end }}{{ end }}
{{- /* Workload separation: a label of your own, with a toleration of the taint of that key and value. */}}
{{- if not (regexMatch $ap.systemLabelDomains $key) }}
{{- range $t := $.Values.tolerations }}
{{- if and (eq (toString $t.key) $key) (eq (toString $t.value) (toString $value)) (has (toString $t.effect) (list "NoSchedule" "NoExecute")) (eq ($t.operator | default "Equal") "Equal") }}{{ $allowed = true }}{{ end }}
{{- end }}
{{- end }}
{{- if not $allowed }}
{{- $errors = append $errors (printf "nodeSelector.%s: Autopilot allows node selectors only on its own keys (%s), or on a label of your own whose taint the pod tolerates (workload separation: add a toleration %s=%v:NoSchedule); remove it or use one of those" $key (join ", " $ap.nodeSelectorKeys) $key $value) }}
{{- end }}
{{- end }}
{{- if and (eq $w.source "nfs") $w.nfs.readAhead.enabled }}
{{- $errors = append $errors "weights.nfs.readAhead.enabled: the read-ahead init container is privileged, which Autopilot refuses; set weights.nfs.readAhead.enabled: false, or use a Standard cluster" }}
{{- end }}
{{- range $i, $v := .Values.extraVolumes }}
{{- with $v.hostPath }}
{{- $path := printf "%s/" (trimSuffix "/" (.path | default "" | toString)) }}
{{- $allowed := false }}
{{- range $prefix := $ap.hostPathPrefixes }}{{ if hasPrefix $prefix $path }}{{ $allowed = true }}{{ end }}{{ end }}
{{- if not $allowed }}
{{- $errors = append $errors (printf "extraVolumes[%d].hostPath: %s is a host path Autopilot refuses (it mounts only paths under %s); use an emptyDir, a ConfigMap or a CSI volume, or a Standard cluster" $i .path (join ", " $ap.hostPathPrefixes)) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* Linux capabilities beyond Autopilot's list (rules.yaml autopilot.allowedCapabilities), in every
       container whose securityContext the values give. */}}
{{- $contexts := dict "securityContext" .Values.securityContext "tests.securityContext" .Values.tests.securityContext }}
{{- if .Values.chatUI.enabled }}{{ $_ := set $contexts "chatUI.securityContext" .Values.chatUI.securityContext }}{{ end }}
{{- range $list := list "extraInitContainers" "extraContainers" }}
{{- range $i, $c := get $.Values $list }}{{ $_ := set $contexts (printf "%s[%d].securityContext" $list $i) $c.securityContext }}{{ end }}
{{- end }}
{{- range $where := keys $contexts | sortAlpha }}
{{- $added := list }}
{{- range $capability := ((get $contexts $where | default dict).capabilities | default dict).add }}
{{- if not (has (toString $capability) $ap.allowedCapabilities) }}{{ $added = append $added (toString $capability) }}{{ end }}
{{- end }}
{{- if $added }}
{{- $errors = append $errors (printf "%s.capabilities.add: %s is a Linux capability Autopilot refuses (it allows only %s, without the CAP_ prefix); remove it, or use a Standard cluster" $where (join ", " $added) (join ", " $ap.allowedCapabilities)) }}
{{- end }}
{{- end }}
{{- $image := .Values.gke.secondaryBootDisk.diskImage }}
{{- if and .Values.gke.secondaryBootDisk.enabled (gt (len $image) ($ap.maxDiskImageName | int)) }}
{{- $errors = append $errors (printf "gke.secondaryBootDisk.diskImage: %s has %d characters; Autopilot's node selector key gke-secondary-boot-disk-<image> allows %d at most, so bake the image under a shorter name (vllm-serving bake image-cache --image-name)" $image (len $image) ($ap.maxDiskImageName | int)) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
