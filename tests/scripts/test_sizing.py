"""vllm_serving.sizing: the memory model against published figures, the built-in table, `vllm-serving size`
and the kv_cache_warning of `validate` and `preflight`."""

from __future__ import annotations

import json

import pytest

from paths import CHART, VALUES_FILES
from vllm_serving import chart as chart_mod
from vllm_serving import sizing
from vllm_serving.cli import run
from vllm_serving.commands import size as size_command
from vllm_serving.verdict import chart_verdict

RULES = chart_mod.rules(CHART)
GIB = sizing.GIB
GEMMA_2B, GEMMA_9B, GEMMA_27B = "google/gemma-2-2b-it", "google/gemma-2-9b-it", "google/gemma-2-27b-it"
GEMMA_7B = "google/gemma-7b-it"
LLAMA_8B, LLAMA_70B = "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"
QWEN_1_5B, QWEN_7B = "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-7B-Instruct"
MISTRAL_7B, MIXTRAL = "mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mixtral-8x7B-Instruct-v0.1"


# The per-dtype element counts the Hub publishes for each quantized checkpoint of the table (its safetensors
# metadata, api/models/<id> `safetensors.parameters`): DeepSeek-R1's as quoted verbatim in public code (V3 has the
# same architecture and layout); gpt-oss's from huggingface/huggingface.js@36ef28de
# packages/hub/src/lib/parse-safetensors-metadata.spec.ts, which reads the checkpoints' safetensors headers at pinned
# revisions and counts each U8 byte of MXFP4 blocks as two values, leaving the U8 scales out ("U8 scales" here).
DEEPSEEK_V3_COUNTS = {"BF16": 3_918_786_560, "F8_E4M3": 680_571_043_840, "F32": 41_555_600}
QUANTIZED_HUB_COUNTS = {
    "deepseek-ai/DeepSeek-V3": DEEPSEEK_V3_COUNTS,
    "deepseek-ai/DeepSeek-R1": DEEPSEEK_V3_COUNTS,
    "openai/gpt-oss-120b": {"BF16": 2_167_371_072, "U8 values": 114_661_785_600, "U8 scales": 3_583_180_800},
    "openai/gpt-oss-20b": {"BF16": 1_804_459_584, "U8 values": 19_110_297_600, "U8 scales": 597_196_800},
}
SAFETENSORS_BYTES = {"BF16": 2, "F8_E4M3": 1, "F32": 4, "U8 values": 0.5, "U8 scales": 1}


def checkpoint_tensors(entry: dict) -> tuple[dict[str, int], dict[str, int]]:
    """Elements by safetensors dtype of every tensor of a quantized checkpoint, recounted from its config numbers
    and quantization_config: those vLLM loads, and those it skips (DeepSeek's multi-token-prediction layers)."""
    hidden, vocab, layers = entry["hidden_size"], entry["vocab_size"], entry["num_hidden_layers"]
    quantization = entry["quantization_config"]
    loaded: dict[str, int] = {}
    skipped: dict[str, int] = {}

    def add(where: dict[str, int], dtype: str, count: int) -> None:
        where[dtype] = where.get(dtype, 0) + count

    if quantization["quant_method"] == "fp8":  # every projection fp8, one float32 scale per weight block
        rows, cols = quantization["weight_block_size"]
        heads, rank, q_rank = entry["num_attention_heads"], entry["kv_lora_rank"], entry["q_lora_rank"]
        rope, nope, value = entry["qk_rope_head_dim"], entry["qk_nope_head_dim"], entry["v_head_dim"]
        experts = entry["n_routed_experts"]

        def linear(where: dict[str, int], out: int, inp: int) -> None:
            add(where, "F8_E4M3", out * inp)
            add(where, "F32", -(-out // rows) * -(-inp // cols))

        def mlp(where: dict[str, int], width: int) -> None:
            linear(where, width, hidden), linear(where, width, hidden), linear(where, hidden, width)

        def layer(where: dict[str, int], index: int) -> None:
            linear(where, q_rank, hidden), linear(where, heads * (nope + rope), q_rank)
            linear(where, rank + rope, hidden), linear(where, heads * (nope + value), rank)
            linear(where, hidden, heads * value)
            add(where, "BF16", 2 * hidden + q_rank + rank)  # the layer's norms, q_a's and kv_a's
            if index < entry["first_k_dense_replace"]:
                mlp(where, entry["intermediate_size"])
                return
            for _ in range(experts + entry["n_shared_experts"]):
                mlp(where, entry["moe_intermediate_size"])
            add(where, "BF16", experts * hidden)  # the router
            add(where, "F32", experts)  # its score-correction bias

        for index in range(layers):
            layer(loaded, index)
        add(loaded, "BF16", 2 * vocab * hidden + hidden)  # embeddings, head, final norm
        for index in range(layers, layers + entry["num_nextn_predict_layers"]):
            layer(skipped, index)
            # its norms (two inputs, the head's), eh_proj, and its own copies of the embeddings and head
            add(skipped, "BF16", 3 * hidden + 2 * hidden * hidden + 2 * vocab * hidden)
    else:  # mxfp4: the experts' projections in 4-bit blocks with one 8-bit scale per 32; modules_to_not_convert bf16
        unconverted = quantization["modules_to_not_convert"]
        assert {"model.layers.*.self_attn", "model.layers.*.mlp.router"} <= set(unconverted)
        assert {"model.embed_tokens", "lm_head"} <= set(unconverted)
        heads, kv_heads, head_dim = entry["num_attention_heads"], entry["num_key_value_heads"], entry["head_dim"]
        experts, width = entry["num_local_experts"], entry["intermediate_size"]
        attention = (heads + 2 * kv_heads) * head_dim * (hidden + 1) + heads * head_dim * hidden + hidden + heads
        values = experts * 3 * width * hidden
        add(loaded, "BF16", layers * (attention + 2 * hidden + experts * (hidden + 1) + experts * (2 * width + hidden)))
        add(loaded, "U8 values", layers * values)
        add(loaded, "U8 scales", layers * values // 32)
        add(loaded, "BF16", 2 * vocab * hidden + hidden)
    return loaded, skipped


def plan_for(model: str, acc: str, dtype: str = "auto", context: int = 8192, concurrency: int = 1) -> sizing.Plan:
    spec = sizing.builtin_model(model)
    assert spec is not None
    return sizing.plan(spec, sizing.accelerator(acc, RULES), sizing.Budget(dtype=dtype), context, concurrency)


def size(argv: list[str]) -> int:
    """`vllm-serving size ARGV` through the CLI's error mapping."""
    return run(size_command.main, argv)


class TestBuiltinTable:
    def test_holds_the_common_models_by_hugging_face_id(self):
        assert set(sizing.builtin_models()) == {
            GEMMA_2B,
            GEMMA_9B,
            GEMMA_27B,
            GEMMA_7B,
            LLAMA_8B,
            LLAMA_70B,
            LLAMA_405B,
            QWEN_1_5B,
            QWEN_7B,
            MISTRAL_7B,
            MIXTRAL,
            "meta-llama/Llama-3.3-70B-Instruct",
            "Qwen/Qwen3-32B",
            "Qwen/Qwen3-30B-A3B",
            "google/gemma-3-27b-it",
            "deepseek-ai/DeepSeek-V3",
            "deepseek-ai/DeepSeek-R1",
            "openai/gpt-oss-120b",
            "openai/gpt-oss-20b",
            "mistralai/Devstral-Small-2505",
        }

    @pytest.mark.parametrize("name", list(sizing.builtin_models()))
    def test_parameter_count_is_reproduced_from_the_config_numbers(self, name):
        # The counts come from the checkpoints; recounting them from layers, widths, heads and vocabulary
        # cross-checks every architecture number in rules.yaml's model table.
        entry = dict(sizing.builtin_models()[name])
        published = entry.pop("parameters")
        assert sizing.estimate_parameters(entry) == published
        if entry.get("parametersFrom") == "config":  # a recount: the model card's total checks the numbers
            assert published == pytest.approx(float(entry["card"]), rel=0.01)

    @pytest.mark.parametrize("name", list(sizing.builtin_models()))
    def test_head_dim_and_heads_are_consistent(self, name):
        entry = sizing.builtin_models()[name]
        assert entry["num_attention_heads"] % entry["num_key_value_heads"] == 0
        assert entry["torch_dtype"] in sizing.WEIGHT_BYTES
        assert isinstance(entry["gated"], bool)

    @pytest.mark.parametrize("name", list(QUANTIZED_HUB_COUNTS))
    def test_quantized_checkpoints_recount_to_the_hubs_tensors_and_their_weight_bytes(self, name):
        """Every tensor recounted from the entry's numbers and quantization_config equals, per dtype, what the Hub
        publishes for the checkpoint; weightBytes is the bytes of those vLLM loads (not DeepSeek's MTP layer)."""
        entry = sizing.builtin_models()[name]
        loaded, skipped = checkpoint_tensors(entry)
        published = QUANTIZED_HUB_COUNTS[name]
        assert {dtype: loaded.get(dtype, 0) + skipped.get(dtype, 0) for dtype in published} == published
        assert entry["weightBytes"] == sum(count * SAFETENSORS_BYTES[dtype] for dtype, count in loaded.items())
        model = sizing.builtin_model(name)
        assert model.dtype == entry["quantization_config"]["quant_method"]
        assert sizing.weight_bytes(model, model.dtype) == entry["weightBytes"]
        assert sizing.checkpoint_gb(model) == entry["weightBytes"] / 1e9

    def test_lookup_ignores_case_and_takes_the_name_after_the_slash(self):
        assert sizing.lookup_builtin("GOOGLE/Gemma-2-9B-IT") == GEMMA_9B
        assert sizing.lookup_builtin("gemma-2-9b-it") == GEMMA_9B
        assert sizing.lookup_builtin("gemma-2-9b") is None

    @pytest.mark.parametrize("acc", list(RULES["accelerators"]))
    def test_machine_shapes_end_at_rules_largest_machine(self, acc):
        shapes = sizing.machines(acc)
        spec = RULES["accelerators"][acc]
        assert [m["gpus"] for m in shapes] == sorted(m["gpus"] for m in shapes)
        assert shapes[-1]["gpus"] == spec["maxPerNode"]
        assert spec["largestMachine"].startswith(shapes[-1]["machineType"])


class TestFormula:
    def test_kv_cache_per_token_is_k_and_v_of_every_layer(self):
        gemma = sizing.builtin_model(GEMMA_9B)
        # 2 (K, V) x 42 layers x 8 KV heads x 256 head_dim x 2 bytes
        assert sizing.kv_bytes_per_token(gemma, 1, "bfloat16") == 2 * 42 * 8 * 256 * 2 == 344064
        assert sizing.kv_bytes_per_token(gemma, 8, "bfloat16") == 344064
        assert sizing.kv_bytes_per_token(gemma, 1, "fp8") == 344064 // 2

    def test_kv_heads_are_copied_when_gpus_outnumber_them(self):
        qwen = sizing.builtin_model(QWEN_1_5B)  # 2 KV heads
        assert sizing.kv_bytes_per_token(qwen, 2, "bfloat16") == 2 * 28 * 2 * 128 * 2
        assert sizing.kv_bytes_per_token(qwen, 4, "bfloat16") == 2 * 28 * 4 * 128 * 2

    def test_weights_are_parameters_times_dtype_width(self):
        gemma = sizing.builtin_model(GEMMA_9B)
        assert sizing.weight_bytes(gemma, "bfloat16") == 9241705984 * 2
        assert sizing.weight_bytes(gemma, "float32") == 9241705984 * 4

    def test_quantized_weights_keep_embeddings_and_output_head_16_bit(self):
        llama = sizing.builtin_model(LLAMA_70B)
        embeddings = 128256 * 8192 * 2  # untied input embeddings and output head
        assert llama.embedding_parameters == embeddings
        assert sizing.weight_bytes(llama, "fp8") == (70553706496 - embeddings) * 1 + embeddings * 2
        assert sizing.weight_bytes(llama, "awq") == (70553706496 - embeddings) * 0.5 + embeddings * 2

    def test_usable_memory_is_utilization_of_the_gpu_minus_overhead(self):
        l4 = sizing.accelerator("nvidia-l4", RULES)
        # of the 22518 MiB CUDA reports on an L4 (rules.yaml cudaMemoryMiB), not its nominal 24 GiB
        assert sizing.Budget().usable(l4) == pytest.approx((22518 / 1024 * 0.92 - 2) * GIB)
        assert sizing.Budget(gpu_memory_utilization=0.95, overhead_gib=1).usable(l4) == pytest.approx(
            19.89 * GIB, abs=0.01 * GIB
        )

    @pytest.mark.parametrize("name", list(RULES["accelerators"]))
    def test_cuda_memory_is_a_little_below_the_nominal_size(self, name):
        # The driver keeps a few percent (an L4: 22518 of 24576 MiB, 8 %; an H100: 81079 of 81920, 1 %): a
        # figure above the nominal size, or far below it, is a typo in rules.yaml.
        spec = RULES["accelerators"][name]
        assert 0.9 * spec["memoryGiB"] * 1024 < spec["cudaMemoryMiB"] < spec["memoryGiB"] * 1024

    def test_float32_checkpoints_are_served_in_16_bits_unless_asked(self):
        model = sizing.builtin_model(GEMMA_2B)
        f32 = sizing.ModelSpec(**{**model.__dict__, "dtype": "float32"})
        assert sizing.Budget().weight_dtype(f32) == "bfloat16"
        assert sizing.Budget(dtype="float32").weight_dtype(f32) == "float32"
        assert sizing.Budget(dtype="float32").kv_dtype(f32) == "float32"

    def test_a_tensor_size_must_divide_the_attention_heads(self):
        qwen = plan_for(QWEN_1_5B, "nvidia-l4")  # 12 heads
        assert [(f.tensor, f.valid) for f in qwen.options] == [(1, True), (2, True), (4, True), (8, False)]
        qwen7 = plan_for(QWEN_7B, "nvidia-l4")  # 28 heads
        assert not qwen7.options[-1].valid

    def test_max_context_is_capped_at_the_models_positions(self):
        fit = plan_for(GEMMA_9B, "nvidia-l4").options[1]
        assert fit.kv_tokens > 8192 and fit.max_context == 8192


# Published deployments, each checked by the arithmetic in its comment. Usable memory per GPU at the
# defaults (vLLM's 0.92 utilization, 2 GiB overhead) of the memory CUDA reports (rules.yaml cudaMemoryMiB):
# L4 22518 MiB = 21.99 GiB x 0.92 - 2 = 18.2 GiB, T4 15095 MiB -> 11.6, A100 40GB 40339 MiB -> 34.2,
# A100 80GB 81158 MiB -> 70.9, H100 81079 MiB -> 70.8, H200 143155 MiB -> 126.6.
# Weights are parameters x 2 bytes in bfloat16.
# fmt: off
PUBLISHED = [
    # GKE's vLLM guide serves Gemma 2 9B IT on one A100 40GB: 9.24B x 2 B = 17.2 GiB of 34.2 GiB leaves
    # 17.0 GiB of KV cache, 6 sequences of 8192 tokens at 2.6 GiB each (GEMMA_ON_L4's arithmetic).
    pytest.param(GEMMA_9B, "nvidia-tesla-a100", "auto", 8192, 1, (1, 1), id="gemma-2-9b-one-a100-40gb"),
    # ... and on two L4s: 17.2 of 18.2 GiB leaves 1.0 GiB, less than one 8192-token sequence (2.6 GiB: the
    # sliding-window layers keep 4095 + 2 x 2048 in flight of its 8192 tokens); split over two, 8.6 GiB each
    # leaves 2 x 9.6 = 19.2 GiB.
    pytest.param(GEMMA_9B, "nvidia-l4", "auto", 8192, 1, (2, 1), id="gemma-2-9b-needs-two-l4"),
    # Llama 3.1 8B fits one L4 in bfloat16 with a modest context: 8.03B x 2 B = 15.0 GiB leaves 3.3 GiB,
    # 26k tokens at 128 KiB per token ...
    pytest.param(LLAMA_8B, "nvidia-l4", "auto", 8192, 1, (1, 1), id="llama-3.1-8b-one-l4"),
    # ... but not its full 131072 tokens (16 GiB): two L4s hold 2 x (18.2 - 7.5) = 21.5 GiB.
    pytest.param(LLAMA_8B, "nvidia-l4", "auto", 131072, 1, (2, 1), id="llama-3.1-8b-full-context-two-l4"),
    # Llama 3.1 70B: 70.55B x 2 B = 131.4 GiB needs two H100s just for the weights, leaving 141.7 - 131.4 =
    # 10.3 GiB of KV cache; 16 sequences of 8192 tokens at 320 KiB need 40 GiB: four H100s (283.4 - 131.4 =
    # 152.0 GiB).
    pytest.param(LLAMA_70B, "nvidia-h100-80gb", "auto", 8192, 16, (4, 1), id="llama-3.1-70b-bf16-four-h100"),
    # fp8 halves the weights (67.7 GiB with 16-bit embeddings) and the GPUs: two H100s leave 74.0 GiB.
    pytest.param(LLAMA_70B, "nvidia-h100-80gb", "fp8", 8192, 16, (2, 1), id="llama-3.1-70b-fp8-two-h100"),
    # The 8 x H100 of deployment guides is for long contexts: 8 sequences of the full 131072 tokens need
    # 320 GiB; four H100s hold 152.0 GiB, eight 566.8 - 131.4 = 435.4 GiB.
    pytest.param(LLAMA_70B, "nvidia-h100-80gb", "auto", 131072, 8, (8, 1), id="llama-3.1-70b-full-context-eight-h100"),
    # On L4s only a whole g2-standard-96 holds 70B: 131.4 GiB / 8 = 16.4 GiB of 18.2 per GPU.
    pytest.param(LLAMA_70B, "nvidia-l4", "auto", 8192, 1, (8, 1), id="llama-3.1-70b-eight-l4"),
    # Llama 3.1 405B, as vLLM's Llama 3.1 announcement (blog.vllm.ai, 2024-07-23) runs it: bfloat16 over
    # several nodes with pipeline parallelism, 405.85B x 2 B = 756 GiB > 8 x 70.8 GiB ...
    pytest.param(LLAMA_405B, "nvidia-h100-80gb", "auto", 8192, 1, (8, 2), id="llama-3.1-405b-bf16-two-h100-nodes"),
    # ... fp8 on one 8 x H100 or 8 x A100 node: 382 GiB (16-bit embeddings) / 8 = 47.7 GiB of 70.8 (A100 70.9) a GPU ...
    pytest.param(LLAMA_405B, "nvidia-h100-80gb", "fp8", 8192, 1, (8, 1), id="llama-3.1-405b-fp8-one-h100-node"),
    pytest.param(LLAMA_405B, "nvidia-a100-80gb", "fp8", 8192, 1, (8, 1), id="llama-3.1-405b-fp8-one-a100-node"),
    # ... and bfloat16 on one 8 x H200 node: 94.5 GiB of 126.6 per GPU.
    pytest.param(LLAMA_405B, "nvidia-h200-141gb", "auto", 8192, 1, (8, 1), id="llama-3.1-405b-bf16-one-h200-node"),
    # L4s: 756 GiB / 18.2 GiB = 41.5 GPUs, six nodes of eight (five would need 756 / 40 = 18.9 GiB a GPU).
    pytest.param(LLAMA_405B, "nvidia-l4", "auto", 8192, 1, (8, 6), id="llama-3.1-405b-six-l4-nodes"),
    # Mixtral 8x7B keeps all experts in memory: 46.7B x 2 B = 87 GiB, two 80 GB GPUs (43.5 GiB each) ...
    pytest.param(MIXTRAL, "nvidia-h100-80gb", "auto", 8192, 1, (2, 1), id="mixtral-8x7b-two-h100"),
    pytest.param(MIXTRAL, "nvidia-a100-80gb", "auto", 8192, 1, (2, 1), id="mixtral-8x7b-two-a100-80gb"),
    # ... or eight L4s: on four, 21.7 GiB per GPU exceeds 18.2.
    pytest.param(MIXTRAL, "nvidia-l4", "auto", 8192, 1, (8, 1), id="mixtral-8x7b-eight-l4"),
    # Gemma 2 27B: 27.2B x 2 B = 50.7 GiB; two L4s would need 25.4 GiB each, four 12.7 GiB of 18.2 ...
    pytest.param(GEMMA_27B, "nvidia-l4", "auto", 8192, 1, (4, 1), id="gemma-2-27b-four-l4"),
    # ... two A100 40GB (25.4 of 34.2 GiB each), or one 80 GB GPU (50.7 of 70.8 GiB).
    pytest.param(GEMMA_27B, "nvidia-tesla-a100", "auto", 8192, 1, (2, 1), id="gemma-2-27b-two-a100-40gb"),
    pytest.param(GEMMA_27B, "nvidia-h100-80gb", "auto", 8192, 1, (1, 1), id="gemma-2-27b-one-h100"),
    # Gemma 2 2B: 4.9 GiB fits a 16 GB T4 (11.6 GiB usable) with 6.7 GiB of KV cache.
    pytest.param(GEMMA_2B, "nvidia-tesla-t4", "auto", 8192, 1, (1, 1), id="gemma-2-2b-one-t4"),
    # Gemma 7B has 16 KV heads of 256: 448 KiB per token. 15.9 GiB of weights leave 2.3 GiB on one L4, less
    # than one 8192-token sequence (3.5 GiB); two L4s hold 2 x (18.2 - 8.0) = 20.5 GiB, five sequences; six
    # (21 GiB) need four.
    pytest.param(GEMMA_7B, "nvidia-l4", "auto", 8192, 1, (2, 1), id="gemma-7b-one-sequence-two-l4"),
    pytest.param(GEMMA_7B, "nvidia-l4", "auto", 8192, 6, (4, 1), id="gemma-7b-six-sequences-four-l4"),
    # Mistral 7B v0.3: 13.5 GiB exceeds a T4's 11.6 usable; two T4s leave 2 x (11.6 - 6.75) = 9.6 GiB, two
    # sequences of 32768 tokens (4 GiB each).
    pytest.param(MISTRAL_7B, "nvidia-tesla-t4", "auto", 32768, 1, (2, 1), id="mistral-7b-two-t4"),
    # Qwen2.5 1.5B, the chart's default model: 2.9 GiB and 28 KiB per token, its 32768 tokens on one L4.
    pytest.param(QWEN_1_5B, "nvidia-l4", "auto", 32768, 1, (1, 1), id="qwen2.5-1.5b-one-l4"),
]
# fmt: on


@pytest.mark.parametrize(("model", "acc", "dtype", "context", "concurrency", "expected"), PUBLISHED)
def test_published_deployments(model, acc, dtype, context, concurrency, expected):
    p = plan_for(model, acc, dtype, context, concurrency)
    assert p.choice is not None
    assert (p.choice.tensor, p.choice.pipeline) == expected


def test_one_l4_gives_llama_8b_a_modest_context():
    fit = plan_for(LLAMA_8B, "nvidia-l4").options[0]  # 3.3 GiB of KV cache at 128 KiB per token: 26k tokens
    assert 16384 < fit.max_context < 32768


def test_a_request_beyond_one_node_but_within_one_sequence_suggests_replicas(capsys):
    # eight L4s: 8 x 18.23 - 14.96 GiB of weights = 130.9 GiB of KV cache, 8 sequences of 131072 x 128 KiB = 16 GiB
    assert size([LLAMA_8B, "--accelerator", "nvidia-l4", "--context", "131072", "--concurrency", "16"]) == 0
    assert capsys.readouterr().out.endswith(
        "recommendation: 16 sequences of 131,072 tokens need 2 nodes of 8 x nvidia-l4 (pipeline 2);"
        " one node (parallelism.tensor: 8) holds 8: serve the rest with more replicas, or lower --concurrency"
        " or --context\n"
    )


LLAMA_CONFIG = {  # meta-llama/Llama-3.1-8B-Instruct's config.json
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rope_scaling": {"factor": 8.0, "rope_type": "llama3"},
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}


def write_config(tmp_path, config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


class TestConfigJson:
    def test_a_config_json_sizes_like_the_table(self, tmp_path):
        spec = sizing.find_model("my-org/my-llama", write_config(tmp_path, LLAMA_CONFIG))
        table = sizing.builtin_model(LLAMA_8B).__dict__
        assert spec == sizing.ModelSpec(**{**table, "name": "my-org/my-llama", "gated": False})

    def test_a_built_in_name_keeps_its_gated_flag(self, tmp_path):
        assert sizing.find_model(LLAMA_8B, write_config(tmp_path, LLAMA_CONFIG)).gated

    def test_mixture_of_experts_counts_every_expert(self, tmp_path):
        config = {k: v for k, v in sizing.builtin_models()[MIXTRAL].items() if k not in ("parameters", "gated")}
        assert sizing.find_model("x/mixtral", write_config(tmp_path, config)).parameters == 46702792704

    def test_multimodal_configs_nest_the_language_model(self, tmp_path):
        config = {"model_type": "llava", "torch_dtype": "bfloat16", "text_config": LLAMA_CONFIG | {"torch_dtype": None}}
        assert sizing.find_model("x/vlm", write_config(tmp_path, config)).parameters == 8030261248

    def test_quantization_config_sets_the_weight_width(self, tmp_path):
        config = LLAMA_CONFIG | {"quantization_config": {"quant_method": "awq", "bits": 4}}
        spec = sizing.find_model("x/llama-awq", write_config(tmp_path, config))
        assert spec.dtype == "awq"
        assert sizing.Budget().weight_dtype(spec) == "awq"

    def test_missing_numbers_are_named(self, tmp_path):
        path = write_config(tmp_path, {k: v for k, v in LLAMA_CONFIG.items() if k != "vocab_size"})
        with pytest.raises(sizing.UsageError) as err:
            sizing.find_model("x/y", path)
        assert str(err.value) == f"{path}: no vocab_size; give the config.json of a decoder-only Hugging Face model"

    def test_latent_attention_without_its_widths_is_refused(self, tmp_path):
        path = write_config(tmp_path, LLAMA_CONFIG | {"kv_lora_rank": 512})
        with pytest.raises(sizing.UsageError) as err:
            sizing.find_model("x/y", path)
        assert str(err.value) == (
            f"{path}: the config has kv_lora_rank (latent attention) but no qk_rope_head_dim, qk_nope_head_dim,"
            " v_head_dim"
        )

    def test_unreadable_files_are_usage_errors(self, tmp_path, capsys):
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        assert size(["x/y", "--accelerator", "nvidia-l4", "--config", str(bad)]) == 2
        assert capsys.readouterr().err.startswith(f"error: --config {bad}: not valid JSON:")
        assert size(["x/y", "--accelerator", "nvidia-l4", "--config", str(tmp_path / "none.json")]) == 2
        assert capsys.readouterr().err == f"error: --config {tmp_path / 'none.json'}: no such file\n"


# Gemma 2 9B IT keeps 8 KiB per token in each of its 42 layers (K and V of 8 heads of 256 in bfloat16): 336 KiB per
# token. Its 21 sliding-window layers keep at most 4096 - 1 + 2 x 2048 = 8191 tokens (an L4's max_num_batched_tokens,
# twice: async scheduling keeps two batches in flight), so an 8192-token sequence takes
# 21 x 8 KiB x 8192 + 21 x 8 KiB x 8191 = 2,818,400,256 B = 2.6 GiB: the window saves one token at this length.
# Usable per GPU: 22518 MiB (what CUDA reports on an L4) x 0.92 - 2 GiB = 20716.56 MiB - 2048 MiB
# = 19,575,403,970 B = 18.23 GiB, less 17.2 GiB of weights (9,241,705,984 x 2 B = 18,483,411,968 B) leaves, over N
# GPUs, 18.23 N - 17.21 GiB: 1.02 GiB on one (no sequence; the longest: 1,091,992,002 B / 344,064 B = 3,173 tokens),
# 19.2 on two (20,667,395,973 B / 2,818,400,256 B = 7.33: 7), 55.7 on four (21), 128.6 on eight (49).
GEMMA_ON_L4 = """\
google/gemma-2-9b-it on nvidia-l4 (24 GB, 22.0 GiB to CUDA): up to 8 per node (g2-standard-96)
weights   17.2 GiB (9.24B parameters in bfloat16)
KV cache  336 KiB per token (bfloat16), 2.6 GiB per 8,192-token sequence (21 sliding-window layers keep only its\
 last 8,191 tokens: window 4,096 - 1 + 4,096 scheduled tokens in flight)
usable    18.2 GiB per GPU (22.0 GiB x 0.92 - 2 GiB overhead)

tensor  weights/GPU   KV cache  max context  sequences at 8,192  fits?
     1     17.2 GiB    1.0 GiB        3,173                   0  no
     2      8.6 GiB   19.2 GiB        8,192                   7  yes
     4      4.3 GiB   55.7 GiB        8,192                  21  yes
     8      2.2 GiB  128.6 GiB        8,192                  49  yes

max context is capped at the model's 8,192 positions

cold start of the 18.5 GB checkpoint by weights.source (`vllm-serving timeline` measures it):
  huggingface     0.05 GB/s: weights 370 s, start 520 s, startup budget 1,040 s
  gcsfuse         0.097 GB/s: weights 191 s, start 341 s, startup budget 682 s
  gcsStream       1.09 GB/s: weights 17 s, start 167 s, startup budget 334 s
  persistentDisk  0.19 GB/s: weights 97 s, start 247 s, startup budget 495 s
  nfs             0.14 GB/s: weights 132 s, start 282 s, startup budget 565 s

recommendation: parallelism.tensor: 2 (2 x nvidia-l4, one g2-standard-24) holds 7 sequences of 8,192 tokens\
 in 19.2 GiB of KV cache; 1 requested
"""


class TestSizeCommand:
    def test_text_table_and_recommendation(self, capsys):
        assert size([GEMMA_9B, "--accelerator", "nvidia-l4"]) == 0
        assert capsys.readouterr().out == GEMMA_ON_L4

    def test_short_names_work(self, capsys):
        assert size(["gemma-2-9b-it", "--accelerator", "nvidia-l4"]) == 0
        assert capsys.readouterr().out == GEMMA_ON_L4

    def test_tensor_sizes_that_do_not_divide_the_heads_are_marked(self, capsys):
        assert size([QWEN_1_5B, "--accelerator", "nvidia-l4"]) == 0
        out = capsys.readouterr().out
        assert "     8            -         -            -                   -  no: heads\n" in out
        assert "no: heads: the tensor size must divide the model's 12 attention heads\n" in out

    def test_json(self, capsys):
        assert size([GEMMA_9B, "--accelerator", "nvidia-l4", "--concurrency", "16", "--output", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["version"] == "1"
        assert report["model"]["name"] == GEMMA_9B
        assert report["model"]["weights_gib"] == 17.21
        assert report["budget"] == {
            "dtype": "bfloat16",
            "kv_cache_dtype": "bfloat16",
            "gpu_memory_utilization": 0.92,
            "overhead_gib": 2.0,
            "usable_gib_per_gpu": 18.23,
        }
        # GEMMA_ON_L4's arithmetic: 0, 7, 21 and 49 sequences of 2,818,400,256 B; 16 need four L4s
        assert [(o["tensor"], o["sequences"], o["fits"]) for o in report["options"]] == [
            (1, 0, False),
            (2, 7, False),
            (4, 21, True),
            (8, 49, True),
        ]
        assert report["recommendation"]["tensor"] == 4 and report["recommendation"]["pipeline"] == 1
        assert report["one_node"] is True
        assert report["options"][0]["kv_per_token"] == 344064
        assert report["options"][0]["kv_per_sequence"] == 21 * 8192 * 8192 + 21 * 8192 * 8191 == 2818400256

    def test_fp8_and_a_lower_utilization(self, capsys):
        argv = [LLAMA_70B, "--accelerator", "nvidia-h100-80gb", "--dtype", "fp8", "--kv-cache-dtype", "fp8"]
        assert size([*argv, "--gpu-memory-utilization", "0.8", "--output", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["budget"]["dtype"] == "fp8" and report["budget"]["kv_cache_dtype"] == "fp8"
        # 81079 MiB (an H100 as CUDA reports it) = 79.18 GiB x 0.8 = 63.34 - 2 GiB overhead
        assert report["budget"]["usable_gib_per_gpu"] == 61.34
        assert report["options"][0]["kv_per_token"] == 2 * 80 * 8 * 128

    def test_a_context_beyond_the_model_is_capped_with_a_note(self, capsys):
        assert size([GEMMA_9B, "--accelerator", "nvidia-l4", "--context", "32768"]) == 0
        captured = capsys.readouterr()
        assert captured.err == (
            "note: --context 32,768 exceeds the 8,192 positions of google/gemma-2-9b-it; sizing for 8,192\n"
        )
        assert "sequences at 8,192" in captured.out

    def test_unknown_accelerator(self, capsys):
        assert size([GEMMA_9B, "--accelerator", "nvidia-a10g"]) == 2
        assert capsys.readouterr().err == (
            "error: unknown accelerator 'nvidia-a10g'; use one of nvidia-tesla-t4, nvidia-l4, nvidia-tesla-a100,"
            " nvidia-a100-80gb, nvidia-h100-80gb, nvidia-h100-mega-80gb, nvidia-h200-141gb, nvidia-b200"
            " (values of the node label cloud.google.com/gke-accelerator)\n"
        )

    def test_a_model_no_node_holds_prints_the_table_and_fails_with_the_node_count(self, capsys):
        assert size([LLAMA_405B, "--accelerator", "nvidia-h100-80gb"]) == 1
        captured = capsys.readouterr()
        assert "     8     94.5 GiB         -            -                   -  no: weights\n" in captured.out
        assert captured.out.endswith(
            "recommendation: 1 sequence of 8,192 tokens needs 2 nodes of 8 x nvidia-h100-80gb (pipeline 2)\n"
        )
        assert captured.err == (
            "error: meta-llama/Llama-3.1-405B-Instruct does not fit on one nvidia-h100-80gb machine"
            " (a3-highgpu-8g): 756.0 GiB of bfloat16 weights and 1 sequence of 8,192 tokens need 2 nodes of"
            " 8 x nvidia-h100-80gb (pipeline 2); one node serves it on nvidia-h200-141gb (parallelism.tensor: 8),"
            " nvidia-b200 (parallelism.tensor: 8)\n"
        )

    def test_json_still_reports_a_model_no_node_holds(self, capsys):
        assert size([LLAMA_405B, "--accelerator", "nvidia-l4", "--output", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["one_node"] is False
        assert (report["recommendation"]["tensor"], report["recommendation"]["pipeline"]) == (8, 6)  # PUBLISHED

    @pytest.mark.parametrize(
        ("option", "message"),
        [
            (["--context", "0"], "--context 0: give a number of tokens, 1 or more"),
            (["--concurrency", "0"], "--concurrency 0: give a number of sequences, 1 or more"),
            (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization 1.5: give a fraction above 0, at most 1"),
            (["--overhead-gib", "-1"], "--overhead-gib -1.0: give 0 or more"),
        ],
    )
    def test_bad_numbers(self, option, message, capsys):
        assert size([GEMMA_9B, "--accelerator", "nvidia-l4", *option]) == 2
        assert capsys.readouterr().err == f"error: {message}\n"


def effective(**overrides):
    return chart_verdict(CHART, values=overrides).values


class TestKvCacheWarning:
    def test_too_little_kv_cache_names_the_value_and_the_fix(self):
        # GEMMA_ON_L4: one L4 leaves 1.0 GiB, an 8192-token sequence takes 2.6 GiB; 3,173 tokens fit, 3072 in
        # steps of 256.
        values = effective(model={"name": GEMMA_9B}, parallelism={"tensor": 1}, vllm={"maxModelLen": 8192})
        assert sizing.kv_cache_warning(values) == (
            "parallelism.tensor: 1 x nvidia-l4 (24 GB, 22.0 GiB to CUDA) leaves 1.0 GiB for the KV cache of"
            " google/gemma-2-9b-it, less than one 8192-token sequence needs (2.6 GiB); use parallelism.tensor: 2,"
            " or lower vllm.maxModelLen to 3072"
        )

    def test_an_unset_max_model_len_is_the_models_maximum(self):
        # 19,575,403,970 B usable (GEMMA_ON_L4) - 8,030,261,248 x 2 B of weights = 3,514,881,474 B of KV cache,
        # 26,816 tokens of 131,072 B: 26624 in steps of 256
        values = effective(model={"name": LLAMA_8B})
        assert sizing.kv_cache_warning(values) == (
            "parallelism.tensor: 1 x nvidia-l4 (24 GB, 22.0 GiB to CUDA) leaves 3.3 GiB for the KV cache of"
            " meta-llama/Llama-3.1-8B-Instruct, less than one 131072-token sequence (the model's maximum:"
            " vllm.maxModelLen is unset) needs (16.0 GiB); use parallelism.tensor: 2, or lower vllm.maxModelLen"
            " to 26624"
        )

    def test_weights_that_do_not_fit(self):
        values = effective(model={"name": LLAMA_70B}, gke={"accelerator": "nvidia-h100-80gb"})
        assert sizing.kv_cache_warning(values) == (
            "parallelism.tensor: 1 x nvidia-h100-80gb (80 GB, 79.2 GiB to CUDA) cannot hold the 131.4 GiB of bfloat16"
            " weights of meta-llama/Llama-3.1-70B-Instruct (131.4 GiB per GPU, 70.8 GiB usable); use"
            " parallelism.tensor: 4"
        )

    def test_weights_that_need_more_nodes(self):
        values = effective(
            model={"name": LLAMA_405B},
            parallelism={"tensor": 8},
            gke={"accelerator": "nvidia-h100-80gb"},
            vllm={"maxModelLen": 8192},
        )
        assert sizing.kv_cache_warning(values) == (
            "parallelism.tensor: 8 x nvidia-h100-80gb (80 GB, 79.2 GiB to CUDA) cannot hold the 756.0 GiB of bfloat16"
            " weights of meta-llama/Llama-3.1-405B-Instruct (94.5 GiB per GPU, 70.8 GiB usable); use"
            " parallelism.tensor: 8, parallelism.pipeline: 2"
        )
        values["parallelism"]["pipeline"] = 2
        assert sizing.kv_cache_warning(values) is None

    def test_quantization_in_extra_args_is_counted(self):
        values = effective(
            model={"name": LLAMA_70B},
            parallelism={"tensor": 2},
            gke={"accelerator": "nvidia-h100-80gb"},
            vllm={"maxModelLen": 65536},
        )
        assert sizing.kv_cache_warning(values) is not None  # 8.6 GiB hold 28k tokens
        values["vllm"]["extraArgs"] = ["--quantization=fp8"]
        assert sizing.kv_cache_warning(values) is None  # 72 GiB hold 236k

    def test_a_tensor_size_vllm_refuses(self):
        values = effective(parallelism={"tensor": 8})
        assert sizing.kv_cache_warning(values) == (
            "parallelism.tensor: 8 does not divide the 12 attention heads of Qwen/Qwen2.5-1.5B-Instruct,"
            " which vLLM requires; use 1, 2 or 4"
        )

    def test_a_max_model_len_beyond_the_model(self):
        values = effective(model={"name": GEMMA_9B}, parallelism={"tensor": 2}, vllm={"maxModelLen": 16384})
        assert sizing.kv_cache_warning(values) == (
            "vllm.maxModelLen: 16384 exceeds the 8192 positions of google/gemma-2-9b-it (max_position_embeddings),"
            " which vLLM refuses; set it to 8192 or less"
        )

    def test_models_outside_the_table_are_not_judged(self):
        assert (
            sizing.kv_cache_warning(
                effective(model={"name": "acme/llm-13b", "weightsGB": 26}, parallelism={"tensor": 1})
            )
            is None
        )

    def test_the_chart_defaults_fit(self):
        assert sizing.kv_cache_warning(effective()) is None

    @pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
    def test_the_repositorys_values_files_fit(self, path):
        assert sizing.kv_cache_warning(chart_verdict(CHART, [path]).values) is None


class TestComputeClassGpus:
    """With a ComputeClass the chart creates, the pod may land on any priority's GPU: each is checked."""

    def test_every_priority_gpu_is_checked(self):
        priorities = [
            {"gpu": {"type": "nvidia-h100-80gb", "count": 8}},
            {"gpu": {"type": "nvidia-l4", "count": 8}},
        ]
        values = effective(
            model={"name": "meta-llama/Llama-3.1-70B-Instruct"},
            parallelism={"tensor": 8},
            gke={"accelerator": "nvidia-h100-80gb", "computeClass": {"create": True, "priorities": priorities}},
        )
        assert sizing.pod_accelerators(values) == [
            ("nvidia-h100-80gb", "gke.computeClass.priorities[0].gpu.type"),
            ("nvidia-l4", "gke.computeClass.priorities[1].gpu.type"),
        ]
        warning = sizing.kv_cache_warning(values)
        assert warning is not None
        assert warning.startswith(
            "gke.computeClass.priorities[1].gpu.type nvidia-l4: parallelism.tensor: 8 x nvidia-l4"
        )
        values["gke"]["computeClass"]["priorities"] = priorities[:1]
        assert sizing.kv_cache_warning(values) is None

    def test_without_a_created_class_gke_accelerator_is_the_gpu(self):
        values = effective(gke={"computeClass": {"name": "team-gpus"}})
        assert sizing.pod_accelerators(values) == [("nvidia-l4", "gke.accelerator")]

    def test_a_node_pools_priority_has_gke_accelerators_gpu(self):
        """A nodepools priority holds nothing else (GKE refuses other fields beside it): its GPU is gke.accelerator."""
        priorities = [{"gpu": {"type": "nvidia-l4", "count": 1}}, {"nodepools": ["a100-x1"]}]
        values = effective(
            gke={"accelerator": "nvidia-tesla-a100", "computeClass": {"create": True, "priorities": priorities}}
        )
        assert sizing.pod_accelerators(values) == [
            ("nvidia-l4", "gke.computeClass.priorities[0].gpu.type"),
            ("nvidia-tesla-a100", "gke.accelerator"),
        ]
