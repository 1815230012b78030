"""Tooling around the vllm-serving Helm chart: validate, render, pre-flight, bake, test."""
