"""The chat server: starts on a free port, answers like in-process greedy generation, batches, fails clearly, stops."""

import json
import socket
import threading

import pytest

from labkit import evaluate, models
from labkit.errors import ModelError, ResourceError
from labkit.serving import client, export

PROMPTS = ["hello there", "what is two plus two", "name a colour", "tell me a story"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A two-layer random Llama saved like a merged model: seconds to load in the server."""
    folder = tmp_path_factory.mktemp("tiny")
    tokenizer = models.load_tokenizer(models.TINY_LLAMA)
    model = models.tiny_llama()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model.eval(), tokenizer


@pytest.fixture(scope="module")
def batched(tiny_folder, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "traffic.jsonl"
    with client.serve(tiny_folder[0], batch=True, log=log, extra=["--batch-wait-ms", "200"]) as server:
        yield server, log
    assert server.process.poll() is not None, "the server must stop on leaving the block"


def test_one_request_equals_in_process_greedy_generation(tiny_folder, batched):
    _, model, tokenizer = tiny_folder
    answer = client.chat(batched[0].url, PROMPTS[0], max_tokens=12)
    assert client.reply_text(answer) == evaluate.generate(model, tokenizer, PROMPTS[:1], max_new_tokens=12)[0]
    assert answer["usage"]["completion_tokens"] >= 1
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]


def test_concurrent_requests_share_a_batch_and_keep_their_replies(tiny_folder, batched):
    _, model, tokenizer = tiny_folder
    result = client.load_test(batched[0].url, PROMPTS, concurrency=4, max_tokens=12)
    assert result["mean_batch"] > 1.5, "four requests sent at once should be generated together"
    alone = [evaluate.generate(model, tokenizer, [p], max_new_tokens=12, batch_size=1)[0] for p in PROMPTS]
    assert result["replies"] == alone


def test_ignore_eos_generates_exactly_max_tokens(tiny_folder):
    """vLLM's ignore_eos: a benchmark request runs its whole budget even where the model would stop."""
    import copy

    from labkit.serving import server

    _, model, tokenizer = tiny_folder
    tokenizer, model = copy.deepcopy(tokenizer), copy.deepcopy(model)
    prompt = tokenizer(server.prompt_text(tokenizer, [{"role": "user", "content": PROMPTS[0]}]), return_tensors="pt",
                       add_special_tokens=False)
    stop_at = int(model.generate(**prompt, max_new_tokens=1, do_sample=False)[0, -1])
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(stop_at)  # the model's first token now ends a reply
    model.generation_config.eos_token_id = stop_at
    jobs = [server.Job([{"role": "user", "content": PROMPTS[0]}], 10, 0.0, ignore_eos=flag) for flag in (False, True)]
    for job in jobs:
        server.generate_batch(model, tokenizer, [job])
    assert (jobs[0].completion_tokens, jobs[0].finish_reason) == (0, "stop")
    assert (jobs[1].completion_tokens, jobs[1].finish_reason) == (10, "length")


def test_load_test_with_ignore_eos_counts_the_full_budget(batched):
    result = client.load_test(batched[0].url, PROMPTS, concurrency=4, max_tokens=20, ignore_eos=True)
    assert round(result["tokens_per_s"] / result["requests_per_s"]) == 20 and result["mean_batch"] > 1.5


def test_settings_switch_on_the_running_server(tiny_folder, batched):
    server, _ = batched
    _, model, tokenizer = tiny_folder
    try:
        assert client.configure(server.url, batch=False, kv_cache=False) | {"model": None} == \
            {"status": "ok", "model": None, "batch": False, "kv_cache": False}
        result = client.load_test(server.url, PROMPTS, concurrency=4, max_tokens=12)
        assert result["mean_batch"] == 1.0, "with batching off, concurrent requests are generated one by one"
        alone = [evaluate.generate(model, tokenizer, [p], max_new_tokens=12, batch_size=1)[0] for p in PROMPTS]
        assert result["replies"] == alone, "without the KV cache the greedy replies stay the same"
    finally:
        settings = client.configure(server.url, batch=True, kv_cache=True)
    assert (settings["batch"], settings["kv_cache"]) == (True, True)
    assert client.configure(server.url)["batch"] is True, "an empty change keeps every setting"


def test_traffic_log_has_one_line_per_request(batched):
    server, log = batched
    client.chat(server.url, "log me", max_tokens=4)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[-1]["prompt"] == "log me" and lines[-1]["latency_s"] > 0
    assert {"time", "reply", "prompt_tokens", "completion_tokens", "batch_size"} <= set(lines[-1])


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no saved model"):
        client.start(tmp_path / "nothing-here")


def test_a_taken_port_is_a_clear_error(tiny_folder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ResourceError, match="already in use"):
            client.start(tiny_folder[0], port=s.getsockname()[1])


def test_a_server_that_dies_names_its_log(tmp_path):
    (tmp_path / "broken").mkdir()
    with pytest.raises(ResourceError, match="exited") as error:
        client.start(tmp_path / "broken", timeout=60)
    assert "labkit-server-" in str(error.value)


def test_merge_and_save_writes_safetensors(tiny_folder, tmp_path):
    from peft import LoraConfig, get_peft_model

    _, _, tokenizer = tiny_folder
    peft_model = get_peft_model(models.tiny_llama(), LoraConfig(r=2, target_modules=["q_proj"]))
    merged = export.merge_and_save(peft_model, tokenizer, tmp_path / "merged")
    assert not hasattr(merged, "peft_config")
    assert export.folder_bytes(tmp_path / "merged", "*.safetensors") > 4 * models.parameter_count(merged) * 0.9
