"""vllm_serving.perf: the latency and cost model behind `vllm-serving size --qps` and `values new --qps`."""

from __future__ import annotations

import json

import pytest
import yaml

from paths import CHART, REPO
from vllm_serving import chart as chart_mod
from vllm_serving import perf, sizing, values_new
from vllm_serving.cli import run
from vllm_serving.commands import size as size_command
from vllm_serving.commands import values as values_command

RULES = chart_mod.rules(CHART)
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
TARGETS = ["--qps", "20", "--ttft", "1s", "--itl", "50ms", "--input-tokens", "1500", "--output-tokens", "300"]


def llama() -> sizing.ModelSpec:
    spec = sizing.builtin_model(LLAMA_8B)
    assert spec is not None
    return spec


def acc(name: str) -> sizing.Accelerator:
    return sizing.accelerator(name, RULES)


class TestModel:
    def test_a_lone_decode_step_streams_the_weights_at_the_achieved_bandwidth(self):
        h100 = acc("nvidia-h100-80gb")
        step = perf.step_seconds(llama(), h100, sizing.Budget(), 1, perf.Workload(16, 4096), 1)
        streamed = sizing.weight_bytes(llama(), "bfloat16") / perf.ceilings("nvidia-h100-80gb", "bfloat16").bandwidth
        assert streamed < step < streamed * 1.15  # the KV cache of one short request and the step overhead add little

    def test_latency_grows_and_throughput_too_with_requests_in_flight(self):
        points = [
            perf.point(llama(), acc("nvidia-l4"), sizing.Budget(), 1, perf.Workload(1000, 200), n) for n in (1, 8, 64)
        ]
        assert [p.itl for p in points] == sorted(p.itl for p in points)
        assert [p.output_tps for p in points] == sorted(p.output_tps for p in points)

    def test_each_running_sequence_adds_its_kv_cache_read_and_its_own_overhead(self):
        # decode attention is a kernel of its own after the weight products: its KV reads add to the step
        h100, work = acc("nvidia-h100-80gb"), perf.Workload(4096, 256)
        one, many = (perf.step_seconds(llama(), h100, sizing.Budget(), 1, work, n) for n in (1, 16))
        bandwidth = perf.ceilings(h100.name, "bfloat16").bandwidth
        kv = sizing.kv_sequence_bytes(llama(), 1, "bfloat16", 4096 + 128) / bandwidth
        per_sequence = perf.hardware()["efficiency"]["sequenceOverheadSeconds"]
        assert per_sequence > 0
        assert many - one >= 15 * (kv + per_sequence)

    def test_a_lone_request_decodes_without_prefill_and_a_busy_replica_between_prompts(self):
        # one request in flight: the next arrives only when it ends, so no prompt shares its steps
        h100, work = acc("nvidia-h100-80gb"), perf.Workload(100_000, 128)
        lone = perf.step_seconds(llama(), h100, sizing.Budget(), 1, work, 1)
        assert lone == perf.step_seconds(llama(), h100, sizing.Budget(), 1, work, 1, decode_only=True)
        busy = perf.step_seconds(llama(), h100, sizing.Budget(), 1, work, 8)
        assert busy > perf.step_seconds(llama(), h100, sizing.Budget(), 1, work, 8, decode_only=True)

    def test_a_mixture_of_experts_pays_a_fixed_latency_per_expert_layer(self):
        gpt_oss = sizing.builtin_model("openai/gpt-oss-20b")
        assert gpt_oss.moe_layers == 24
        assert sizing.builtin_model("deepseek-ai/DeepSeek-V3").moe_layers == 61 - 3  # its first three are dense
        h100, work = acc("nvidia-h100-80gb"), perf.Workload(1024, 128)
        step = perf.step_seconds(gpt_oss, h100, sizing.Budget(), 1, work, 1)
        dense = sizing.ModelSpec(**{**gpt_oss.__dict__, "moe_layers": 0})
        without = perf.step_seconds(dense, h100, sizing.Budget(), 1, work, 1)
        assert step == pytest.approx(without + 24 * perf.hardware()["efficiency"]["moeLayerSeconds"])
        assert perf.hardware()["efficiency"]["moeLayerSeconds"] > 0

    def test_tensor_parallel_splits_the_weights_and_pays_all_reduces(self):
        one = perf.step_seconds(llama(), acc("nvidia-h100-80gb"), sizing.Budget(), 1, perf.Workload(100, 100), 1)
        two = perf.step_seconds(llama(), acc("nvidia-h100-80gb"), sizing.Budget(), 2, perf.Workload(100, 100), 1)
        assert one / 2 < two < one

    def test_a_mixture_of_experts_step_reads_only_the_experts_its_tokens_chose(self):
        spec = sizing.model_from_config("x", {**MOE}, source="t")
        weights = sizing.weight_bytes(spec, "bfloat16")
        one_token = perf.streamed_weight_bytes(spec, weights, 1)
        assert one_token == pytest.approx(weights * spec.active_parameters / spec.parameters)
        assert perf.streamed_weight_bytes(spec, weights, 4096) == pytest.approx(weights, rel=1e-6)

    def test_the_concurrency_is_bounded_by_the_kv_cache_and_max_num_seqs(self):
        work = perf.Workload(1500, 300)
        l4 = acc("nvidia-l4")
        kv = sizing.evaluate(llama(), l4, sizing.Budget(), 1, 1, 1800, 1).sequences
        assert perf.concurrency_limit(llama(), l4, sizing.Budget(), 1, work) == min(kv, 256)
        # Gemma 3 27B on one H100: 20,349,599,641 B of KV cache (test_values_new); a request of 32768 tokens takes
        # 10 global layers x 8 KiB x 32768 + 52 sliding-window layers x 8 KiB x (1024 - 1 + 2 x 8192 in flight)
        # = 10,099,597,312 B: 2 requests (2.01; 1 if every layer kept every token, 3 with one batch in flight).
        gemma = sizing.builtin_model("google/gemma-3-27b-it")
        h100 = acc("nvidia-h100-80gb")
        assert perf.concurrency_limit(gemma, h100, sizing.Budget(), 1, perf.Workload(30000, 2768)) == 2
        assert perf.max_num_seqs(acc("nvidia-h100-80gb")) == 1024


MOE = {
    "model_type": "qwen3_moe",
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "moe_intermediate_size": 768,
    "num_hidden_layers": 48,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "vocab_size": 151936,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


class TestRanking:
    def test_every_choice_meets_the_targets_and_serves_the_rate_cheapest_first(self):
        choices = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=1.0, itl=0.05)
        assert len(choices) > 5
        costs = [c.usd_per_million_output for c in choices]
        assert costs == sorted(costs)
        for c in choices:
            assert c.point.ttft <= 1.0 and c.point.itl <= 0.05
            assert c.replicas * c.point.qps >= 20
            assert c.usd_per_hour == pytest.approx(
                c.replicas * c.tensor * perf.price_table()[c.accelerator]["onDemand"]
            )

    def test_cost_per_million_output_tokens_is_gke_inference_quickstarts_formula(self):
        c = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=1.0, itl=0.05)[0]
        # $ per output token = $ per second / (input tokens per second / 4 + output tokens per second)
        assert c.usd_per_million_output == pytest.approx(c.usd_per_hour / 3600 / (20 * 1500 / 4 + 20 * 300) * 1e6)

    def test_a_tighter_latency_target_costs_more(self):
        loose = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=2.0, itl=0.1)[0]
        tight = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=0.3, itl=0.02)[0]
        assert tight.usd_per_million_output > loose.usd_per_million_output

    def test_your_own_prices_reorder_the_choices(self, tmp_path):
        prices = {name: {"onDemand": 100.0} for name in RULES["accelerators"]} | {
            "nvidia-h200-141gb": {"onDemand": 0.01}
        }
        path = tmp_path / "prices.yaml"
        path.write_text(yaml.safe_dump({"perGpuHour": prices}))
        c = perf.rank(
            llama(),
            RULES,
            sizing.Budget(),
            perf.Workload(1500, 300),
            qps=20,
            ttft=1.0,
            itl=0.05,
            prices=perf.price_table(path),
        )[0]
        assert c.accelerator == "nvidia-h200-141gb"


def size(argv: list[str]) -> int:
    return run(size_command.main, argv)


class TestCommands:
    def test_size_ranks_and_says_which_is_cheapest(self, capsys):
        assert size([LLAMA_8B, *TARGETS]) == 0
        out = capsys.readouterr().out
        best = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=1.0, itl=0.05)[0]
        assert f"cheapest: {best.replicas} x {best.tensor} {best.accelerator}" in out
        assert "prices: hardware.yaml (2025-06, approximate), onDemand per GPU-hour" in out

    def test_size_json_lists_the_choices(self, capsys):
        assert size([LLAMA_8B, *TARGETS, "--accelerator", "nvidia-h100-80gb", "--output", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["version"] == "1"
        choices = report["choices"]
        assert {c["accelerator"] for c in choices} == {"nvidia-h100-80gb"}
        assert all(c["itl_seconds"] <= 0.05 for c in choices)

    def test_targets_no_gpu_meets_are_refused_with_the_way_out(self, capsys):
        assert size([LLAMA_8B, "--qps", "1", "--itl", "1ms"]) == 1
        assert capsys.readouterr().err == (
            f"error: no accelerator and tensor size serves {LLAMA_8B} within the targets; relax --ttft or --itl,"
            " or shorten the requests\n"
        )

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--itl", "50ms"], "error: --ttft and --itl rank choices for a request rate: give --qps too\n"),
            ([], "error: give --accelerator (how the model fits one GPU type), or --qps (rank them all)\n"),
            (["--qps", "0"], "error: --qps 0.0: give requests per second above 0\n"),
        ],
    )
    def test_usage_errors(self, argv, message, capsys):
        assert size([LLAMA_8B, *argv]) == 2
        assert capsys.readouterr().err == message

    def test_a_duration_that_is_not_one_is_refused(self, capsys):
        assert size([LLAMA_8B, "--qps", "2", "--ttft", "soon"]) == 2
        assert (
            capsys.readouterr().err == "error: 'soon' is not a duration; give seconds or milliseconds, e.g. 1s, 500ms\n"
        )

    def test_values_new_writes_the_cheapest_with_its_latency_limits(self, tmp_path):
        out = tmp_path / "llama.yaml"
        argv = ["new", "--model", LLAMA_8B, *TARGETS, "--hf-token-secret", "hf", "-o", str(out)]
        assert run(values_command.main, argv) == 0
        values = yaml.safe_load(out.read_text())
        best = perf.rank(llama(), RULES, sizing.Budget(), perf.Workload(1500, 300), qps=20, ttft=1.0, itl=0.05)[0]
        assert values["gke"]["accelerator"] == best.accelerator
        assert values["parallelism"]["tensor"] == best.tensor
        assert values["replicaCount"] == best.replicas
        assert values["vllm"]["maxNumSeqs"] == best.point.concurrency
        assert values["autoscaling"]["metrics"] == [
            {"type": "batch-size", "target": int(best.point.concurrency * values_new.BATCH_TARGET_SHARE)}
        ]
        assert values["monitoring"] == {"podMonitoring": {"enabled": True}}
        assert "Chosen as the cheapest for 20 requests/s" in out.read_text()


def test_every_published_point_is_predicted_within_a_quarter():
    """The efficiencies in hardware.yaml were fitted to the published runs (benchmarks/sizing/published.py prints
    every point, and says which were fitted): the issue's goal is every prediction within 25 %, and a change to
    the model that moves a fitted one more than 10 % must refit."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("published", REPO / "benchmarks" / "sizing" / "published.py")
    published = importlib.util.module_from_spec(spec)
    sys.modules["published"] = published  # dataclasses look their module up
    spec.loader.exec_module(published)
    fitted = [p for p in published.POINTS if p.fit == "decodeOfCopy"]
    assert len(fitted) == 2
    for p in fitted:
        assert published.predict(p) == pytest.approx(p.value, rel=0.10), p.source
    held_out = [p for p in published.POINTS if not p.fit]
    assert {p.accelerator for p in held_out} == {"nvidia-tesla-a100", "nvidia-b200"}
    for p in published.POINTS:
        assert published.predict(p) == pytest.approx(p.value, rel=0.25), (p.source, p.concurrency)
