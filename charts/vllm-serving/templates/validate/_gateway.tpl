{{/* The Inference Gateway: what the load balancer's proxies need, and a release it can route to. */}}
{{- define "vllm-serving.validate.gateway" -}}
{{- $errors := list }}
{{- if and .Values.networkPolicy.enabled .Values.gateway.enabled (not .Values.networkPolicy.proxyOnlySubnet) }}
{{- $errors = append $errors "networkPolicy.proxyOnlySubnet: the gateway's proxies reach the pods from the region's proxy-only subnet; give its CIDR (gcloud compute networks subnets list --filter=purpose=REGIONAL_MANAGED_PROXY)" }}
{{- end }}
{{- if and .Values.gateway.enabled .Values.batch.enabled }}
{{- $errors = append $errors "gateway.enabled: a batch release serves nothing to route to; deploy the gateway with a serving release" }}
{{- end }}
{{- /* The HTTPRoute CRD (Gateway API v1.4.1, spec.parentRefs validations): several references to one
       parent each need a sectionName, and a sectionName of their own. */}}
{{- if .Values.gateway.enabled }}
{{- $seen := dict }}
{{- range $i, $ref := .Values.gateway.parentRefs }}
{{- $parent := printf "%s/%s/%s/%s" ($ref.group | default "gateway.networking.k8s.io") ($ref.kind | default "Gateway") ($ref.namespace | default "") $ref.name }}
{{- $section := $ref.sectionName | default "" }}
{{- $sections := get $seen $parent | default list }}
{{- if and $sections (or (not $section) (has "" $sections) (has $section $sections)) }}
{{- $errors = append $errors (printf "gateway.parentRefs[%d]: refers to %s again; give each reference to one Gateway its own sectionName (a listener), as the HTTPRoute CRD requires" $i $ref.name) }}
{{- end }}
{{- $_ := set $seen $parent (append $sections $section) }}
{{- end }}
{{- end }}
{{- /* The HTTPRoute CRD (Gateway API v1.4.1) takes at most 64 matches per rule and 128 in all; with
       bodyBasedRouting each rule (one per path) matches every served name. */}}
{{- if and .Values.gateway.enabled .Values.gateway.bodyBasedRouting }}
{{- $names := add1 (len .Values.lora.adapters) }}
{{- $matches := mul $names (len .Values.gateway.paths) }}
{{- if or (gt $names 64) (gt $matches 128) }}
{{- $errors = append $errors (printf "gateway.bodyBasedRouting: the HTTPRoute would match %d model names on %d paths (%d matches), beyond the 64 per rule and 128 per route the Gateway API allows; serve fewer adapters per release or route fewer gateway.paths" $names (len .Values.gateway.paths) $matches) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
