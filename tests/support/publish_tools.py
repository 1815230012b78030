"""The publishing tools of hack/tools/go.mod's `tool` block, chart-testing's ct and the CNCF distribution
registry, built once through vllm_serving.gobuild (used by .ci/run's ct lint and tests marked publish).

    PYTHONPATH=tests .venv/bin/python -m support.publish_tools    # prints <cache>/tools-<hash>/bin
"""

from __future__ import annotations

from pathlib import Path

from vllm_serving import gobuild

CT = "github.com/helm/chart-testing/v3"
TOOLS = gobuild.GoTool(
    "tools",
    "ct and registry (hack/tools)",
    ("ct", "registry"),
    src=Path(__file__).resolve().parents[2] / "hack" / "tools",
    packages=("tool",),  # every package of go.mod's tool block
    stamps={f"{CT}/ct/cmd.Version": CT},  # `ct version` (a module build has no release stamp)
)

if __name__ == "__main__":
    print(TOOLS.ensure())
