"""`vllm-serving size`: how a model fits an accelerator's memory, and on how many GPUs.

The memory model, per GPU, follows how vLLM allocates memory when it starts:

    usable      = cudaMemoryMiB x gpu_memory_utilization - overhead
    weights     = parameters x bytes(dtype), split evenly over tensor x pipeline GPUs
    KV cache    = (usable - weights per GPU) x GPUs
    KV / token  = 2 (K and V) x layers x KV heads x head_dim x bytes(KV cache dtype)
    max context = KV cache / (KV / token), capped at the model's max_position_embeddings
    sequences   = KV cache / (context x KV / token)

cudaMemoryMiB, memoryGiB, maxPerNode and largestMachine, the model table and the dtype widths come from the chart's
rules.yaml (which the chart reads too, for the startup budget); model configs also from a config.json
(--config), or the Hugging Face Hub by id (hub.py), where the weights are the checkpoint's own bytes, as they
are for the table's quantized checkpoints (weightBytes).
The assumptions, each erring towards "does not fit":

- overhead (default 2 GiB per GPU) stands for what vLLM holds besides weights and KV cache: the
  activation peak of its profiling run, CUDA graphs, NCCL buffers and the CUDA context.
- cudaMemoryMiB is the GPU's memory as CUDA reports it, what vLLM multiplies by gpu_memory_utilization
  (an L4: 22518 MiB, 22.0 GiB, not its nominal 24); rules.yaml cites where each figure comes from.
- Quantized dtypes (fp8, int8: 1 byte; int4, awq, gptq: 0.5; mxfp4: 4.25 bits) apply to every
  parameter but the embeddings and output head, which stay 16-bit; quantization scales are not counted.
  A checkpoint read from the Hub and served as stored is its own size instead.
- dtype auto is the checkpoint's torch_dtype, except float32, which vLLM serves in 16 bits. The KV
  cache has the serving dtype's width (4 bytes under float32, else 2) unless --kv-cache-dtype fp8.
- The KV cache follows vLLM's KVCacheSpecs (vllm/v1/kv_cache_interface.py): K and V per KV head on
  full-attention layers; multi-head latent attention (DeepSeek) keeps one latent vector
  (kv_lora_rank + qk_rope_head_dim) per token on every GPU; sliding-window layers (layer_types, or
  Gemma 2/3's pattern) keep at most their window plus one step's max_num_batched_tokens (vLLM's
  default for the GPU). Mixture-of-experts models hold every expert; active_parameters counts the
  ones a token passes through (for speed, not memory).
- A tensor size must divide the attention heads (vLLM refuses it otherwise). With more GPUs than KV
  heads each GPU keeps a copy of one KV head, so the KV cache per token grows with the tensor size.
- Pipeline parallelism (one stage per node) splits the layers evenly. vLLM's paged KV cache admits
  more sequences when they are shorter than the context: the counts here are for full-length ones.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options
from vllm_serving.errors import UsageError

GIB = 1024**3
# vLLM's own default for --gpu-memory-utilization (when vllm.gpuMemoryUtilization is null): rules.yaml's, which
# the chart's warning quotes too.
DEFAULT_GPU_MEMORY_UTILIZATION: float = chart_mod.rules(chart_mod.chart_dir())["vllmDefaults"]["gpuMemoryUtilization"]
DEFAULT_OVERHEAD_GIB = 2.0
DEFAULT_CONTEXT = 8192  # or the model's maximum when that is shorter
MAX_NODES = 32  # values.schema.json's maximum of parallelism.pipeline when this was written
# GPUs per pod the chart accepts: rules.yaml's tensorSizes, which the chart's rule and schema read too.
TENSOR_SIZES = tuple(int(n) for n in chart_mod.rules(chart_mod.chart_dir())["tensorSizes"])

# Bytes per parameter of each dtype: rules.yaml's dtypeBytes, the table the chart's budget reads too.
WEIGHT_BYTES: dict[str, float] = chart_mod.rules(chart_mod.chart_dir())["dtypeBytes"]
QUANTIZED = ("fp8", "int8", "int4", "awq", "gptq", "mxfp4")
DTYPES = ("auto", *WEIGHT_BYTES)
KV_CACHE_DTYPES = ("auto", "fp8")
# The chart's vllm.dtype words (vLLM's --dtype choices) in the names above.
_DTYPE_WORDS = {"": "auto", "auto": "auto", "half": "float16", "float": "float32"}


def builtin_models() -> dict[str, dict[str, Any]]:
    """rules.yaml's models (the chart's table), keyed by Hugging Face id."""
    return chart_mod.rules(chart_mod.chart_dir())["models"]


def machines(accelerator: str) -> list[dict[str, Any]]:
    """rules.yaml's machine shapes for one accelerator, fewest GPUs first (none if it lists none)."""
    return chart_mod.rules(chart_mod.chart_dir())["machines"].get(accelerator, [])


def machine_for(accelerator: str, gpus: int) -> dict[str, Any] | None:
    """The smallest machine with at least `gpus` GPUs of the accelerator."""
    return next((m for m in machines(accelerator) if m["gpus"] >= gpus), None)


# --- models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionGroup:
    """Layers that keep the same KV cache per token (vLLM gives each kind its own KVCacheSpec)."""

    layers: int
    kv_heads: int  # over all GPUs; a latent (MLA) group keeps one latent vector per token instead
    head_dim: int  # MLA: kv_lora_rank + qk_rope_head_dim, the latent's width
    window: int | None = None  # sliding-window layers attend to (and keep) only the last `window` tokens
    latent: bool = False  # multi-head latent attention: no separate V, and every GPU keeps the whole latent


@dataclass(frozen=True)
class ModelSpec:
    """What sizing needs to know of a model."""

    name: str
    parameters: int
    embedding_parameters: int  # embeddings and output head: kept 16-bit when the rest is quantized
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int  # max_position_embeddings
    dtype: str  # the checkpoint's: torch_dtype, or its quantization
    gated: bool = False
    attention: tuple[AttentionGroup, ...] = ()  # empty: every layer full attention of kv_heads x head_dim
    experts: int = 1  # routed experts of a mixture-of-experts layer
    experts_per_token: int = 1
    active_parameters: int | None = None  # parameters one token passes through (MoE: the chosen experts)
    moe_layers: int = 0  # layers whose MLP is a mixture of experts (DeepSeek keeps its first few dense)
    checkpoint_bytes: int | None = None  # the tensors vLLM loads: the Hub's index total, or rules.yaml's weightBytes

    @property
    def attention_groups(self) -> tuple[AttentionGroup, ...]:
        return self.attention or (AttentionGroup(self.layers, self.kv_heads, self.head_dim),)


def lookup_builtin(name: str) -> str | None:
    """The table's key for a Hugging Face id, matched without case, or for its part after the '/'."""
    table = builtin_models()
    wanted = name.lower()
    for key in table:
        if wanted in (key.lower(), key.split("/")[-1].lower()):
            return key
    return None


_REQUIRED = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "max_position_embeddings")


def estimate_parameters(config: dict[str, Any], *, active: bool = False) -> int:
    """Parameters of a decoder with a gated MLP (Llama, Mistral, Mixtral, Qwen, Gemma, DeepSeek), from its
    config; with active=True, those one token passes through (a mixture of experts runs only the
    num_experts_per_tok experts its router picks, plus any shared ones).

    Exact for the built-in models; a few norms or biases off for others. A checkpoint read from the Hub is
    sized by its own bytes instead (hub.py).
    """
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    attention = _attention_parameters(config)
    experts = _experts(config)
    if "intermediate_size" not in config and "moe_intermediate_size" not in config:
        raise UsageError("the config has no intermediate_size to count the parameters from")
    dense_mlp = 3 * hidden * config.get("intermediate_size", 0)
    moe_layers = _moe_layers(config)
    if experts > 1:
        width = config.get("moe_intermediate_size") or config["intermediate_size"]
        routed = (config.get("num_experts_per_tok") or experts) if active else experts
        shared = config.get("n_shared_experts") or 0
        moe_mlp = (routed + shared) * 3 * hidden * width + hidden * experts  # the experts and the router
        if config.get("model_type") == "gpt_oss":  # biases of each expert's two projections, and the router's
            moe_mlp += routed * (2 * width + hidden) + experts
        if config.get("topk_method") == "noaux_tc":  # DeepSeek V3's router keeps a bias per expert
            moe_mlp += experts
    else:
        moe_mlp = 0
    mlp = moe_layers * moe_mlp + (layers - moe_layers) * dense_mlp
    norms = 4 if config.get("model_type") in ("gemma2", "gemma3", "gemma3_text") else 2
    return layers * (attention + norms * hidden) + mlp + hidden + _embedding_parameters(config)


def _attention_parameters(config: dict[str, Any]) -> int:
    """One layer's attention projections: grouped-query (q, k, v, o), or DeepSeek's latent attention."""
    hidden = config["hidden_size"]
    heads, kv_heads, head_dim = _heads(config)
    if config.get("kv_lora_rank"):
        missing = [k for k in ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim") if k not in config]
        if missing:
            raise UsageError(f"the config has kv_lora_rank (latent attention) but no {', '.join(missing)}")
        rank, rope, nope = config["kv_lora_rank"], config["qk_rope_head_dim"], config["qk_nope_head_dim"]
        value, q_rank = config["v_head_dim"], config.get("q_lora_rank")
        q = hidden * q_rank + q_rank + q_rank * heads * (nope + rope) if q_rank else hidden * heads * (nope + rope)
        kv = hidden * (rank + rope) + rank + rank * heads * (nope + value)
        return q + kv + heads * value * hidden
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim  # q and o, k and v
    if config.get("model_type") == "qwen2" or config.get("attention_bias"):
        attention += (heads + 2 * kv_heads) * head_dim  # q, k and v biases
    if config.get("model_type") == "gpt_oss":
        attention += hidden + heads  # o's bias, and one attention sink per head
    return attention


def _heads(config: dict[str, Any]) -> tuple[int, int, int]:
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    return heads, kv_heads, head_dim


def _embedding_parameters(config: dict[str, Any]) -> int:
    tied = config.get("tie_word_embeddings", True)  # transformers' default
    return config["vocab_size"] * config["hidden_size"] * (1 if tied else 2)


def _config_dtype(config: dict[str, Any], source: str) -> str:
    quantization = config.get("quantization_config") or {}
    method = str(quantization.get("quant_method", "")).lower()
    if method in ("fp8", "mxfp4"):
        return method
    if method in ("awq", "gptq"):
        return method if quantization.get("bits", 4) == 4 else "int8"
    dtype = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
    if dtype not in WEIGHT_BYTES:
        raise UsageError(f"{source}: torch_dtype {dtype!r} is not one of {', '.join(WEIGHT_BYTES)}; pass --dtype")
    return dtype


def model_from_config(
    name: str, config: dict[str, Any], *, source: str, gated: bool = False, checkpoint_bytes: int | None = None
) -> ModelSpec:
    """A ModelSpec from a config.json mapping (or a rules.yaml models entry, which adds `parameters`, and for a
    quantized checkpoint `weightBytes`: the bytes vLLM loads, which a Hub checkpoint's index gives instead)."""
    text = {**config, **(config.get("text_config") or {})}  # multimodal configs nest the language model
    missing = [key for key in _REQUIRED if key not in text]
    if missing:
        raise UsageError(
            f"{source}: no {', '.join(missing)}; give the config.json of a decoder-only Hugging Face model"
        )
    try:
        parameters = text.get("parameters") or estimate_parameters(text)
    except UsageError as err:
        raise UsageError(f"{source}: {err}") from None
    heads, kv_heads, head_dim = _heads(text)
    experts = _experts(text)
    return ModelSpec(
        name=name,
        parameters=parameters,
        embedding_parameters=_embedding_parameters(text),
        layers=text["num_hidden_layers"],
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        max_context=text["max_position_embeddings"],
        dtype=_config_dtype(text, source),
        gated=gated or bool(text.get("gated")),
        attention=attention_groups(text),
        experts=experts,
        experts_per_token=text.get("num_experts_per_tok") or text.get("experts_per_token") or 1,
        active_parameters=estimate_parameters(text, active=True) if experts > 1 else None,
        moe_layers=_moe_layers(text),
        checkpoint_bytes=checkpoint_bytes or text.get("weightBytes"),
    )


def _moe_layers(config: dict[str, Any]) -> int:
    """Layers whose MLP is a mixture of experts: all of a MoE model's but DeepSeek's first_k_dense_replace."""
    if _experts(config) == 1:
        return 0
    return config["num_hidden_layers"] - (config.get("first_k_dense_replace") or 0)


def _experts(config: dict[str, Any]) -> int:
    return config.get("n_routed_experts") or config.get("num_local_experts") or config.get("num_experts") or 1


# Layer kinds of the families whose config.json may leave `layer_types` out, as transformers' config classes
# fill it in (Gemma 2 and gpt-oss: every other layer local, the first sliding; Gemma 3: five local layers, then
# one global).
def _default_layer_types(config: dict[str, Any]) -> list[str] | None:
    layers, kind = config["num_hidden_layers"], config.get("model_type")
    if kind in ("gemma2", "gpt_oss"):
        return ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    if kind in ("gemma3", "gemma3_text"):
        pattern = config.get("sliding_window_pattern", 6)
        return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    return None


def attention_groups(config: dict[str, Any]) -> tuple[AttentionGroup, ...]:
    """The KV cache layout of a decoder config: multi-head latent attention (kv_lora_rank), sliding-window
    layers (layer_types, or a window on every layer where the config turns it on), else full attention."""
    layers = config["num_hidden_layers"]
    if config.get("kv_lora_rank"):
        width = config["kv_lora_rank"] + config.get("qk_rope_head_dim", 0)
        return (AttentionGroup(layers, 1, width, latent=True),)
    _, kv_heads, head_dim = _heads(config)
    window = config.get("sliding_window")
    kinds = config.get("layer_types") or _default_layer_types(config)
    if window and kinds:
        sliding = sum(kind == "sliding_attention" for kind in kinds)
        groups = [
            AttentionGroup(layers - sliding, kv_heads, head_dim),
            AttentionGroup(sliding, kv_heads, head_dim, window),
        ]
        return tuple(g for g in groups if g.layers)
    if window and config.get("use_sliding_window", True) and config.get("model_type") in ("mistral", "mixtral"):
        return (AttentionGroup(layers, kv_heads, head_dim, window),)
    return (AttentionGroup(layers, kv_heads, head_dim),)


def builtin_model(name: str) -> ModelSpec | None:
    key = lookup_builtin(name)
    if key is None:
        return None
    return model_from_config(key, builtin_models()[key], source=f"rules.yaml: models: {key}")


def find_model(name: str, config_path: str | Path | None = None) -> ModelSpec:
    """The model named on the command line: from --config if given, else the built-in table, else its
    config.json and checkpoint size from the Hugging Face Hub (hub.py: HF_TOKEN, the Hub's cache, offline)."""
    if config_path is None:
        spec = builtin_model(name)
        if spec is not None:
            return spec
        from vllm_serving import hub

        found = hub.fetch(name)
        return model_from_config(
            name,
            found.config,
            source=f"{name} (Hugging Face Hub)",
            gated=found.gated,
            checkpoint_bytes=found.checkpoint_bytes,
        )
    path = Path(config_path)
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"--config {path}: not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise UsageError(f"--config {path}: a config.json holds a JSON object")
    key = lookup_builtin(name)
    gated = bool(key and builtin_models()[key].get("gated"))
    return model_from_config(key or name, config, source=str(path), gated=gated)


# --- accelerators and budget --------------------------------------------------------------------


@dataclass(frozen=True)
class Accelerator:
    name: str
    memory_gib: float  # the card's nominal size, for messages and vLLM's batch defaults
    cuda_memory_mib: int  # what CUDA reports, which vLLM budgets from
    max_per_node: int
    largest_machine: str

    @property
    def cuda_memory_gib(self) -> float:
        return self.cuda_memory_mib / 1024


def accelerator(name: str, rules: dict[str, Any]) -> Accelerator:
    table = rules["accelerators"]
    if name not in table:
        raise UsageError(
            f"unknown accelerator {name!r}; use one of {', '.join(table)}"
            " (values of the node label cloud.google.com/gke-accelerator)"
        )
    spec = table[name]
    return Accelerator(name, spec["memoryGiB"], spec["cudaMemoryMiB"], spec["maxPerNode"], spec["largestMachine"])


@dataclass(frozen=True)
class Budget:
    """How vLLM is told to use the memory."""

    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION
    overhead_gib: float = DEFAULT_OVERHEAD_GIB

    def usable(self, acc: Accelerator) -> float:
        """Bytes per GPU for weights and KV cache."""
        return (acc.cuda_memory_gib * self.gpu_memory_utilization - self.overhead_gib) * GIB

    def weight_dtype(self, model: ModelSpec) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if model.dtype == "float32" else model.dtype

    def kv_dtype(self, model: ModelSpec) -> str:
        if self.kv_cache_dtype == "fp8":
            return "fp8"
        weights = self.weight_dtype(model)
        return weights if weights in ("bfloat16", "float16", "float32") else "bfloat16"


def weight_bytes(model: ModelSpec, dtype: str) -> float:
    """Bytes of the weights in `dtype`: the checkpoint's own size when it is served as stored (read from the
    Hub), else parameters times the dtype's width (quantized: all but the 16-bit embeddings and head)."""
    if model.checkpoint_bytes and dtype == model.dtype:
        return model.checkpoint_bytes
    if dtype in QUANTIZED:
        quantized = model.parameters - model.embedding_parameters
        return quantized * WEIGHT_BYTES[dtype] + model.embedding_parameters * 2
    return model.parameters * WEIGHT_BYTES[dtype]


def _group_bytes_per_token(group: AttentionGroup, tensor: int, kv_dtype: str) -> float:
    """One group's KV bytes per token over all GPUs: K and V of each KV head (copied when GPUs outnumber
    them), or MLA's one latent vector, which every GPU keeps whole (vLLM: get_num_kv_heads is 1 under MLA)."""
    if group.latent:
        return group.layers * tensor * group.head_dim * WEIGHT_BYTES[kv_dtype]
    heads = tensor * max(1, group.kv_heads // tensor)
    return 2 * group.layers * heads * group.head_dim * WEIGHT_BYTES[kv_dtype]


def kv_bytes_per_token(model: ModelSpec, tensor: int, kv_dtype: str) -> int:
    """Bytes of KV cache per token over all GPUs while a sequence is shorter than every sliding window."""
    return int(sum(_group_bytes_per_token(g, tensor, kv_dtype) for g in model.attention_groups))


# vLLM keeps a sliding-window layer's blocks for its window plus the tokens scheduled but not yet freed:
# max_concurrent_batches x max_num_batched_tokens (vllm/config/vllm.py VllmConfig.max_in_flight_tokens;
# vllm/v1/kv_cache_interface.py SlidingWindowSpec). Async scheduling is on by default and the V2 model runner is
# the default, so one batch more than the pipeline stages is in flight (max_concurrent_batches: pipeline + 1).
# `vllm serve`'s max_num_batched_tokens depends on the GPU's memory (vllm/engine/arg_utils.py get_batch_defaults) as
# NVML reports it (nvidia-smi's memory.total, about the nominal size: an H100 81559 MiB), not CUDA's total.
def max_num_batched_tokens(acc: Accelerator) -> int:
    if acc.memory_gib >= 160:
        return 16384
    if acc.memory_gib >= 70 and "a100" not in acc.name:
        return 8192
    return 2048


def in_flight_tokens(acc: Accelerator, pipeline: int = 1) -> int:
    return (pipeline + 1) * max_num_batched_tokens(acc)


def kv_sequence_bytes(model: ModelSpec, tensor: int, kv_dtype: str, context: int, in_flight: int = 0) -> int:
    """KV bytes over all GPUs for one sequence of `context` tokens: full and latent layers keep every token,
    sliding-window layers at most window - 1 + in_flight (vLLM rounds each up to its 16-token blocks and gives a
    sliding-window layer one block more: at most 32 tokens a layer that this leaves out)."""
    total = 0.0
    for group in model.attention_groups:
        tokens = min(context, group.window - 1 + in_flight) if group.window else context
        total += _group_bytes_per_token(group, tensor, kv_dtype) * tokens
    return int(total)


def longest_sequence(model: ModelSpec, tensor: int, kv_dtype: str, kv_cache: float, in_flight: int = 0) -> int:
    """The longest sequence whose KV cache fits in kv_cache bytes (sliding-window layers stop growing)."""
    if kv_cache <= 0:
        return 0
    low, high = 0, max(model.max_context, 1) * 64
    while low < high:  # the bytes grow with the length, so bisect
        middle = (low + high + 1) // 2
        if kv_sequence_bytes(model, tensor, kv_dtype, middle, in_flight) <= kv_cache:
            low = middle
        else:
            high = middle - 1
    return low


def kv_sequence_text(model: ModelSpec, tensor: int, kv_dtype: str, context: int, in_flight: int) -> str:
    """'336 KiB per token (bfloat16), 2.3 GiB per 8,192-token sequence', and what sliding-window layers keep of
    it when that is less than the whole sequence (the per-token figure holds only within every window)."""
    per_token = kv_bytes_per_token(model, tensor, kv_dtype)
    text = (
        f"{per_token / 1024:g} KiB per token ({kv_dtype}),"
        f" {gib(kv_sequence_bytes(model, tensor, kv_dtype, context, in_flight))} per {context:,}-token sequence"
    )
    kept = [g for g in model.attention_groups if g.window and g.window - 1 + in_flight < context]
    if kept:
        text += (
            " ("
            + "; ".join(
                f"{g.layers} sliding-window layers keep only its last {g.window - 1 + in_flight:,} tokens:"
                f" window {g.window:,} - 1 + {in_flight:,} scheduled tokens in flight"
                for g in kept
            )
            + ")"
        )
    return text


# --- cold start ---------------------------------------------------------------------------------

WEIGHT_SOURCES = ("huggingface", "gcsfuse", "gcsStream", "persistentDisk", "nfs")


@dataclass(frozen=True)
class ColdStart:
    """How long vLLM's start should take from one weight source, and the startupProbe budget for it."""

    source: str
    throughput_gbps: float  # startup.throughputGBps.<source>
    load_seconds: float  # checkpoint GB / throughput
    expected_seconds: float  # load + startup.compileSeconds + startup.graphCaptureSeconds
    budget_seconds: int  # expected x startup.margin, rounded up: the chart's default startup.maxSeconds


def checkpoint_gb(model: ModelSpec) -> float:
    """GB the checkpoint holds on storage (what a start reads), in the checkpoint's own dtype."""
    return weight_bytes(model, model.dtype) / 1e9


def cold_starts(weights_gb: float, startup: dict[str, Any]) -> list[ColdStart]:
    """The chart's expected start and startup budget (templates/_startup.tpl) for each weight source, from the
    `startup` values (the chart's defaults unless a values file overrides them)."""
    found = []
    for source in WEIGHT_SOURCES:
        rate = startup["throughputGBps"][source]
        load = weights_gb / rate
        expected = load + startup["compileSeconds"] + startup["graphCaptureSeconds"]
        found.append(ColdStart(source, rate, load, expected, math.ceil(expected * startup["margin"])))
    return found


def cold_start_text(starts: list[ColdStart]) -> list[str]:
    width = max(len(s.source) for s in starts)
    return [
        f"  {s.source:<{width}}  {s.throughput_gbps:g} GB/s: weights {s.load_seconds:,.0f} s,"
        f" start {s.expected_seconds:,.0f} s, startup budget {s.budget_seconds:,} s"
        for s in starts
    ]


# --- fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """One way to spread the model: `tensor` GPUs per node, `pipeline` nodes."""

    tensor: int
    pipeline: int
    valid: bool  # the tensor size divides the attention heads
    weights_per_gpu: float  # bytes
    kv_cache: float  # bytes over all GPUs; 0 or less: the weights leave nothing
    kv_per_token: int  # bytes over all GPUs per token while a sequence is within every sliding window
    kv_per_sequence: int  # bytes over all GPUs of one sequence of the requested context (windows applied)
    kv_tokens: int  # the longest one sequence can be (full attention only: every token the KV cache holds)
    max_context: int  # kv_tokens capped at the model's maximum
    sequences: int  # full-length sequences of the requested context held at once
    fits: bool  # valid and at least the requested concurrency

    @property
    def gpus(self) -> int:
        return self.tensor * self.pipeline


def evaluate(
    model: ModelSpec, acc: Accelerator, budget: Budget, tensor: int, pipeline: int, context: int, concurrency: int
) -> Fit:
    gpus = tensor * pipeline
    per_gpu = weight_bytes(model, budget.weight_dtype(model)) / gpus
    kv_cache = (budget.usable(acc) - per_gpu) * gpus
    kv_dtype, in_flight = budget.kv_dtype(model), in_flight_tokens(acc, pipeline)
    per_sequence = kv_sequence_bytes(model, tensor, kv_dtype, context, in_flight)
    tokens = longest_sequence(model, tensor, kv_dtype, kv_cache, in_flight)
    valid = model.attention_heads % tensor == 0
    sequences = max(0, math.floor(kv_cache / per_sequence)) if per_sequence else 0
    return Fit(
        tensor=tensor,
        pipeline=pipeline,
        valid=valid,
        weights_per_gpu=per_gpu,
        kv_cache=kv_cache,
        kv_per_token=kv_bytes_per_token(model, tensor, kv_dtype),
        kv_per_sequence=per_sequence,
        kv_tokens=tokens,
        max_context=min(tokens, model.max_context),
        sequences=sequences,
        fits=valid and sequences >= concurrency,
    )


def longest_context(model: ModelSpec, acc: Accelerator, budget: Budget, fit: Fit, concurrency: int) -> int:
    """The longest context each of `concurrency` sequences can have at once in fit's KV cache (uncapped)."""
    kv_cache = fit.kv_cache / concurrency
    return longest_sequence(model, fit.tensor, budget.kv_dtype(model), kv_cache, in_flight_tokens(acc, fit.pipeline))


@dataclass(frozen=True)
class Plan:
    """The tensor sizes one node offers, and the smallest set-up that serves the request."""

    model: ModelSpec
    accelerator: Accelerator
    budget: Budget
    context: int
    concurrency: int
    options: tuple[Fit, ...]  # one node, each tensor size up to maxPerNode
    choice: Fit | None  # the smallest fitting option, else the fewest nodes; None beyond max_nodes
    max_nodes: int

    @property
    def one_node(self) -> bool:
        return self.choice is not None and self.choice.pipeline == 1

    @property
    def most_on_one_node(self) -> Fit:
        """The valid one-node option that holds the most sequences (of those, the most KV cache)."""
        return max((f for f in self.options if f.valid), key=lambda f: (f.sequences, f.kv_cache))


def plan(
    model: ModelSpec,
    acc: Accelerator,
    budget: Budget,
    context: int,
    concurrency: int = 1,
    max_nodes: int = MAX_NODES,
) -> Plan:
    """Each tensor size on one node; the smallest that serves `concurrency` sequences of `context`
    tokens, else the fewest nodes of the largest tensor size (pipeline parallel), up to max_nodes."""
    context = min(context, model.max_context)
    sizes = [n for n in TENSOR_SIZES if n <= acc.max_per_node]
    options = tuple(evaluate(model, acc, budget, n, 1, context, concurrency) for n in sizes)
    choice = next((f for f in options if f.fits), None)
    if choice is None:
        tensor = max(f.tensor for f in options if f.valid)
        for nodes in range(2, max_nodes + 1):
            fit = evaluate(model, acc, budget, tensor, nodes, context, concurrency)
            if fit.fits:
                choice = fit
                break
    return Plan(model, acc, budget, context, concurrency, options, choice, max_nodes)


def pipeline_limit(chart: Path) -> int:
    """The most nodes the chart deploys per replica: the schema's maximum of parallelism.pipeline."""
    parallelism = chart_mod.schema(chart)["properties"]["parallelism"]["properties"]
    return parallelism["pipeline"].get("maximum", MAX_NODES) if "pipeline" in parallelism else 1


def default_context(model: ModelSpec) -> int:
    return min(DEFAULT_CONTEXT, model.max_context)


def setting_text(fit: Fit) -> str:
    """The values that select a Fit."""
    text = f"parallelism.tensor: {fit.tensor}"
    return text + (f", parallelism.pipeline: {fit.pipeline}" if fit.pipeline > 1 else "")


def alternatives(p: Plan, rules: dict[str, Any], *, one_node: bool = True, max_nodes: int = MAX_NODES) -> list[str]:
    """'nvidia-h200-141gb (parallelism.tensor: 8)' for each other accelerator that serves p's request,
    on one node or (one_node=False) on at most max_nodes."""
    found = []
    for name in rules["accelerators"]:
        if name == p.accelerator.name:
            continue
        other = plan(p.model, accelerator(name, rules), p.budget, p.context, p.concurrency, max_nodes)
        if other.choice is not None and (other.one_node or not one_node):
            found.append(f"{name} ({setting_text(other.choice)})")
    return found


def nodes_text(fit: Fit, acc: Accelerator) -> str:
    return f"{fit.pipeline} nodes of {fit.tensor} x {acc.name} (pipeline {fit.pipeline})"


def beyond_text(p: Plan) -> str:
    acc = p.accelerator
    nodes = f"{p.max_nodes} nodes" if p.max_nodes > 1 else "one node"
    return f"more than {nodes} of {acc.max_per_node} x {acc.name}"


def sequences_text(count: int, context: int) -> str:
    return f"{count} sequence{'' if count == 1 else 's'} of {context:,} tokens"


def needs(count: int) -> str:
    return "needs" if count == 1 else "need"


def gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def memory_text(acc: Accelerator) -> str:
    """A GPU's memory by name and as CUDA reports it: '24 GB, 22.0 GiB to CUDA'."""
    return f"{acc.memory_gib:g} GB, {acc.cuda_memory_gib:.1f} GiB to CUDA"


def usable_text(budget: Budget, acc: Accelerator) -> str:
    """The budget's arithmetic, from the memory CUDA reports: '18.2 GiB per GPU (22.0 GiB x 0.92 - 2 GiB overhead)'."""
    return (
        f"{gib(budget.usable(acc))} per GPU ({acc.cuda_memory_gib:.1f} GiB x {budget.gpu_memory_utilization:g}"
        f" - {budget.overhead_gib:g} GiB overhead)"
    )


def does_not_fit(p: Plan, rules: dict[str, Any]) -> str:
    """Why no node of the accelerator serves even one sequence, how many would, and what else would."""
    acc, model = p.accelerator, p.model
    dtype = p.budget.weight_dtype(model)
    message = (
        f"{model.name} does not fit on one {acc.name} machine ({acc.largest_machine}):"
        f" {gib(weight_bytes(model, dtype))} of {dtype} weights and {sequences_text(p.concurrency, p.context)}"
        f" need {nodes_text(p.choice, acc) if p.choice else beyond_text(p)}"
    )
    others = alternatives(p, rules)
    if others:
        message += f"; one node serves it on {', '.join(others)}"
    return message


# --- kv_cache_warning: the sizing check of `validate` and `preflight` ----------------------------


def _extra_arg(values: dict[str, Any], flag: str) -> str | None:
    args = [str(a) for a in values.get("vllm", {}).get("extraArgs", [])]
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def budget_from_values(values: dict[str, Any]) -> Budget:
    """The Budget effective chart values ask vLLM for (vllm.dtype, extraArgs' quantization and KV dtype)."""
    vllm = values.get("vllm", {})
    dtype = _DTYPE_WORDS.get(vllm.get("dtype") or "", vllm.get("dtype"))
    quantization = (_extra_arg(values, "--quantization") or _extra_arg(values, "-q") or "").lower()
    for method in QUANTIZED:
        if quantization.startswith(method):
            dtype = method
    kv = (_extra_arg(values, "--kv-cache-dtype") or "auto").lower()
    return Budget(
        dtype=dtype if dtype in DTYPES else "auto",
        kv_cache_dtype="fp8" if kv.startswith("fp8") else "auto",
        gpu_memory_utilization=vllm.get("gpuMemoryUtilization") or DEFAULT_GPU_MEMORY_UTILIZATION,
    )


def pod_accelerators(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Every GPU a serving or batch pod may land on, with the value that names it: each type of a
    ComputeClass the chart creates (GKE falls back through them), else gke.accelerator. A priority that
    names node pools (and nothing else) has the GPU of gke.accelerator."""
    compute_class = values["gke"].get("computeClass") or {}
    if compute_class.get("create") and compute_class.get("priorities"):
        found: dict[str, str] = {}
        for i, priority in enumerate(compute_class["priorities"]):
            if "gpu" in priority:
                found.setdefault(priority["gpu"]["type"], f"gke.computeClass.priorities[{i}].gpu.type")
            else:
                found.setdefault(values["gke"]["accelerator"], "gke.accelerator")
        return list(found.items())
    return [(values["gke"]["accelerator"], "gke.accelerator")]


def kv_cache_warning(values: dict[str, Any], chart: Path | None = None) -> str | None:
    """kv_cache_warning_on for every GPU the pod may land on (pod_accelerators): the first warning, naming
    the ComputeClass priority it comes from."""
    for name, source in pod_accelerators(values):
        gke = {**values["gke"], "accelerator": name}
        warning = kv_cache_warning_on({**values, "gke": gke}, chart)
        if warning:
            return warning if source == "gke.accelerator" else f"{source} {name}: {warning}"
    return None


def kv_cache_warning_on(values: dict[str, Any], chart: Path | None = None) -> str | None:
    """A warning when effective chart values give a built-in model too little GPU memory, else None.

    Checks, in order: the tensor size divides the attention heads; vllm.maxModelLen is within the
    model's positions; the weights fit the GPUs of parallelism.tensor x parallelism.pipeline; their KV
    cache holds one sequence of vllm.maxModelLen (or of the model's maximum, which vLLM uses when it
    is unset). Models outside rules.yaml's table, and accelerators outside rules.yaml: None.
    """
    chart = chart or chart_mod.chart_dir()
    model = builtin_model(values["model"]["name"])
    rules = chart_mod.rules(chart)
    name = values["gke"]["accelerator"]
    if model is None or name not in rules["accelerators"]:
        return None
    acc = accelerator(name, rules)
    tensor = values["parallelism"]["tensor"]
    pipeline = values["parallelism"].get("pipeline", 1)
    max_len = values.get("vllm", {}).get("maxModelLen")
    if model.attention_heads % tensor:
        usable = [str(n) for n in TENSOR_SIZES if n <= acc.max_per_node and model.attention_heads % n == 0]
        listed = ", ".join(usable[:-1]) + " or " + usable[-1] if len(usable) > 1 else usable[0]
        return (
            f"parallelism.tensor: {tensor} does not divide the {model.attention_heads} attention heads of"
            f" {model.name}, which vLLM requires; use {listed}"
        )
    if max_len and max_len > model.max_context:
        return (
            f"vllm.maxModelLen: {max_len} exceeds the {model.max_context} positions of {model.name}"
            f" (max_position_embeddings), which vLLM refuses; set it to {model.max_context} or less"
        )
    budget = budget_from_values(values)
    context = max_len or model.max_context
    fit = evaluate(model, acc, budget, tensor, pipeline, context, 1)
    if fit.sequences >= 1:
        return None
    where = f"parallelism.tensor: {tensor} x {acc.name} ({memory_text(acc)})"
    if pipeline > 1:
        where += f" on each of parallelism.pipeline: {pipeline} nodes"
    p = plan(model, acc, budget, context, 1, pipeline_limit(chart))
    if p.choice is not None:
        fix = f"use {setting_text(p.choice)}"
    else:
        others = alternatives(p, rules)
        fix = f"no {p.max_nodes} {acc.name} nodes hold it; choose a gke.accelerator with more memory" + (
            f": {', '.join(others)}" if others else ""
        )
    dtype = budget.weight_dtype(model)
    if fit.kv_cache <= 0:
        return (
            f"{where} cannot hold the {gib(weight_bytes(model, dtype))} of {dtype} weights of {model.name}"
            f" ({gib(fit.weights_per_gpu)} per GPU, {gib(budget.usable(acc))} usable); {fix}"
        )
    unset = "" if max_len else " (the model's maximum: vllm.maxModelLen is unset)"
    shorter = fit.kv_tokens // 256 * 256
    if shorter >= 256:
        fix += f", or lower vllm.maxModelLen to {shorter}"
    return (
        f"{where} leaves {gib(fit.kv_cache)} for the KV cache of {model.name}, less than one {context}-token"
        f" sequence{unset} needs ({gib(fit.kv_per_sequence)}); {fix}"
    )


# --- the command --------------------------------------------------------------------------------


def _row(fit: Fit) -> list[str]:
    if not fit.valid:
        return [str(fit.tensor), "-", "-", "-", "-", "no: heads"]
    if fit.kv_cache <= 0:
        return [str(fit.tensor), gib(fit.weights_per_gpu), "-", "-", "-", "no: weights"]
    return [
        str(fit.tensor),
        gib(fit.weights_per_gpu),
        gib(fit.kv_cache),
        f"{fit.max_context:,}",
        f"{fit.sequences:,}",
        "yes" if fit.fits else "no",
    ]


def _table_text(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(w) for cell, w in zip(row[:-1], widths, strict=False)) + "  " + row[-1] for row in rows
    ]


def recommendation(p: Plan) -> str:
    acc, choice = p.accelerator, p.choice
    if p.one_node:
        assert choice is not None
        machine = machine_for(acc.name, choice.tensor)
        where = f"{choice.tensor} x {acc.name}" + (f", one {machine['machineType']}" if machine else "")
        return (
            f"parallelism.tensor: {choice.tensor} ({where}) holds"
            f" {sequences_text(choice.sequences, p.context)} in {gib(choice.kv_cache)} of KV cache;"
            f" {p.concurrency} requested"
        )
    best = p.most_on_one_node
    need = nodes_text(choice, acc) if choice else beyond_text(p)
    text = f"{sequences_text(p.concurrency, p.context)} {needs(p.concurrency)} {need}"
    if best.sequences >= 1:
        text += (
            f"; one node (parallelism.tensor: {best.tensor}) holds {best.sequences}:"
            " serve the rest with more replicas, or lower --concurrency or --context"
        )
    return text


def render_text(p: Plan, starts: list[ColdStart] = ()) -> str:
    model, acc, budget = p.model, p.accelerator, p.budget
    dtype, kv_dtype = budget.weight_dtype(model), budget.kv_dtype(model)
    lines = [
        f"{model.name} on {acc.name} ({memory_text(acc)}): up to {acc.max_per_node} per node ({acc.largest_machine})",
        f"weights   {gib(weight_bytes(model, dtype))} ({model.parameters / 1e9:.2f}B parameters in {dtype})",
        f"KV cache  {kv_sequence_text(model, 1, kv_dtype, p.context, in_flight_tokens(acc))}",
        f"usable    {usable_text(budget, acc)}",
        "",
    ]
    header = ["tensor", "weights/GPU", "KV cache", "max context", f"sequences at {p.context:,}", "fits?"]
    lines += _table_text([header] + [_row(f) for f in p.options])
    notes = []
    if any(not f.valid for f in p.options):
        notes.append(f"no: heads: the tensor size must divide the model's {model.attention_heads} attention heads")
    if any(f.valid and f.kv_tokens > model.max_context for f in p.options):
        notes.append(f"max context is capped at the model's {model.max_context:,} positions")
    lines += ["", *notes] if notes else []
    if starts:
        lines += [
            "",
            f"cold start of the {checkpoint_gb(model):.1f} GB checkpoint by weights.source"
            " (`vllm-serving timeline` measures it):",
        ]
        lines += cold_start_text(starts)
    lines += ["", f"recommendation: {recommendation(p)}"]
    return "\n".join(lines)


def render_json(p: Plan, starts: list[ColdStart] = ()) -> dict[str, Any]:
    model, budget = p.model, p.budget

    def fit_json(f: Fit) -> dict[str, Any]:
        data = asdict(f) | {"gpus": f.gpus}
        data["weights_per_gpu_gib"] = round(data.pop("weights_per_gpu") / GIB, 2)
        data["kv_cache_gib"] = round(max(0.0, data.pop("kv_cache")) / GIB, 2)
        return data

    return {
        "model": asdict(model) | {"weights_gib": round(weight_bytes(model, budget.weight_dtype(model)) / GIB, 2)},
        "accelerator": asdict(p.accelerator),
        "budget": asdict(budget)
        | {
            "dtype": budget.weight_dtype(model),
            "kv_cache_dtype": budget.kv_dtype(model),
            "usable_gib_per_gpu": round(budget.usable(p.accelerator) / GIB, 2),
        },
        "context": p.context,
        "concurrency": p.concurrency,
        "options": [fit_json(f) for f in p.options],
        "recommendation": (fit_json(p.choice) if p.choice else None),
        "one_node": p.one_node,
        "summary": recommendation(p),
        "checkpoint_gb": round(checkpoint_gb(model), 2),
        "cold_start": [
            asdict(s) | {"load_seconds": round(s.load_seconds, 1), "expected_seconds": round(s.expected_seconds, 1)}
            for s in starts
        ],
    }


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with `values new`."""
    parser.add_argument("--config", metavar="PATH", help="the model's config.json (default: the built-in table)")
    parser.add_argument(
        "--context",
        type=int,
        help=f"tokens per sequence (default: {DEFAULT_CONTEXT}, or the model's maximum if shorter)",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="sequences of --context held at once (default: 1)")
    parser.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=DEFAULT_GPU_MEMORY_UTILIZATION,
        help="fraction of GPU memory vLLM uses (default: %(default)s, vLLM's)",
    )
    parser.add_argument(
        "--overhead-gib",
        type=float,
        default=DEFAULT_OVERHEAD_GIB,
        help="GiB per GPU for activations, CUDA graphs and NCCL (default: %(default)s)",
    )
    cli_options.add_chart(parser, help=f"{cli_options.CHART_HELP}; its rules.yaml lists the accelerators")


def check_budget_options(args: argparse.Namespace) -> None:
    if args.context is not None and args.context < 1:
        raise UsageError(f"--context {args.context}: give a number of tokens, 1 or more")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: give a number of sequences, 1 or more")
    if not 0 < args.gpu_memory_utilization <= 1:
        raise UsageError(f"--gpu-memory-utilization {args.gpu_memory_utilization}: give a fraction above 0, at most 1")
    if args.overhead_gib < 0:
        raise UsageError(f"--overhead-gib {args.overhead_gib}: give 0 or more")


def note_capped_context(requested: int | None, model: ModelSpec) -> None:
    if requested and requested > model.max_context:
        print(
            f"note: --context {requested:,} exceeds the {model.max_context:,} positions of {model.name};"
            f" sizing for {model.max_context:,}",
            file=sys.stderr,
        )
