"""The benchmark scripts stay runnable: CI lints them (.ci/run) and this imports each one, so a module they use
that moves or goes away fails here rather than when someone next measures (a benchmark once imported a module
that had moved out of the package, and nothing noticed)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from paths import REPO

BENCHMARKS = sorted((REPO / "benchmarks").rglob("*.py"))

# Scripts that run only on a lent GPU machine, with the module they need there that the test environment lacks.
GPU_ONLY = {"benchmarks/sizing/ceilings.py": "torch"}


def load(path):
    name = "benchmark_" + "_".join(path.relative_to(REPO / "benchmarks").with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # the scripts run only under `if __name__ == "__main__"`
    finally:
        sys.path[:] = saved  # some put tests/ on the path, as they must when run on their own
        del sys.modules[name]
    return module


def test_there_are_benchmarks_to_check():
    assert len(BENCHMARKS) >= 5
    assert set(GPU_ONLY) <= {str(p.relative_to(REPO)) for p in BENCHMARKS}


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: str(p.relative_to(REPO)))
def test_benchmark_imports(path):
    where = str(path.relative_to(REPO))
    if where in GPU_ONLY:
        with pytest.raises(ModuleNotFoundError) as missing:
            load(path)
        assert missing.value.name == GPU_ONLY[where], f"{where} failed on something other than its GPU-only module"
        return
    module = load(path)
    assert callable(getattr(module, "main", None)), f"{where} has no main()"
