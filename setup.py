"""Build step: the wheel carries the chart and the local cluster's Go module as package data.

They stay where the repository keeps them (charts/vllm-serving: Argo CD, helm users and the READMEs point
there; hack/cluster) and are copied into vllm_serving/_bundled/ of the build, where vllm_serving.bundle finds
them. An editable install copies nothing: it reads them from the checkout. MANIFEST.in puts them in the sdist.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("charts/vllm-serving", "hack/cluster")  # relative to the repository; vllm_serving.bundle reads them


class BuildPyWithBundle(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for relative in BUNDLED:
            target = Path(self.build_lib, "vllm_serving", "_bundled", relative)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / relative, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithBundle})
