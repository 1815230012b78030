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
{{- toYaml $errors }}
{{- end }}
