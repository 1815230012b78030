"""vllm_parser: vLLM's own `vllm serve` parser, of the release the chart pins, accepts and refuses argvs.

The tests marked vllm_parser build the cached parser environment on first use (minutes, once).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paths import CHART
from vllm_serving.commands.check_args import main
from vllm_serving.errors import InvalidValues, ToolMissing
from vllm_serving.vllm_parser import (
    ArgvResult,
    check_argvs,
    parse_argvs,
    parser_env,
    pinned_vllm_version,
    serve_help,
)

MODEL = "google/gemma-2-9b-it"
GOOD = [MODEL, "--tensor-parallel-size", "2", "--max-model-len", "8192", "--gpu-memory-utilization", "0.9",
        "--port", "8000", "--served-model-name", "gemma"]  # fmt: skip

ACCEPTED = {
    "typical": GOOD,
    "human-readable length": [MODEL, "--max-model-len", "8k"],
    # The full spelling of the abbreviation refused below: that refusal is about the prefix alone.
    "full flag name": [MODEL, "--tensor-parallel-size", "2"],
}

# argv -> a part of the message vLLM's parser or validator gives. If one of these is accepted,
# the parser has gone permissive and the chart's argv checks prove nothing.
REJECTED = {
    "unknown flag": ([MODEL, "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    "abbreviated flag": ([MODEL, "--tensor-parallel", "2"], "unrecognized arguments: --tensor-parallel 2"),
    "wrong type": ([MODEL, "--max-model-len", "abc"], "argument --max-model-len: invalid"),
    "invalid choice": ([MODEL, "--dtype", "float7"], "argument --dtype: invalid choice: 'float7'"),
    "model not first": (["--served-model-name", "gemma", MODEL], "`model` should be provided as the first positional"),
    "validator": ([MODEL, "--enable-auto-tool-choice"], "--enable-auto-tool-choice requires --tool-call-parser"),
}


@pytest.fixture(scope="session")
def vllm_version() -> str:
    return pinned_vllm_version(CHART)


@pytest.fixture(scope="session")
def verdicts(vllm_version: str) -> dict[str, ArgvResult]:
    """Every argv of this file, checked in one run of the parser (importing vLLM takes seconds)."""
    cases = {name: argv for name, argv in ACCEPTED.items()} | {name: argv for name, (argv, _) in REJECTED.items()}
    results = check_argvs(vllm_version, list(cases.values()))
    return dict(zip(cases, results, strict=True))


class TestPinnedVersion:
    def test_reads_the_image_tag(self, tmp_path: Path) -> None:
        (tmp_path / "values.yaml").write_text("image:\n  repository: vllm/vllm-openai\n  tag: v0.33.0\n")
        assert pinned_vllm_version(tmp_path) == "0.33.0"

    @pytest.mark.parametrize("tag", ["latest", "v0.33", "0.33.0", "v0.33.0-cu130", ""])
    def test_refuses_a_tag_that_is_not_a_release(self, tmp_path: Path, tag: str) -> None:
        (tmp_path / "values.yaml").write_text(f"image:\n  tag: '{tag}'\n")
        with pytest.raises(InvalidValues, match=r"image\.tag: .* pin one as vX\.Y\.Z"):
            pinned_vllm_version(tmp_path)

    def test_unknown_release_names_the_missing_lock(self, tmp_path: Path) -> None:
        with pytest.raises(ToolMissing, match=r"no parser environment is defined for vLLM 0\.0\.1"):
            parser_env("0.0.1", tmp_path)


@pytest.mark.vllm_parser
class TestVllmParser:
    @pytest.mark.parametrize("name", ACCEPTED)
    def test_accepts(self, verdicts: dict[str, ArgvResult], name: str) -> None:
        result = verdicts[name]
        assert result.ok, f"vLLM refused {result.argv}: {result.error}"
        assert result.error == ""

    @pytest.mark.parametrize("name", REJECTED)
    def test_rejects_with_the_parsers_message(self, verdicts: dict[str, ArgvResult], name: str) -> None:
        result, expected = verdicts[name], REJECTED[name][1]
        assert not result.ok, f"vLLM accepted {result.argv}: its parser has gone permissive"
        assert expected in result.error, result.error

    def test_environment_is_built_once(self, vllm_version: str, verdicts: dict[str, ArgvResult]) -> None:
        env = parser_env(vllm_version)  # built by the verdicts fixture: found, not rebuilt
        assert (env / "vllm-serving-parser.json").is_file()
        assert env.name == f"vllm-parser-{vllm_version}"

    def test_help_is_vllms_own(self, vllm_version: str, verdicts: dict[str, ArgvResult]) -> None:
        text = serve_help(vllm_version)
        assert text.startswith("usage: vllm serve [model_tag] [options]")
        assert "--max-model-len" in text

    def test_cli(self, vllm_version: str, verdicts: dict[str, ArgvResult], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--vllm-version", vllm_version, "--", MODEL, "--no-such-flag"]) == 1
        out = capsys.readouterr().out
        assert f"rejected by vLLM {vllm_version}: {MODEL} --no-such-flag" in out
        assert "unrecognized arguments: --no-such-flag" in out
        assert main(["--vllm-version", vllm_version, "--output", "json", "--", MODEL, "--max-model-len", "2048"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report == {
            "version": "1",
            "vllm_version": vllm_version,
            "argv": [MODEL, "--max-model-len", "2048"],
            "ok": True,
            "error": "",
        }


@pytest.mark.vllm_parser
def test_the_charts_vllm_defaults_are_vllms_own(vllm_version: str) -> None:
    """vllm.gpuMemoryUtilization null passes no flag, so vLLM budgets with its own default (EngineArgs takes
    CacheConfig.gpu_memory_utilization, vllm/config/cache.py): rules.yaml's vllmDefaults, which sizing, validate,
    size, values new and perf budget with and the chart's warning quotes, is what `vllm serve` reads without it."""
    import yaml

    from vllm_serving import sizing

    (parsed,) = parse_argvs(vllm_version, [[MODEL]], ["gpu_memory_utilization"])
    vllms = parsed["values"]["gpu_memory_utilization"]
    assert yaml.safe_load((CHART / "rules.yaml").read_text())["vllmDefaults"] == {"gpuMemoryUtilization": vllms}
    assert vllms == sizing.DEFAULT_GPU_MEMORY_UTILIZATION


@pytest.mark.vllm_parser
def test_the_charts_vllm_enumerations_are_vllms_own(vllm_version: str) -> None:
    """The chart refuses a dtype or load format vLLM does not know (the schema's vllm.dtype enum, rules.yaml's
    loadFormats): both lists are vLLM's, of the release the chart pins. --dtype's choices come from its parser;
    --load-format has none there (plugins may register loaders), so its formats come from vLLM's source:
    LoadFormats and the loader table in vllm/model_executor/model_loader/__init__.py."""
    import ast
    import json
    import re

    import yaml

    choices = re.search(r"--dtype \{([^}]*)\}", serve_help(vllm_version)).group(1).split(",")
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert sorted(schema["properties"]["vllm"]["properties"]["dtype"]["enum"]) == sorted(["", *choices])

    (source,) = parser_env(vllm_version).glob("lib/python*/site-packages/vllm/model_executor/model_loader/__init__.py")
    tree = ast.parse(source.read_text())
    literal = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "LoadFormats")
    loaders = next(
        n.value for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id == "_LOAD_FORMAT_TO_MODEL_LOADER"
    )
    formats = sorted(ast.literal_eval(element) for element in literal.slice.elts)
    assert formats == sorted(ast.literal_eval(key) for key in loaders.keys)
    assert yaml.safe_load((CHART / "rules.yaml").read_text())["loadFormats"] == formats
