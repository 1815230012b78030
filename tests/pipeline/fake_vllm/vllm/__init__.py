"""A stand-in for vLLM in the worker-handler test: only what Beam's vLLM handler runs, served by the stub."""

__version__ = "0.0.0+fake"
