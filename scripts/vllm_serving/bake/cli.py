"""``vllm-serving bake SUBCOMMAND``: image-cache, weights-disk, cleanup."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from vllm_serving.errors import UsageError
from vllm_serving.gcp.runtime import Runtime

SUBCOMMANDS = {
    "image-cache": ("vllm_serving.bake.image_cache", "bake container images into a secondary-boot-disk image"),
    "weights-disk": ("vllm_serving.bake.weights_disk", "bake model weights into an image and a pd-ssd per zone"),
    "cleanup": ("vllm_serving.bake.cleanup", "remove what crashed bake runs left behind"),
}


def usage() -> str:
    lines = ["usage: vllm-serving bake SUBCOMMAND [ARGS...]", "", "subcommands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `vllm-serving bake SUBCOMMAND --help` for its options."]
    return "\n".join(lines)


def main(argv: Sequence[str], *, runtime: Runtime | None = None) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        (runtime.stdout.write(usage() + "\n") if runtime else print(usage()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        raise UsageError(f"unknown bake subcommand {name!r}: use one of {', '.join(SUBCOMMANDS)}")
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return module.main(rest, runtime=runtime)
