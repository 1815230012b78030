"""`vllm-serving size` for any Hub model: config.json and the checkpoint's size read from a loopback stand-in for
the Hugging Face Hub, the architectures people deploy now (grouped-query, sliding-window, latent attention,
mixture of experts, quantized checkpoints), with vLLM's own KV cache code as the oracle.

The configs in model_configs/ are the config.json files of the models named by their file names, written
from the models' Hub pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paths import CHART
from support.hubstub import HubStub
from vllm_serving import chart as chart_mod
from vllm_serving import sizing, vllm_parser
from vllm_serving.cli import run
from vllm_serving.commands import size as size_command

CONFIGS = {
    path.stem.replace("--", "/"): json.loads(path.read_text())
    for path in sorted((Path(__file__).parent / "model_configs").glob("*.json"))
}
RULES = chart_mod.rules(CHART)
# The built-in table's entries of the architectures above (quantized, latent attention, experts, sliding windows
# that transformers fills in), asked of vLLM as they stand in rules.yaml.
TABLE = (
    "deepseek-ai/DeepSeek-V3",
    "openai/gpt-oss-120b",
    "openai/gpt-oss-20b",
    "mistralai/Devstral-Small-2505",
    "google/gemma-2-9b-it",
)
ORACLE = {**CONFIGS, **{f"rules.yaml {name}": RULES["models"][name] for name in TABLE}}
# The checkpoint sizes the stand-in's safetensors indexes announce (metadata.total_size); sizing must take the
# Hub's number as it is, so any value would do, and these are of the models' order.
CHECKPOINT_BYTES = {
    "Qwen/Qwen3-32B": 65_535_000_000,
    "Qwen/Qwen3-30B-A3B": 61_064_000_000,
    "deepseek-ai/DeepSeek-V3": 688_586_000_000,
    "google/gemma-3-27b-it": 54_867_000_000,
    "openai/gpt-oss-120b": 65_249_000_000,
}
# Fine-tunes as the Hub holds them: a repository of their own with the base model's config.json, which no
# built-in table knows (all five base models are in rules.yaml's table, and `size` asks the Hub only
# for what the table lacks).
FINE_TUNES = {
    "acme/qwen3-32b-support": "Qwen/Qwen3-32B",
    "acme/qwen3-30b-a3b-support": "Qwen/Qwen3-30B-A3B",
    "acme/gemma-3-27b-it-support": "google/gemma-3-27b-it",
    "acme/deepseek-v3-support": "deepseek-ai/DeepSeek-V3",
    "acme/gpt-oss-120b-support": "openai/gpt-oss-120b",
}
GATED = {"acme/gemma-3-27b-it-support"}  # its publisher asks for the base model's licence


def repo(config: dict, size: int) -> dict:
    return {"config.json": config, "model.safetensors.index.json": {"metadata": {"total_size": size}}}


def hub_repos() -> dict[str, dict]:
    repos = {name: repo(config, CHECKPOINT_BYTES[name]) for name, config in CONFIGS.items()}
    repos.update({tune: repo(CONFIGS[base], CHECKPOINT_BYTES[base]) for tune, base in FINE_TUNES.items()})
    return repos


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The stand-in Hub, with huggingface_hub pointed at it and a cache of the test's own."""
    from huggingface_hub import constants

    with HubStub(hub_repos(), gated=GATED, token="hf_granted") as stub:
        monkeypatch.setenv("HF_ENDPOINT", stub.url)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_HOME", str(tmp_path))
        monkeypatch.setenv("HF_TOKEN", "hf_granted")
        yield stub


def size(argv: list[str]) -> int:
    return run(size_command.main, argv)


class TestArchitectures:
    def test_grouped_query_attention_keeps_k_and_v_of_each_kv_head(self):
        qwen = sizing.model_from_config("q", CONFIGS["Qwen/Qwen3-32B"], source="t")
        assert qwen.attention_groups == (sizing.AttentionGroup(64, 8, 128),)
        assert sizing.kv_bytes_per_token(qwen, 1, "bfloat16") == 2 * 64 * 8 * 128 * 2

    def test_sliding_window_layers_stop_growing_at_their_window(self):
        gemma = sizing.model_from_config("g", CONFIGS["google/gemma-3-27b-it"], source="t")
        full, sliding = gemma.attention_groups
        assert (full.layers, sliding.layers, sliding.window) == (10, 52, 1024)
        per_layer = 2 * 16 * 128 * 2
        # 32k tokens: the 10 global layers keep all of them, the 52 local ones their window and one step
        assert sizing.kv_sequence_bytes(gemma, 1, "bfloat16", 32768, in_flight=2048) == per_layer * (
            10 * 32768 + 52 * (1024 - 1 + 2048)
        )
        assert sizing.kv_sequence_bytes(gemma, 1, "bfloat16", 512) == per_layer * 62 * 512

    def test_latent_attention_keeps_one_latent_per_token_on_every_gpu(self):
        deepseek = sizing.model_from_config("d", CONFIGS["deepseek-ai/DeepSeek-V3"], source="t")
        assert deepseek.attention_groups == (sizing.AttentionGroup(61, 1, 512 + 64, latent=True),)
        assert sizing.kv_bytes_per_token(deepseek, 8, "bfloat16") == 8 * 61 * 576 * 2

    @pytest.mark.parametrize(
        ("name", "total", "active"),
        [
            # the models' cards: 671B total, 37B activated; 30.5B / 3.3B; 116.8B / 5.1B (its card counts no
            # embeddings among the active ones, this count does: 1.2B of them)
            ("deepseek-ai/DeepSeek-V3", 671.0e9, 37.6e9),
            ("Qwen/Qwen3-30B-A3B", 30.5e9, 3.35e9),
            ("openai/gpt-oss-120b", 116.8e9, 5.7e9),
        ],
    )
    def test_mixture_of_experts_counts_total_and_active_parameters(self, name, total, active):
        model = sizing.model_from_config(name, CONFIGS[name], source="t")
        assert model.parameters == pytest.approx(total, rel=0.01)
        assert model.active_parameters == pytest.approx(active, rel=0.01)

    def test_quantized_checkpoints_are_read_from_their_config(self):
        assert sizing.model_from_config("d", CONFIGS["deepseek-ai/DeepSeek-V3"], source="t").dtype == "fp8"
        assert sizing.model_from_config("o", CONFIGS["openai/gpt-oss-120b"], source="t").dtype == "mxfp4"


@pytest.fixture(scope="module")
def vllm_layouts(request):
    """vLLM 0.33's KV cache layout of each config at tensor sizes 1 and 8 (one question to its child)."""
    version = vllm_parser.pinned_vllm_version(CHART)
    asked = [(name, tensor) for name in ORACLE for tensor in (1, 8)]
    answers = vllm_parser.kv_layouts([(ORACLE[name], tensor) for name, tensor in asked], version)
    return dict(zip(asked, answers, strict=True))


@pytest.mark.vllm_parser
@pytest.mark.parametrize("tensor", [1, 8])
@pytest.mark.parametrize("name", list(ORACLE))
def test_kv_cache_per_token_equals_vllms_kv_cache_specs(name, tensor, vllm_layouts):
    """Per GPU and layer kind: the bytes a token takes in vLLM's KVCacheSpec pages, and which layers keep a
    sliding window, equal sizing's attention groups."""
    layout = vllm_layouts[(name, tensor)]
    model = sizing.model_from_config(name, ORACLE[name], source="t")
    theirs: dict[tuple[int | None, bool], list[int]] = {}
    for layer in layout["layers"]:
        window = layer["window"] if layer["kind"] == "SlidingWindowSpec" else None
        theirs.setdefault((window, layer["kind"] == "MLAAttentionSpec"), []).append(layer["bytes_per_token"])
    ours = {}
    for group in model.attention_groups:
        per_gpu_layer = sizing.kv_bytes_per_token(
            sizing.ModelSpec(**{**model.__dict__, "attention": (group,)}), tensor, "bfloat16"
        )
        ours[(group.window, group.latent)] = [per_gpu_layer // tensor // group.layers] * group.layers
    assert ours == theirs
    assert layout["is_deepseek_mla"] == any(g.latent for g in model.attention_groups)
    assert layout["num_experts"] in (model.experts, 0 if model.experts == 1 else model.experts)


# (accelerator, pipeline stages, window, max_model_len): Gemma 2 on an L4, Gemma 3 on an H100, gpt-oss over two
# H100 nodes, a long context on a B200.
ADMISSION = [
    ("nvidia-l4", 1, 4096, 8192),
    ("nvidia-h100-80gb", 1, 1024, 32768),
    ("nvidia-h100-80gb", 2, 128, 131072),
    ("nvidia-b200", 1, 4096, 131072),
]


@pytest.mark.vllm_parser
def test_sliding_window_layers_keep_what_vllm_admits():
    """The tokens in flight and the tokens a sliding-window layer keeps per sequence, against vLLM's
    VllmConfig.max_in_flight_tokens and SlidingWindowSpec.max_admission_blocks_per_request: the same tokens, which
    vLLM rounds up to 16-token blocks and gives one block more."""
    rules = chart_mod.rules(CHART)
    items, ours = [], []
    for name, pipeline, window, length in ADMISSION:
        acc = sizing.accelerator(name, rules)
        batched = sizing.max_num_batched_tokens(acc)
        item = {"window": window, "max_model_len": length, "max_num_batched_tokens": batched, "pipeline": pipeline}
        items.append(item)
        in_flight = sizing.in_flight_tokens(acc, pipeline)
        kept = min(window - 1 + in_flight, length)
        ours.append({"in_flight": in_flight, "blocks": -(-kept // 16) + 1})
    assert vllm_parser.sliding_window_admission(items, vllm_parser.pinned_vllm_version(CHART)) == ours


class TestFromTheHub:
    def test_a_model_outside_the_table_is_sized_from_its_config_and_checkpoint(self, hub, capsys):
        assert size(["acme/qwen3-32b-support", "--accelerator", "nvidia-h100-80gb", "--output", "json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["model"]["weights_gib"] == round(CHECKPOINT_BYTES["Qwen/Qwen3-32B"] / sizing.GIB, 2)
        assert result["model"]["name"] == "acme/qwen3-32b-support"
        assert result["recommendation"]["tensor"] == 1
        assert ("GET", "/acme/qwen3-32b-support/resolve/main/config.json", "Bearer hf_granted") in hub.requests

    def test_latent_attention_and_experts_on_eight_h200s(self, hub, capsys):
        assert size(["acme/deepseek-v3-support", "--accelerator", "nvidia-h200-141gb"]) == 0
        out = capsys.readouterr().out
        assert f"weights   {sizing.gib(CHECKPOINT_BYTES['deepseek-ai/DeepSeek-V3'])}" in out
        assert "recommendation: parallelism.tensor: 8" in out

    def test_a_gated_model_without_a_granted_token_says_how_to_get_access(self, hub, monkeypatch, capsys):
        monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
        assert size(["acme/gemma-3-27b-it-support", "--accelerator", "nvidia-h100-80gb"]) == 2
        assert capsys.readouterr().err == (
            "error: acme/gemma-3-27b-it-support is gated on the Hugging Face Hub: accept its licence on the model's"
            " page, then set HF_TOKEN to a token of that account (or pass --config with its config.json)\n"
        )

    def test_an_unknown_id_names_the_hub_it_asked(self, hub, capsys):
        assert size(["nobody/no-such-model", "--accelerator", "nvidia-l4"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: nobody/no-such-model: no such model on the Hugging Face Hub ({hub.url})")

    def test_a_url_is_not_a_model_id(self, hub, capsys):
        assert size(["https://huggingface.co/Qwen/Qwen3-32B", "--accelerator", "nvidia-l4"]) == 2
        assert "is not a Hugging Face model id; give organisation/name" in capsys.readouterr().err

    def test_offline_answers_from_the_cache_and_says_when_it_cannot(self, hub, monkeypatch, capsys):
        from huggingface_hub import constants

        assert size(["acme/qwen3-30b-a3b-support", "--accelerator", "nvidia-h100-80gb"]) == 0
        online = capsys.readouterr().out
        asked = len(hub.requests)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert size(["acme/qwen3-30b-a3b-support", "--accelerator", "nvidia-h100-80gb"]) == 0
        assert capsys.readouterr().out == online
        assert len(hub.requests) == asked  # nothing asked of the Hub
        assert size(["acme/gpt-oss-120b-support", "--accelerator", "nvidia-h100-80gb"]) == 2
        assert "HF_HUB_OFFLINE is set and its config.json is not in the Hugging Face cache" in capsys.readouterr().err
