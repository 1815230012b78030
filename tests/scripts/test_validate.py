"""`vllm-serving validate`."""

from __future__ import annotations

import json

import pytest

from paths import CHART, VALUES_FILES
from vllm_serving.commands.validate import main


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_valid_files_exit_zero(capsys):
    assert main([str(p) for p in VALUES_FILES]) == 0
    out = capsys.readouterr().out
    assert all(f"{p}: valid" in out for p in VALUES_FILES)


def test_one_invalid_file_fails_the_run_and_lists_every_problem(tmp_path, capsys):
    good = str(VALUES_FILES[0])
    bad = write(tmp_path, "bad.yaml", "parallelism: {tensor: 3}\nterminationGracePeriodSeconds: 5\n")
    assert main([good, bad]) == 1
    out = capsys.readouterr().out
    assert f"{good}: valid" in out
    assert f"{bad}: 2 problem(s)" in out
    assert "  - parallelism.tensor: 3 is not a power of two; use 1, 2, 4 or 8" in out
    assert "  - terminationGracePeriodSeconds: 5 must exceed preStopSleepSeconds (30)" in out


def test_json_output(tmp_path, capsys):
    bad = write(tmp_path, "bad.yaml", "modle: {name: x}\n")
    assert main([bad, "--output", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "version": "1",
        "files": [
            {"file": bad, "problems": ["modle: unknown key; did you mean model?"], "warnings": [], "valid": False}
        ],
    }


def test_suggests_the_nearest_key(tmp_path, capsys):
    bad = write(tmp_path, "bad.yaml", "vllm: {maxModelLength: 4096}\n")
    assert main([bad]) == 1
    assert "vllm.maxModelLength: unknown key; did you mean vllm.maxModelLen?" in capsys.readouterr().out


def test_yaml_null_restores_the_default_like_helm(tmp_path):
    ok = write(tmp_path, "ok.yaml", "vllm: {maxModelLen: null}\n")
    assert main([ok]) == 0


def test_empty_file_is_the_defaults(tmp_path):
    assert main([write(tmp_path, "empty.yaml", "")]) == 0


def test_missing_and_malformed_files_are_usage_errors(tmp_path):
    from vllm_serving.cli import main as cli_main

    assert cli_main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert cli_main(["validate", write(tmp_path, "list.yaml", "- a\n- b\n")]) == 2
    assert cli_main(["validate", write(tmp_path, "broken.yaml", "a: [\n")]) == 2


def test_error_messages_for_files(tmp_path, capsys):
    from vllm_serving.cli import main as cli_main

    cli_main(["validate", write(tmp_path, "list.yaml", "- a\n")])
    assert "list.yaml: a values file must be a mapping of keys, not a list" in capsys.readouterr().err


def test_dates_stay_strings_as_helm_reads_them(tmp_path):
    """Helm reads `directory: 2026-11-21` as a string; so must validate, or the two disagree."""
    path = write(tmp_path, "batch.yaml", "batch: {enabled: true, bucket: my-batch, directory: 2026-11-21}\n")
    assert main([path]) == 0


# One L4 leaves 1.0 GiB (of the 22518 MiB CUDA reports), less than the 2.6 GiB an 8192-token sequence of Gemma 2 9B
# takes even with its sliding window (the arithmetic: test_sizing.py GEMMA_ON_L4); 3,173 tokens fit, 3072 in steps
# of 256.
TIGHT = "model: {name: google/gemma-2-9b-it}\nparallelism: {tensor: 1}\ngke: {accelerator: nvidia-l4}\n"
TIGHT += "vllm: {maxModelLen: 8192}\n"
NO_ROOM = (
    "parallelism.tensor: 1 x nvidia-l4 (24 GB, 22.0 GiB to CUDA) leaves 1.0 GiB for the KV cache of"
    " google/gemma-2-9b-it, less than one 8192-token sequence needs (2.6 GiB); use parallelism.tensor: 2, or lower"
    " vllm.maxModelLen to 3072"
)


def test_a_model_that_cannot_start_is_refused_with_the_override_named(tmp_path, capsys):
    path = write(tmp_path, "tight.yaml", TIGHT)
    assert main([path]) == 1
    assert f"  - {NO_ROOM}; or set validation.modelFit: warn if you know better\n" in capsys.readouterr().out


def test_validation_model_fit_warn_makes_it_a_warning(tmp_path, capsys):
    path = write(tmp_path, "tight.yaml", TIGHT + "validation: {modelFit: warn}\n")
    assert main([path]) == 0
    assert capsys.readouterr().out == f"{path}: valid, 1 warning(s)\n  warning: {NO_ROOM}\n"


def test_a_malformed_list_item_is_explained_by_its_list(tmp_path, capsys):
    path = write(
        tmp_path, "disk.yaml", "weights: {source: persistentDisk, persistentDisk: {disks: [my-project/gemma]}}\n"
    )
    assert main([path]) == 1
    assert (
        "weights.persistentDisk.disks.0: 'my-project/gemma' does not have the expected form; Disks holding the same"
        " weights, one per zone, as projects/P/zones/Z/disks/D." in capsys.readouterr().out
    )


class TestReadAsHelmReadsIt:
    """What Helm (go-yaml v2 under sigs.k8s.io/yaml) reads silently otherwise than written: Helm accepts each
    of these files, so only validate can refuse them, naming the line."""

    def refused(self, tmp_path, capsys, text: str) -> str:
        path = write(tmp_path, "values.yaml", text)
        from vllm_serving import helm

        helm.template(CHART, values_files=[path], show_only=["templates/service.yaml"])  # Helm says nothing
        assert main([path]) == 1
        return capsys.readouterr().out.replace(path, "FILE")

    def test_a_key_given_twice(self, tmp_path, capsys):
        out = self.refused(tmp_path, capsys, "vllm:\n  maxModelLen: 4096\n  dtype: half\n  maxModelLen: 8192\n")
        assert "  - vllm.maxModelLen: given twice in FILE (lines 2 and 4); Helm silently keeps only the last;" in out

    def test_a_second_document(self, tmp_path, capsys):
        out = self.refused(tmp_path, capsys, "vllm: {maxModelLen: 4096}\n---\nvllm: {dtype: half}\n")
        assert "  - FILE: line 3 starts a second YAML document; Helm reads only the first and silently ignores" in out

    def test_a_yaml_11_boolean_key(self, tmp_path, capsys):
        out = self.refused(tmp_path, capsys, "podLabels:\n  team: llm\n  y: axis\n")
        assert (
            '  - podLabels.y: the key y (FILE, line 3) is read by Helm as the boolean true (YAML 1.1); quote it ("y")'
            " if you mean the word" in out
        )

    def test_quoted_words_and_one_leading_separator_are_fine(self, tmp_path):
        assert main([write(tmp_path, "ok.yaml", '---\npodLabels: {"on": "yes-please", "n": "1"}\n')]) == 0

    def test_a_sexagesimal_looking_value_stays_the_string_helm_reads(self, tmp_path, capsys):
        assert main([write(tmp_path, "clock.yaml", "monitoring: {interval: 30:00}\n")]) == 1
        assert "monitoring.interval: '30:00' does not have the expected form; How often to scrape." in (
            capsys.readouterr().out
        )


# Each kind of certain misfit, refused by validate with the override named (the messages' wording is
# test_sizing's concern).
MISFITS = {
    "tensor size not dividing the heads": (
        "model: {name: Qwen/Qwen2.5-7B-Instruct}\nparallelism: {tensor: 8}\n",
        "parallelism.tensor: 8 does not divide the 28 attention heads of Qwen/Qwen2.5-7B-Instruct",
    ),
    "context beyond the model's positions": (
        "model: {name: google/gemma-2-9b-it}\nparallelism: {tensor: 2}\nvllm: {maxModelLen: 16384}\n",
        "vllm.maxModelLen: 16384 exceeds the 8192 positions of google/gemma-2-9b-it",
    ),
    "weights that fit no GPU": (
        "model: {name: meta-llama/Llama-3.1-70B-Instruct}\ngke: {accelerator: nvidia-h100-80gb}\n",
        "parallelism.tensor: 1 x nvidia-h100-80gb (80 GB, 79.2 GiB to CUDA) cannot hold the 131.4 GiB of bfloat16"
        " weights",
    ),
}


@pytest.mark.parametrize("name", MISFITS)
def test_certain_misfits_are_errors(tmp_path, capsys, name):
    text, start = MISFITS[name]
    assert main([write(tmp_path, "misfit.yaml", text)]) == 1
    problem = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  - "))
    assert problem.startswith(f"  - {start}")
    assert problem.endswith("; or set validation.modelFit: warn if you know better")
