"""vLLM's own API-key gate, of the pinned release, in front of a small OpenAI app on 127.0.0.1.

    with VllmAuthGate("0.33.0", key="k", models=["m"]) as gate:
        ...  # gate.url; requests to /v1/* need `Authorization: Bearer k`, as on a real vLLM server

It runs ``_vllm_auth_child.py`` in vLLM's parser environment (``vllm_parser.parser_env``), where the
installed vLLM's ``AuthenticationMiddleware`` does the checking: which paths it guards and how it
reads the header are vLLM's, not a copy of them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from vllm_serving.vllm_parser import parser_env

CHILD = Path(__file__).with_name("_vllm_auth_child.py")


class VllmAuthGate:
    def __init__(self, version: str, key: str, models: Sequence[str]):
        self.version, self.key, self.models = version, key, list(models)
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> VllmAuthGate:
        python = parser_env(self.version) / "bin" / "python"
        self._process = subprocess.Popen(
            [str(python), "-I", str(CHILD), *self.models],
            env={**os.environ, "VLLM_API_KEY": self.key},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        port = self._process.stdout.readline().strip()
        if not port.isdigit():
            self.__exit__()
            raise RuntimeError(f"vLLM's API-key gate did not start (printed {port!r})")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
