"""Run by the vLLM parser environment's Python: vLLM's own get_adapter_absolute_path on adapter paths.

    python -I _vllm_lora_child.py PATH [PATH ...]     (one JSON line per path: {"path": ...} or {"error": ...})

The function is taken from the installed vLLM's vllm/lora/utils.py and run with the module's own imports
of what it uses (vllm.envs, vLLM's Hub client, huggingface_hub's errors, vLLM's logger), read from that
file: the rest of the module (torch, the LoRA layers) is not imported. The Hugging Face environment
(HF_HUB_OFFLINE, HF_HOME, HF_TOKEN, HF_ENDPOINT) is the caller's, as huggingface_hub reads it at import.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import types
from pathlib import Path


def vllm_function(module: str, name: str):
    spec = importlib.util.find_spec("vllm")  # finds the package without running its __init__ (torch)
    assert spec is not None and spec.submodule_search_locations, "vLLM is not installed here"
    root = Path(next(iter(spec.submodule_search_locations)))
    package = types.ModuleType("vllm")
    package.__path__ = [str(root)]
    sys.modules["vllm"] = package
    path = root / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(), str(path))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    # The module's top-level imports and assignments the function needs, and what those need in turn.
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    while True:
        needed = [
            n
            for n in tree.body
            if (
                isinstance(n, (ast.Import, ast.ImportFrom))
                and {(a.asname or a.name).split(".")[0] for a in n.names} & used
            )
            or (isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in used for t in n.targets))
        ]
        more = used | {x.id for n in needed for x in ast.walk(n) if isinstance(x, ast.Name)}
        if more == used:
            break
        used = more
    namespace: dict = {"__name__": f"vllm.{module}"}
    exec(compile(ast.Module(body=[*needed, function], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def main() -> None:
    resolve = vllm_function("lora.utils", "get_adapter_absolute_path")
    for lora_path in sys.argv[1:]:
        try:
            print(json.dumps({"path": resolve(lora_path)}), flush=True)
        except Exception as err:  # what vLLM's LoRA loader would get
            print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)


if __name__ == "__main__":
    main()
