"""Commands are found under their own names (pip's layout: vllm_serving/commands/<command>.py, each a
``main(argv) -> int``), and the libraries under them do not reach sideways: no command module imports
another, and no library imports a command module (grimp's graph, lazy imports inside functions included)."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import grimp

from paths import REPO
from vllm_serving import cli, commands

COMMANDS = "vllm_serving.commands"


def graph() -> grimp.ImportGraph:
    return grimp.build_graph("vllm_serving", exclude_type_checking_imports=True)


def boundary_violations(graph: grimp.ImportGraph) -> list[str]:
    """One line per import that crosses a command's boundary, naming the importer, line and statement."""
    found = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if not imported.startswith(COMMANDS + "."):
                continue
            if module.startswith(COMMANDS + "."):
                why = "a command module imports another command module"
            elif module not in ("vllm_serving.cli", COMMANDS):
                why = "a library imports a command module"
            else:
                continue
            for detail in graph.get_import_details(importer=module, imported=imported):
                found.append(f"{module}:{detail['line_number']} `{detail['line_contents']}`: {why}")
    return found


def test_no_command_imports_another_and_no_library_imports_a_command():
    assert boundary_violations(graph()) == [], "move what both need into a library (as gcp/options.py, endpoint.py)"


def test_a_planted_sideways_import_is_named():
    planted = graph()
    planted.add_import(
        importer="vllm_serving.commands.nodepool",
        imported="vllm_serving.commands.bake",
        line_number=3,
        line_contents="from vllm_serving.commands.bake import Parser",
    )
    planted.add_import(
        importer="vllm_serving.sizing",
        imported="vllm_serving.commands.size",
        line_number=7,
        line_contents="from vllm_serving.commands import size",
    )
    assert boundary_violations(planted) == [
        "vllm_serving.commands.nodepool:3 `from vllm_serving.commands.bake import Parser`: "
        "a command module imports another command module",
        "vllm_serving.sizing:7 `from vllm_serving.commands import size`: a library imports a command module",
    ]


def test_every_command_is_the_module_named_like_it_and_every_command_module_a_command():
    modules = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    assert modules == {name.replace("-", "_") for name in cli.COMMANDS}
    for name in cli.COMMANDS:  # read, not imported: importing bake or nodepool loads the Google Cloud clients
        source = Path(importlib.util.find_spec(cli.module_of(name)).origin).read_text()
        assert "main" in {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}, name


def test_validate_loads_neither_the_kubernetes_nor_the_google_cloud_clients():
    # cli.py imports commands lazily; a library import at a command module's top would load them for everyone
    code = (
        "import sys; from vllm_serving import cli; "
        f"assert cli.main(['validate', {str(REPO / 'values' / 'gemma-2-9b-it-l4.yaml')!r}]) == 0; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'apache_beam', 'locust')"
        " or m.startswith('google.cloud.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
