"""vllm_serving.gobuild, the one builder of the Go components: a real `go build` of a scratch module into a
scratch cache, built once however many processes ask at the same time, keyed by the module's sources, a
failed build never taken for a built one, and a clear error when Go is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from vllm_serving import cli, gobuild
from vllm_serving.cluster import build
from vllm_serving.errors import ToolMissing

MAIN = 'package main\n\nimport "fmt"\n\nvar stamp = "unset"\n\nfunc main() { fmt.Println("hello", stamp) }\n'


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VLLM_SERVING_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "hello"
    src.mkdir()
    (src / "go.mod").write_text("module example.local/hello\n\ngo 1.22\n")
    (src / "go.sum").write_text("")
    (src / "main.go").write_text(MAIN)
    return src


def hello(src: Path) -> gobuild.GoTool:
    return gobuild.GoTool("hello", "the hello tool", ("hello",), src=src)


def test_a_tool_is_built_into_the_cache_and_runs(module: Path) -> None:
    tool = hello(module)
    assert not tool.complete
    bin_dir = tool.ensure(progress=lambda _m: None)
    assert bin_dir == module.parent / "cache" / f"hello-{tool.key()}" / "bin"
    ran = subprocess.run([str(bin_dir / "hello")], capture_output=True, text=True, check=True)
    assert ran.stdout == "hello unset\n"
    assert tool.build_info()["go"].startswith("go version go1.")


def test_concurrent_builders_build_once(module: Path) -> None:
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from vllm_serving import gobuild
        tool = gobuild.GoTool("hello", "the hello tool", ("hello",), src=Path({str(module)!r}))
        said = []
        tool.ensure(progress=said.append)
        print("built" if any(m.startswith("building") for m in said) else "waited")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = sorted(p.communicate(timeout=300)[0].strip() for p in procs)
    assert outcomes == ["built", "waited", "waited"]


def test_the_key_follows_pins_and_sources_only(module: Path) -> None:
    tool = hello(module)
    first = tool.key()
    (module / "README.md").write_text("not compiled\n")
    assert tool.key() == first
    (module / "main.go").write_text(MAIN.replace("hello", "hi"))
    assert tool.key() != first
    (module / "main.go").write_text(MAIN)
    assert tool.key() == first
    assert replace(tool, stamps={"main.stamp": "example.local/x"}).key() != first  # built with other flags
    (module / "go.mod").write_text("module example.local/hello\n\ngo 1.23\n")
    assert tool.key() != first


def test_a_failed_build_says_why_and_leaves_nothing_built(module: Path) -> None:
    (module / "main.go").write_text(MAIN.replace("fmt.Println", "fmt.Printx"))
    tool = hello(module)
    with pytest.raises(ToolMissing) as failed:
        tool.ensure(progress=lambda _m: None)
    assert str(failed.value).startswith("building the hello tool failed (exit 1; log ")
    assert "undefined: fmt.Printx" in str(failed.value)
    assert not tool.complete and not tool.bin_dir.exists()


def test_a_missing_module_names_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing) as missing:
        hello(tmp_path / "nowhere").key()
    assert str(missing.value) == (
        f"the hello tool: its Go module is not at {tmp_path / 'nowhere'} (missing go.mod, go.sum); "
        "run from a checkout of the repository, or reinstall the vllm-serving package"
    )


def test_without_go_the_command_names_go_and_the_fix(module: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("GO", raising=False)
    monkeypatch.setenv("PATH", str(module))  # no go here, nor beside this Python in a test venv
    monkeypatch.setattr(sys, "executable", str(module / "python"))
    assert not build.binaries().complete  # a fresh cache: `cluster build` has to build
    assert cli.main(["cluster", "build"]) == 3
    assert capsys.readouterr().err == (
        "error: the local test cluster is built from its Go module and needs Go >= 1.26, which was not found: "
        "install it, or set GO\n"
    )


def test_old_builds_beyond_the_newest_are_pruned(module: Path) -> None:
    cache = module.parent / "cache"
    for n in range(4):
        (cache / f"hello-old{n}" / "bin").mkdir(parents=True)
    (cache / "hellothere-1").mkdir()  # another tool whose name starts alike
    hello(module).ensure(progress=lambda _m: None)
    left = sorted(p.name for p in cache.iterdir() if p.is_dir())
    kept = sorted(p.name for p in cache.glob("hello-*") if p.is_dir())
    assert len(kept) == gobuild.KEEP and f"hello-{hello(module).key()}" in kept
    assert "hellothere-1" in left


def test_a_long_build_says_how_far_along_it_is(module: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """go build -v lists each package it compiles; counted against `go list -deps`, they become progress lines
    (every PROGRESS_EVERY seconds; at once here) instead of one line and minutes of silence."""
    monkeypatch.setattr(gobuild, "PROGRESS_EVERY", 0.0)
    (module / "greet").mkdir()
    # a constant of this run's own: Go's build cache has never compiled this package, so -v lists it
    stamp = uuid.uuid4().hex
    (module / "greet" / "greet.go").write_text(f'package greet\n\nfunc Hello() string {{ return "{stamp}" }}\n')
    (module / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.local/hello/greet"\n)\n\n'
        "func main() { fmt.Println(greet.Hello()) }\n"
    )
    said: list[str] = []
    hello(module).build_into(module.parent / "out", progress=said.append)
    counted = [m for m in said if m.startswith("building the hello tool: ")]
    assert counted, said
    total = int(counted[-1].split("/")[1].split()[0])
    assert total >= 2  # the module's two packages, and the standard library's they import
    assert counted[-1].endswith(" s") and "packages (" in counted[-1]


def test_progress_goes_to_the_sink_the_pytest_plugin_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(gobuild, "_sink", None)
    gobuild.set_sink(shown.append)
    gobuild.build_progress("building something (once)")
    gobuild.set_sink(None)
    assert shown == ["building something (once)"]
