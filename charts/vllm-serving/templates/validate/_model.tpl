{{/* The model and how vLLM loads it: what vLLM or the GPU would refuse only at start-up. */}}
{{- define "vllm-serving.validate.model" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $errors := list }}
{{- /* A Hub page's URL where the repository id belongs: vLLM would look for a local directory of that name. */}}
{{- $name := .Values.model.name | toString }}
{{- if regexMatch "^[A-Za-z][-A-Za-z0-9+.]*://" $name }}
{{- $hub := regexFind "^https?://(www\\.)?(huggingface\\.co|hf\\.co)/[^/?#]+/[^/?#]+" $name }}
{{- if $hub }}
{{- $errors = append $errors (printf "model.name: %s is the model's web page; set its Hugging Face repository id, %s" $name (regexReplaceAll "^https?://[^/]+/" $hub "")) }}
{{- else }}
{{- $errors = append $errors (printf "model.name: %s is a URL; set the model's Hugging Face repository id (ORG/NAME), and say where the weights are in weights (weights.source and its block)" $name) }}
{{- end }}
{{- end }}
{{- /* bfloat16 needs compute capability 8.0 (vllm/platforms/cuda.py, check_if_supports_dtype): vLLM
       refuses it at start-up on older GPUs. */}}
{{- $acc := get $rules.accelerators .Values.gke.accelerator }}
{{- if and (eq .Values.vllm.dtype "bfloat16") $acc (lt ($acc.computeCapability | float64) 8.0) }}
{{- $errors = append $errors (printf "vllm.dtype: bfloat16 needs a GPU of compute capability 8.0 or newer, and %s has %v, so vLLM would refuse to start; use float16 (vllm.dtype: half)" .Values.gke.accelerator $acc.computeCapability) }}
{{- end }}
{{- /* vLLM's load formats: an unknown one fails at start-up (vllm/model_executor/model_loader). */}}
{{- range $source := list "huggingface" "gcsfuse" "persistentDisk" "nfs" "gcsStream" }}
{{- $format := get (get $.Values.weights $source) "loadFormat" | default "" | toString }}
{{- if and $format (not (has $format $rules.loadFormats)) }}
{{- $errors = append $errors (printf "weights.%s.loadFormat: %s is not a load format vLLM knows; use one of %s, or leave it empty for auto" $source $format (join ", " $rules.loadFormats)) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
