"""`vllm-serving pipeline`: batch and streaming inference as an Apache Beam pipeline (the `[pipeline]` extra).

Modules without Beam: ``records`` (input and output line formats), ``client`` (requests to an
endpoint), ``dataflow`` (GPU submission options), ``plan`` (a checked command line and its Beam
options). The command is vllm_serving.commands.pipeline. With Beam: ``transforms``, ``run``.
"""
