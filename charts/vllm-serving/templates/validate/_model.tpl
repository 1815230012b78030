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

{{/* Warnings (vllm-serving.warnings): model settings that work but often hurt. */}}
{{- define "vllm-serving.warnings.model" -}}
{{- $rules := include "vllm-serving.rules" . | fromYaml }}
{{- $warnings := list }}
{{- $v := .Values.vllm }}
{{- $acc := get $rules.accelerators .Values.gke.accelerator }}
{{- $utilization := $v.gpuMemoryUtilization }}
{{- if and (not (kindIs "invalid" $utilization)) $acc (gt (float64 $utilization) (float64 $rules.warnings.gpuMemoryUtilization)) }}
{{- /* vLLM takes the fraction of the total CUDA reports (rules.yaml cudaMemoryMiB), not of the card's name size. */}}
{{- $total := divf (float64 $acc.cudaMemoryMiB) 1024.0 }}
{{- $taken := mulf $total (float64 $utilization) }}
{{- $warnings = append $warnings (printf "vllm.gpuMemoryUtilization: %v makes vLLM take %.1f of the %.1f GiB that CUDA reports on each %s at start-up, and stop if less is free, leaving %.1f GiB for the CUDA context and anything else on the GPU; vLLM's default is %v: use at most %v unless this GPU has been seen to start with it" $utilization $taken $total .Values.gke.accelerator (subf $total $taken) $rules.vllmDefaults.gpuMemoryUtilization $rules.warnings.gpuMemoryUtilization) }}
{{- end }}
{{- $model := get $rules.models (.Values.model.name | toString) }}
{{- if and (not (kindIs "invalid" $v.maxModelLen)) $model }}
{{- $positions := $model.max_position_embeddings | int }}
{{- $length := $v.maxModelLen | int }}
{{- if and (lt $length ($rules.warnings.shortContextTokens | int)) (lt $length $positions) }}
{{- $warnings = append $warnings (printf "vllm.maxModelLen: %d tokens is far below the %d positions of %s: vLLM answers 400 to every request whose prompt and max_tokens together pass it, which a chat history or a retrieved document soon does; raise it (null: the model's own) unless the requests are known to be short" $length $positions .Values.model.name) }}
{{- end }}
{{- end }}
{{- toYaml $warnings }}
{{- end }}
