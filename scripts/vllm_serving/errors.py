"""Domain errors of the vllm-serving tooling and the exit code each maps to.

Commands raise these; ``vllm_serving.cli.run`` is the one place that turns them
into a message on stderr and an exit status.
"""

from __future__ import annotations


class VllmServingError(Exception):
    """Base class: a failure the user can act on. The message says what and how to fix it."""

    exit_code = 1


class UsageError(VllmServingError):
    """The command line itself is wrong (unknown file, bad option combination)."""

    exit_code = 2


class InvalidValues(VllmServingError):
    """A values file breaks the chart's schema or its cross-field rules."""

    exit_code = 1

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("values are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


class ToolMissing(VllmServingError):
    """An external program (helm, go, etcd, ...) that the command needs is not installed."""

    exit_code = 3


class MissingExtra(ToolMissing):
    """A command needs an optional part of the package (an extra such as [gcp]) that is not installed."""


class ClusterError(VllmServingError):
    """The local test cluster or a live cluster did not do what was asked."""

    exit_code = 4


class CloudError(VllmServingError):
    """A Google Cloud API call failed or an operation did not finish in time."""

    exit_code = 5
