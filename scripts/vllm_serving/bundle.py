"""Files the package carries beside its code: the chart and the local cluster's Go module.

An installed wheel has them under vllm_serving/_bundled/ (setup.py copies them in at build time); an
editable install reads them from the checkout, at the paths the repository keeps them.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "_bundled"
CHECKOUT = _PACKAGE.parents[1]  # scripts/vllm_serving -> the repository, in an editable install


def path(relative: str) -> Path:
    """Where ``relative`` (a repository path such as ``charts/vllm-serving``) is for this install."""
    for root in (BUNDLED, CHECKOUT):
        if (root / relative).exists():
            return root / relative
    return BUNDLED / relative  # missing everywhere: callers name this path in their error


def chart() -> Path:
    return path("charts/vllm-serving")


def cluster_module() -> Path:
    return path("hack/cluster")
