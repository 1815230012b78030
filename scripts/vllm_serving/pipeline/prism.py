"""Beam's Prism runner, built from its Go module at the installed Beam's version, cached, never downloaded.

Beam's PrismRunner (runners/portability/prism_runner.py, 2.77.0) downloads a release zip from GitHub
unless ``--prism_location`` names a binary. This builds that binary instead with
``go install github.com/apache/beam/sdks/v2/go/cmd/prism@v<beam version>`` (the Go module proxy), once,
through ``vllm_serving.gobuild``.
"""

from __future__ import annotations

from importlib.metadata import version

from vllm_serving import extras, gobuild

MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def tool() -> gobuild.GoTool:
    """The Prism binary of the installed Beam (its cache directory is named after that version)."""
    extras.require("pipeline", "pipeline --runner PrismRunner")
    beam = version("apache-beam")
    return gobuild.GoTool("prism", "Beam's Prism runner", ("prism",), packages=(f"{MODULE}@v{beam}",), version=beam)
