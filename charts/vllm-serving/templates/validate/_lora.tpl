{{/* LoRA adapters: names of their own, paths that can exist, limits with something to limit. */}}
{{- define "vllm-serving.validate.lora" -}}
{{- $errors := list }}
{{- $l := .Values.lora }}
{{- $names := list (include "vllm-serving.servedModelName" .) }}
{{- range $i, $a := $l.adapters }}
{{- if has $a.name $names }}
{{- $errors = append $errors (printf "lora.adapters[%d].name: %s is already the name of the model or of another adapter; clients pick by name, so give each a name of its own" $i $a.name) }}
{{- end }}
{{- $names = append $names $a.name }}
{{- if and $a.path (not (include "vllm-serving.weights.isMounted" $)) }}
{{- $errors = append $errors (printf "lora.adapters[%d].path: a path on the weights volume needs a mounted weights.source (gcsfuse, persistentDisk or nfs), not %s; use gcs or huggingface for this adapter" $i $.Values.weights.source) }}
{{- end }}
{{- /* Only Hugging Face weights give the pod the Hub: otherwise it runs with HF_HUB_OFFLINE=1 and no token
       (templates/_weights.tpl), vLLM's get_adapter_absolute_path raises LocalEntryNotFoundError for a
       repository id (vllm/lora/utils.py, 0.33.0), and a static adapter that fails to load stops the server
       (init_static_loras, vllm/entrypoints/openai/models/serving.py). */}}
{{- if and $a.huggingface (ne $.Values.weights.source "huggingface") }}
{{- $errors = append $errors (printf "lora.adapters[%d].huggingface: with weights.source %s the pod runs offline (HF_HUB_OFFLINE=1, no Hugging Face token), so vLLM cannot download %s and stops at start-up; copy the adapter to a bucket and use gcs: gs://BUCKET/DIR (or path: on the weights volume)" $i $.Values.weights.source $a.huggingface) }}
{{- end }}
{{- /* The weights volume holds only the model's directory (gcsfuse only-dir, a disk or share subpath):
       a path that climbs out of it cannot exist in the pod. */}}
{{- if and $a.path (regexMatch "(^|/)\\.\\.(/|$)" $a.path) }}
{{- $errors = append $errors (printf "lora.adapters[%d].path: %s leaves weights.mountPath (%s), the only part of the weights source the pod mounts; put the adapter inside the model's directory, or use gcs: gs://BUCKET/DIR" $i $a.path $.Values.weights.mountPath) }}
{{- end }}
{{- /* vLLM loads an adapter from a directory (adapter_config.json beside the weights). */}}
{{- $where := ternary "gcs" "path" (not (empty $a.gcs)) }}
{{- $dir := $a.gcs | default $a.path | default "" | trimSuffix "/" }}
{{- if regexMatch "\\.(safetensors|bin|pt|pth|json|gguf)$" $dir }}
{{- $errors = append $errors (printf "lora.adapters[%d].%s: %s names a file; vLLM loads an adapter from its directory (adapter_config.json and adapter_model.safetensors), so give the directory" $i $where $dir) }}
{{- end }}
{{- end }}
{{- /* vLLM's LoRAConfig refuses it at start-up: "max_cpu_loras (...) must be >= max_loras (...)"
       (vllm/config/lora.py, 0.33.0). */}}
{{- if and (not (kindIs "invalid" $l.maxCpuLoras)) (lt (int64 $l.maxCpuLoras) (int64 ($l.maxLoras | default 1))) }}
{{- $errors = append $errors (printf "lora.maxCpuLoras: %d is below lora.maxLoras (%d), and vLLM refuses to start (max_cpu_loras must be >= max_loras); set maxCpuLoras to at least %d, or leave it null (vLLM then uses maxLoras)" (int64 $l.maxCpuLoras) (int64 ($l.maxLoras | default 1)) (int64 ($l.maxLoras | default 1))) }}
{{- end }}
{{- if and $l.runtimeUpdates (not .Values.vllm.apiKey.secretName) }}
{{- $errors = append $errors "lora.runtimeUpdates: lets every caller make vLLM load any path or Hugging Face repository; set vllm.apiKey.secretName too, so that only key holders can" }}
{{- end }}
{{- if and (not $l.adapters) (not $l.runtimeUpdates) (or (not (kindIs "invalid" $l.maxLoras)) (not (kindIs "invalid" $l.maxRank)) (not (kindIs "invalid" $l.maxCpuLoras))) }}
{{- $errors = append $errors "lora.maxLoras: LoRA limits are set but no adapter is; list lora.adapters (or set lora.runtimeUpdates), or remove the limits" }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
