"""The benchmark runs at a tiny size and writes a well-formed record. Speed is not asserted here."""

import json
import math

import pytest
import torch

from labkit import cli
from labkit.perf import bench


def test_chat_examples_vary_in_length_and_keep_the_splits_apart():
    train, test = bench.chat_examples(60), bench.chat_examples(20, "test", seed=1)
    lengths = [len((e["prompt"][0]["content"] + " " + e["completion"][0]["content"]).split()) for e in train]
    assert 10 <= min(lengths) < 40 and 110 < max(lengths) <= 145
    assert bench.chat_examples(60) == train  # deterministic
    train_text = " ".join(e["completion"][0]["content"] for e in train)
    assert not any(e["completion"][0]["content"] in train_text for e in test if len(e["completion"][0]["content"]) > 80)


def test_alternating_order():
    assert bench._order(2) == ["baseline", "labkit", "labkit", "baseline"]


def test_matmul_peak_is_measured():
    assert bench.matmul_peak(size=256, reps=2) > 0.1


def test_bench_runs_at_a_tiny_size_and_writes_its_record(tmp_path, capsys):
    torch_threads = torch.get_num_threads()
    out = tmp_path / "record.json"
    code = cli.main(["bench", "--model", "tiny-llama", "--steps", "2", "--batch", "2", "--n-examples", "8",
                     "--n-heldout", "2", "--max-length", "64", "--rounds", "1", "--threads", "1",
                     "--in-process", "--out", str(out)])
    torch.set_num_threads(torch_threads)
    assert code == 0 and "ratio" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["threads"] == 1 and len(record["load_average_before"]) == 3
    assert record["matmul_peak_gflops"]["best"] > 0 and record["gpu"].startswith(("not measured", "measured"))
    assert [(r["method"], r["side"]) for r in record["runs"]] == [
        ("sft", "baseline"), ("sft", "labkit"), ("dpo", "baseline"), ("dpo", "labkit")]
    for run in record["runs"]:
        assert run["steps"] == 2 and run["real_tokens"] > 0 and run["peak_memory_mb"] > 0
        for key in ("tokens_per_s", "steps_per_s", "train_loss", "heldout_loss", "achieved_gflops"):
            assert math.isfinite(run[key]) and run[key] > 0, key
    for method in ("sft", "dpo"):
        summary = record["summary"][method]
        assert set(summary["ratio"]) >= {"tokens_per_s", "steps_per_s", "peak_memory_mb"}
        assert isinstance(summary["target_tokens_ratio_met"], bool)
        assert summary["labkit"]["peak_fraction"] > 0


def test_token_counter_counts_only_training_passes(tiny_model):
    counter = bench.TokenCounter(tiny_model)
    ids = torch.ones(2, 5, dtype=torch.long)
    tiny_model(input_ids=ids, attention_mask=torch.tensor([[1] * 5, [1, 1, 1, 0, 0]]))
    with torch.no_grad():
        tiny_model(input_ids=ids)  # a reference or evaluation pass: not counted
    assert counter.close() == 8
