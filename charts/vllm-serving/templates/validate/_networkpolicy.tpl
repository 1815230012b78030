{{/* NetworkPolicy: peers the API server would refuse (Kubernetes v1.36 pkg/apis/networking/validation
ValidateNetworkPolicyPeer and ValidateIPBlock, with StrictIPCIDRValidation, on by default since 1.36), and
settings that would shut out the chart's own health checks and scrapers. */}}
{{- define "vllm-serving.validate.networkPolicy" -}}
{{- $errors := list }}
{{- $np := .Values.networkPolicy }}
{{- if $np.enabled }}
{{- range $list := list "from" "metricsFrom" }}
{{- range $i, $peer := index $np $list }}
{{- $errors = concat $errors (include "vllm-serving.networkPolicy.peerProblems" (dict "path" (printf "networkPolicy.%s[%d]" $list $i) "peer" $peer) | fromYamlArray) }}
{{- end }}
{{- end }}
{{- range $i, $cidr := $np.healthCheckRanges }}
{{- $errors = concat $errors (include "vllm-serving.networkPolicy.cidrProblems" (dict "path" (printf "networkPolicy.healthCheckRanges[%d]" $i) "cidr" $cidr) | fromYamlArray) }}
{{- end }}
{{- with $np.proxyOnlySubnet }}
{{- $errors = concat $errors (include "vllm-serving.networkPolicy.cidrProblems" (dict "path" "networkPolicy.proxyOnlySubnet" "cidr" .) | fromYamlArray) }}
{{- end }}
{{- if and .Values.gateway.enabled .Values.gateway.gke.policies }}
{{- /* On GKE (gateway.gke.policies is off only outside it) the load balancer health-checks the endpoint
       picker (gRPC 9003) and the model servers from these ranges
       (cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges). */}}
{{- $googleRanges := (include "vllm-serving.rules" $ | fromYaml).healthCheckRanges }}
{{- range $google := $googleRanges }}
{{- $covered := false }}
{{- range $np.healthCheckRanges }}
{{- if eq (include "vllm-serving.ipv4Contains" (list . $google)) "true" }}{{ $covered = true }}{{ end }}
{{- end }}
{{- if not $covered }}
{{- $errors = append $errors (printf "networkPolicy.healthCheckRanges: %s is missing; GKE's load balancer health-checks the endpoint picker (gRPC 9003) and the model servers from it, and without it both are unhealthy (with FailClose every request gets a 500); keep Google's ranges [%s]" $google (join ", " $googleRanges)) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* The ServiceMonitor's Prometheus scrapes the API port, which `from` peers reach too. */}}
{{- if and .Values.monitoring.serviceMonitor.enabled (not .Values.batch.enabled) (not $np.metricsFrom) (not $np.from) }}
{{- $errors = append $errors "networkPolicy.metricsFrom: monitoring.serviceMonitor is on but no peer admits its Prometheus (metricsFrom and from are empty), so it cannot scrape the pods; list its pods, e.g. [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]" }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}

{{/* The problems of one NetworkPolicyPeer ({path, peer}) as a YAML list. */}}
{{- define "vllm-serving.networkPolicy.peerProblems" -}}
{{- $errors := list }}
{{- $path := .path }}
{{- $peer := .peer }}
{{- range $key := keys $peer | sortAlpha }}
{{- if not (has $key (list "ipBlock" "namespaceSelector" "podSelector")) }}
{{- $errors = append $errors (printf "%s.%s: not a field of a NetworkPolicyPeer (the API server drops it); use ipBlock, namespaceSelector or podSelector" $path $key) }}
{{- end }}
{{- end }}
{{- $kinds := pick $peer "ipBlock" "namespaceSelector" "podSelector" }}
{{- if not $kinds }}
{{- $errors = append $errors (printf "%s: a peer needs an ipBlock, a namespaceSelector or a podSelector (the API server refuses an empty one); {podSelector: {}} is every pod of the release's namespace" $path) }}
{{- else if and (hasKey $peer "ipBlock") (gt (len $kinds) 1) }}
{{- $errors = append $errors (printf "%s: ipBlock cannot be combined with namespaceSelector or podSelector in one peer (the API server refuses it); make them two peers" $path) }}
{{- end }}
{{- if hasKey $peer "ipBlock" }}
{{- $ipBlock := $peer.ipBlock | default dict }}
{{- range $key := keys $ipBlock | sortAlpha }}
{{- if not (has $key (list "cidr" "except")) }}
{{- $errors = append $errors (printf "%s.ipBlock.%s: not a field of an IPBlock (the API server drops it); use cidr and except" $path $key) }}
{{- end }}
{{- end }}
{{- $cidrProblems := include "vllm-serving.networkPolicy.cidrProblems" (dict "path" (printf "%s.ipBlock.cidr" $path) "cidr" ($ipBlock.cidr | default "")) | fromYamlArray }}
{{- $errors = concat $errors $cidrProblems }}
{{- range $j, $except := $ipBlock.except | default (list) }}
{{- $exceptPath := printf "%s.ipBlock.except[%d]" $path $j }}
{{- $exceptProblems := include "vllm-serving.networkPolicy.cidrProblems" (dict "path" $exceptPath "cidr" $except) | fromYamlArray }}
{{- $errors = concat $errors $exceptProblems }}
{{- if and (not $cidrProblems) (not $exceptProblems) (ne (include "vllm-serving.ipv4Contains" (list $ipBlock.cidr $except "strict")) "true") (not (contains ":" (print $ipBlock.cidr $except))) }}
{{- $errors = append $errors (printf "%s: %s is not strictly inside cidr %s (the API server refuses it); list only ranges inside it" $exceptPath $except $ipBlock.cidr) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $selector := list "namespaceSelector" "podSelector" }}
{{- with index $peer $selector }}
{{- $selectorPath := printf "%s.%s" $path $selector }}
{{- range $key := keys . | sortAlpha }}
{{- if not (has $key (list "matchExpressions" "matchLabels")) }}
{{- $errors = append $errors (printf "%s.%s: not a field of a label selector (the API server drops it); use matchLabels or matchExpressions" $selectorPath $key) }}
{{- end }}
{{- end }}
{{- range $k, $requirement := .matchExpressions }}
{{- $operator := $requirement.operator | default "" }}
{{- $where := printf "%s.matchExpressions[%d]" $selectorPath $k }}
{{- if and (has $operator (list "In" "NotIn")) (not $requirement.values) }}
{{- $errors = append $errors (printf "%s.values: operator %s needs values (the API server refuses none)" $where $operator) }}
{{- else if and (has $operator (list "Exists" "DoesNotExist")) $requirement.values }}
{{- $errors = append $errors (printf "%s.values: operator %s takes no values (the API server refuses them); remove them" $where $operator) }}
{{- else if not (has $operator (list "In" "NotIn" "Exists" "DoesNotExist")) }}
{{- $errors = append $errors (printf "%s.operator: %q is not an operator; use In, NotIn, Exists or DoesNotExist" $where $operator) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}

{{/* The problems of one CIDR ({path, cidr}) as a YAML list: the API server's strict CIDR check
(k8s.io/apimachinery v0.36 pkg/util/validation/ip.go parseCIDR). IPv4 fully; IPv6 by its shape only. */}}
{{- define "vllm-serving.networkPolicy.cidrProblems" -}}
{{- $errors := list }}
{{- $cidr := toString .cidr }}
{{- if contains ":" $cidr }}
{{- if not (regexMatch "^[0-9a-fA-F:]*:[0-9a-fA-F:]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$" $cidr) }}
{{- $errors = append $errors (printf "%s: %q is not a CIDR; write an address range such as 10.9.8.0/24 or 2001:db8::/64" .path $cidr) }}
{{- end }}
{{- else if not (include "vllm-serving.ipv4Cidr" $cidr) }}
{{- $errors = append $errors (printf "%s: %q is not a CIDR; write an address range such as 10.9.8.0/24 or 2001:db8::/64" .path $cidr) }}
{{- else }}
{{- $net := include "vllm-serving.ipv4Cidr" $cidr | fromYaml }}
{{- if ne $net.canonical $cidr }}
{{- $errors = append $errors (printf "%s: %s has bits set beyond its prefix length (the API server refuses it); write %s" .path $cidr $net.canonical) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}

{{/* An IPv4 CIDR without leading zeros as {first, size, canonical} (first: its first address as a
number), or nothing when it is not one. */}}
{{- define "vllm-serving.ipv4Cidr" -}}
{{- $octet := "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])" }}
{{- if regexMatch (printf "^%s\\.%s\\.%s\\.%s/(3[0-2]|[12][0-9]|[0-9])$" $octet $octet $octet $octet) . }}
{{- $parts := splitList "/" . }}
{{- $address := 0 }}
{{- range splitList "." (first $parts) }}{{ $address = add (mul $address 256) (atoi .) }}{{ end }}
{{- $size := 1 }}
{{- range until (sub 32 (atoi (last $parts)) | int) }}{{ $size = mul $size 2 }}{{ end }}
{{- $first := sub $address (mod $address $size) }}
{{- $octets := list (div $first 16777216) (mod (div $first 65536) 256) (mod (div $first 256) 256) (mod $first 256) }}
{{- toYaml (dict "first" $first "size" $size "canonical" (printf "%s/%s" (join "." $octets) (last $parts))) }}
{{- end }}
{{- end }}

{{/* "true" when IPv4 CIDR a contains b (list a b), strictly with a third item (b smaller than a, as the
API server wants of an ipBlock's except). */}}
{{- define "vllm-serving.ipv4Contains" -}}
{{- $a := include "vllm-serving.ipv4Cidr" (index . 0) | fromYaml }}
{{- $b := include "vllm-serving.ipv4Cidr" (index . 1) | fromYaml }}
{{- if and $a $b }}
{{- $strict := gt (len .) 2 }}
{{- $inside := and (ge (int64 $b.first) (int64 $a.first)) (lt (int64 $b.first) (add $a.first $a.size | int64)) }}
{{- $smaller := ternary (lt (int64 $b.size) (int64 $a.size)) (le (int64 $b.size) (int64 $a.size)) $strict }}
{{- and $inside $smaller }}
{{- end }}
{{- end }}
