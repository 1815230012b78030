{{/* vllm.extraArgs: one way to set one thing, no secrets, no extra engines. */}}
{{- define "vllm-serving.validate.extraArgs" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- /* One way to set one thing: flags built from typed values may not repeat in extraArgs. Flags are
       compared as vLLM 0.33's parser reads them (vllm/utils/argparse_utils.py, FlexibleArgumentParser:
       `--a_b` is `--a-b` up to the first ".", `--flag=value`; argparse takes a unique prefix of a long
       flag). One item holding a space is no flag to vLLM: it would refuse it only when the pod starts. */}}
{{- range $arg := .Values.vllm.extraArgs }}
{{- $name := regexReplaceAll "=.*$" $arg "" }}
{{- $flag := $name }}
{{- if hasPrefix "--" $name }}
{{- $head := regexReplaceAll "\\..*$" $name "" }}
{{- $flag = printf "%s%s" (replace "_" "-" $head) (trimPrefix $head $name) }}
{{- end }}
{{- $said := $flag }}
{{- if ne $flag $name }}{{ $said = printf "%s (to vLLM: %s)" $name $flag }}{{ end }}
{{- $owner := get $rules.ownedFlags $flag }}
{{- $abbreviates := "" }}
{{- if and (not $owner) (hasPrefix "--" $flag) (gt (len $flag) 3) }}
{{- range $owned, $value := $rules.ownedFlags }}
{{- if and (not $abbreviates) (hasPrefix $flag $owned) }}{{ $abbreviates = $owned }}{{ $owner = $value }}{{ end }}
{{- end }}
{{- end }}
{{- if and (hasPrefix "-" $arg) (regexMatch "\\s" $name) }}
{{- $errors = append $errors (printf "vllm.extraArgs: %q is one item holding a space, which vLLM does not read as a flag and its value; give them as two items, or as FLAG=VALUE" $arg) }}
{{- else if $abbreviates }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s abbreviates %s, which the chart sets from %s; set that value instead" $name $abbreviates $owner) }}
{{- else if $owner }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s is set by the chart from %s; set that value instead" $said $owner) }}
{{- end }}
{{- with get $rules.secretFlags $flag }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s puts a secret in the pod spec, where anyone who can read the workload sees it; set %s instead" $said .) }}
{{- end }}
{{- if has $flag $rules.gpuCountFlags }}
{{- $errors = append $errors (printf "vllm.extraArgs: %s runs more engines than the parallelism.tensor GPUs the pod gets; scale out with replicaCount or autoscaling instead" $said) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
