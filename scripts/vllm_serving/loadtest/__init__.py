"""`vllm-serving loadtest`: a bounded Locust load test of an OpenAI-compatible chat-completions server.

Modules:

- ``runner``: runs the load in a child process and reads its summary back (the command is
  ``vllm_serving.commands.loadtest``);
- ``worker``: the child process: Locust's ``Environment`` and ``LocalRunner``, headless;
- ``locustfile``: the Locust user (also usable as ``locust -f .../locustfile.py --host URL``);
- ``client``: one streamed chat completion over ``http.client``, measured (TTFT, ITL, e2e, tokens);
- ``prompts``: the JSONL prompts file (``prompts.jsonl`` is the shipped default);
- ``report``: percentiles, the summary, the verdict and the text table.

This package's ``__init__`` imports nothing: the worker must import Locust (which monkey-patches the
standard library with gevent) before anything imports ``ssl`` or ``http.client``.
"""
