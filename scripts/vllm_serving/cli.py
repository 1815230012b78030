"""The ``vllm-serving`` command: one sub-command per module, each a ``main(argv) -> int``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from vllm_serving import extras
from vllm_serving.errors import VllmServingError

# sub-command -> one-line help. Its module is vllm_serving.commands.<command, - as _> (pip's layout), imported
# only when the command runs, so that `vllm-serving validate` does not pay for the Kubernetes or Google Cloud
# clients.
COMMANDS: dict[str, str] = {
    "up": "install a values file on the local test cluster (or --kubeconfig's) and wait",
    "validate": "check values files against the chart's schema and rules",
    "preflight": "check values against the live cluster before installing: GPUs, PSA, CRDs",
    "render": "render the chart's manifests for a values file with helm",
    "docs": "copy values.yaml's `# --` descriptions into the schema and the README table",
    "check-args": "check a `vllm serve` argv with the pinned vLLM release's own parser",
    "cluster": "start/stop the local test cluster (real control plane, kwok GPU nodes)",
    "timeline": (
        "where each pod of a release spent its start (image, volumes, weights, compile, graphs) against its budget"
    ),
    "size": "size a model for a GPU: weights, KV cache, tensor size and node count",
    "values": "write values files: `values new` sizes a model for an accelerator",
    "loadtest": "load-test a served model's chat completions with Locust (bounded)",
    "bake": "bake disk images: container-image cache and model weights",
    "nodepool": "create a GPU node pool with the image cache",
    "pipeline": "batch and streaming inference on Apache Beam (DirectRunner, Dataflow)",
}


def run(command: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """Run one command and map domain errors to exit codes (the only place that does)."""
    try:
        return command(argv)
    except VllmServingError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: vllm-serving COMMAND [ARGS...]",
        "",
        "Serve LLMs with vLLM on GKE: tooling around the vllm-serving chart.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {help_}" for name, help_ in COMMANDS.items()]
    lines += ["", "Run `vllm-serving COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run(lambda args: _load(name).main(args), rest)


def module_of(command: str) -> str:
    return f"vllm_serving.commands.{command.replace('-', '_')}"


def _load(name: str):
    extras.require_for_command(name)  # before the import, which would fail with a bare ModuleNotFoundError
    return importlib.import_module(module_of(name))


if __name__ == "__main__":
    sys.exit(main())
