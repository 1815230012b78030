{{/* The HTTPRoute's parts (templates/httproute.yaml). The header GKE's body-based router sets to the request body's `model` (the Body to Header extension;
     https://cloud.google.com/kubernetes-engine/docs/how-to/configure-body-based-routing). */}}
{{- define "vllm-serving.gateway.modelHeader" -}}X-Gateway-Model-Name{{- end }}

{{/* The path clients use on the Gateway for one routed vLLM path: (list pathPrefix path). */}}
{{- define "vllm-serving.gateway.publicPath" -}}
{{- $prefix := index . 0 }}{{ $path := index . 1 }}
{{- if eq $prefix "/" }}{{ $path }}{{ else if eq $path "/" }}{{ $prefix }}{{ else }}{{ printf "%s%s" $prefix $path }}{{ end }}
{{- end }}
