{{/*
Cross-field rules that the schema cannot express, one topic per file in templates/validate/: each
`vllm-serving.validate.<topic>` takes the chart's root context and returns a YAML list of problems, and
this collector reports them all in one `fail`, so a user fixes every problem in one go. These files hold
the only copy of each rule: `vllm-serving validate` asks Helm (templates/validate.yaml) and prints the
messages unchanged. Data comes from rules.yaml.

A new rule goes into the topic it is about; a new topic file is listed below.
*/}}
{{- define "vllm-serving.validate" -}}
{{- $errors := list }}
{{- range $topic := list
      "parallelism"
      "extraArgs"
      "resources"
      "identity"
      "scheduling"
      "image"
      "lifecycle"
      "weights"
      "autopilot"
      "autoscaling"
      "capacity"
      "computeClass"
      "batch"
      "apiKey"
      "lora"
      "extensions"
      "gateway"
      "networkPolicy"
      "monitoring"
      "model"
      "compileCache"
}}
{{- $errors = concat $errors (include (printf "vllm-serving.validate.%s" $topic) $ | fromYamlArray) }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n%s" (join "\n" $errors)) }}
{{- end }}
{{- end }}

{{/*
Judgement calls: values that work but often hurt, each said with why and what to do instead. Refusing them
would block a legitimate setup, so they are warned about: NOTES.txt shows them after `helm install` and
`helm upgrade`, and `vllm-serving validate`, `preflight` and `up` read them from templates/validate.yaml.
Each `vllm-serving.warnings.<topic>` lives in its topic's file in templates/validate/, beside the topic's
rules, and returns a YAML list; a topic with warnings is listed below. Thresholds come from rules.yaml
(`warnings`).
*/}}
{{- define "vllm-serving.warnings" -}}
{{- $warnings := list }}
{{- range $topic := list
      "model"
      "autoscaling"
      "capacity"
}}
{{- $warnings = concat $warnings (include (printf "vllm-serving.warnings.%s" $topic) $ | fromYamlArray) }}
{{- end }}
{{- toYaml $warnings }}
{{- end }}


{{/* A Prometheus duration (500ms, 15s, 1m, 2h) in seconds. */}}
{{- define "vllm-serving.seconds" -}}
{{- $number := regexFind "^[0-9]+" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- mulf $number (get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0) $unit) }}
{{- end }}

{{/* A Kubernetes quantity (4, 500m, 24Gi, 1e3) as a number, for comparisons. */}}
{{- define "vllm-serving.quantity" -}}
{{- $text := toString . }}
{{- $number := regexFind "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" $text }}
{{- $suffix := trimPrefix $number $text }}
{{- if regexMatch "^[eE]" $suffix }}
{{- float64 $text }}
{{- else }}
{{- $factors := dict "" 1.0 "n" 1e-9 "u" 1e-6 "m" 1e-3 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- mulf (float64 $number) (get $factors $suffix) }}
{{- end }}
{{- end }}

{{/* A number as the user wrote it: a whole number that JSON made a float prints without an exponent. */}}
{{- define "vllm-serving.asWritten" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}
