{{/* The Inference Gateway: what the load balancer's proxies need, and a release it can route to. */}}
{{- define "vllm-serving.validate.gateway" -}}
{{- $errors := list }}
{{- if and .Values.networkPolicy.enabled .Values.gateway.enabled (not .Values.networkPolicy.proxyOnlySubnet) }}
{{- $errors = append $errors "networkPolicy.proxyOnlySubnet: the gateway's proxies reach the pods from the region's proxy-only subnet; give its CIDR (gcloud compute networks subnets list --filter=purpose=REGIONAL_MANAGED_PROXY)" }}
{{- end }}
{{- if and .Values.gateway.enabled .Values.batch.enabled }}
{{- $errors = append $errors "gateway.enabled: a batch release serves nothing to route to; deploy the gateway with a serving release" }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
