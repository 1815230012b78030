{{/* The API key: from its Secret only, and clients that can send it. */}}
{{- define "vllm-serving.validate.apiKey" -}}
{{- $errors := list }}
{{- range $e := .Values.env }}
{{- if eq $e.name "VLLM_API_KEY" }}
{{- $errors = append $errors "env: VLLM_API_KEY is set by the chart from vllm.apiKey; remove it from env and set vllm.apiKey.secretName (and vllm.apiKey.key)" }}
{{- end }}
{{- end }}
{{- /* gradio-app:v1.0.7 (GoogleCloudPlatform/kubernetes-engine-samples, ai-ml/llm-serving-gemma/gradio/app/app.py
       at ff107cde, the commit that publishes it) posts the JSON body alone and reads no key from its
       environment: it cannot be given the Secret. */}}
{{- if and .Values.chatUI.enabled .Values.vllm.apiKey.secretName }}
{{- $errors = append $errors "chatUI.enabled: the chat UI (GKE's Gradio sample app) sends no Authorization header, so vLLM would answer it 401 with vllm.apiKey set; disable the chat UI or leave vllm.apiKey.secretName empty" }}
{{- end }}
{{- /* A Secret's name or key that looks like the secret itself: the key would be in the values, in clear. */}}
{{- $refs := dict "vllm.apiKey.secretName" .Values.vllm.apiKey.secretName "vllm.apiKey.key" .Values.vllm.apiKey.key "weights.huggingface.tokenSecret.name" .Values.weights.huggingface.tokenSecret.name "weights.huggingface.tokenSecret.key" .Values.weights.huggingface.tokenSecret.key }}
{{- range $where := keys $refs | sortAlpha }}
{{- $ref := get $refs $where | default "" | toString }}
{{- /* The shapes of a Hugging Face token (hf_ and 34 letters or digits), an OpenAI-style key (sk-...) and
       `openssl rand -hex 32`, which the chart's docs suggest: no Secret name or key looks like them. */}}
{{- if or (regexMatch "^hf_[A-Za-z0-9]{30,}$" $ref) (regexMatch "^sk-[A-Za-z0-9_-]{20,}$" $ref) (regexMatch "^[0-9a-fA-F]{32,}$" $ref) }}
{{- $errors = append $errors (printf "%s: looks like the secret itself, not the name of a Secret or of a key inside it; put the secret in a Secret (kubectl create secret generic NAME --from-literal=KEY=...), set the Secret's name and key here, and rotate the secret, which your values have exposed" $where) }}
{{- end }}
{{- end }}
{{- toYaml $errors }}
{{- end }}
