import math

import pytest
import torch
from peft import get_peft_model

from labkit import data, train
from labkit.alignment import align, preferences
from labkit.memory import PeakMemory, release_freed_memory


@pytest.fixture
def pairs():
    return preferences.load("train")[:16]


def test_win_rate_counts_ties_as_half():
    score = lambda prompt, reply: len(reply)  # longer wins, for the test
    assert align.win_rate(["p"] * 4, ["aa", "a", "aaa", "a"], ["a", "a", "a", "aaa"], score) == pytest.approx(0.625)
    assert align.win_rate([], [], [], score) == 0.0


def test_completion_reward_reads_chat_messages_and_plain_text():
    reward = align.completion_reward(preferences.score)
    prompts = [[{"role": "user", "content": "What is 17 plus 25?"}], "What is 17 plus 25?"]
    completions = [[{"role": "assistant", "content": " 42 "}], "43"]
    assert reward(prompts, completions) == [preferences.score("What is 17 plus 25?", "42"),
                                            preferences.score("What is 17 plus 25?", "43")]
    assert reward.__name__ == "score"


def test_sequence_logprobs_sum_the_reply_tokens_only(tiny_model, tokenizer):
    prompt, reply = "say something", "yes please"
    got = align.sequence_logprobs(tiny_model, tokenizer, [prompt, prompt], [reply, reply + " now"])
    head = tokenizer(data.chat_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    tail = tokenizer(reply + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = tiny_model(input_ids=ids).logits[0, :-1].log_softmax(-1)
    by_hand = sum(logp[len(head) - 1 + i, t].item() for i, t in enumerate(tail))
    assert got[0].item() == pytest.approx(by_hand, abs=1e-4)  # padding of the longer row changes nothing


def test_implicit_margins_are_zero_for_a_fresh_adapter_and_follow_the_log_ratio(tiny_model, tokenizer, pairs, profile):
    model = get_peft_model(tiny_model, train.lora_config(profile, r=4))
    assert align.implicit_margins(model, tokenizer, pairs[:4]) == pytest.approx([0.0] * 4, abs=1e-5)
    with torch.no_grad():  # move the adapter: the margin is beta times the change in log-ratios
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    margins = align.implicit_margins(model, tokenizer, pairs[:4], beta=0.5)
    prompts = [p["prompt"] for p in pairs[:4]]
    pol = (align.sequence_logprobs(model, tokenizer, prompts, [p["chosen"] for p in pairs[:4]])
           - align.sequence_logprobs(model, tokenizer, prompts, [p["rejected"] for p in pairs[:4]]))
    with model.disable_adapter():
        ref = (align.sequence_logprobs(model, tokenizer, prompts, [p["chosen"] for p in pairs[:4]])
               - align.sequence_logprobs(model, tokenizer, prompts, [p["rejected"] for p in pairs[:4]]))
    assert margins == pytest.approx((0.5 * (pol - ref)).tolist(), abs=1e-4)
    assert align.implicit_margins(model, tokenizer, pairs[:4], beta=0.5, reference=ref) == pytest.approx(margins, abs=1e-5)
    assert any(abs(m) > 1e-3 for m in margins)


def test_peak_memory_sees_a_large_allocation():
    # Earlier tests in this process leave freed memory with the allocator; a block that reuses it
    # would not raise the resident set size (this once measured 0.008 MiB). Hand it back first.
    release_freed_memory()
    with PeakMemory() as memory:
        block = torch.ones(128 * 2**20 // 4)  # 128 MiB, touched page by page
        block.add_(1)
        import time
        for _ in range(50):  # give the sampling thread up to 5 s on busy cores
            time.sleep(0.1)
            if memory.peak - memory.start > 80:
                break
        del block
    assert memory.added > 80 and memory.peak >= memory.start + memory.added - 1e-6


def test_configs_take_the_profile_and_overrides(profile, tmp_path):
    orpo = align.orpo_config(profile, tmp_path, max_steps=3, beta=0.2)
    kto = align.kto_config(profile, tmp_path, max_steps=3)
    grpo = align.grpo_config(profile, tmp_path, max_steps=3, per_device_train_batch_size=8)
    assert orpo.beta == 0.2 and orpo.max_length == profile.max_length and not orpo.activation_checkpointing
    assert kto.precompute_ref_log_probs and kto.max_steps == 3
    assert grpo.num_generations == 4 and grpo.beta > 0 and grpo.bf16 == train.cpu_has_bf16()


@pytest.mark.parametrize("method", ["orpo", "kto", "grpo"])
def test_each_relative_trains_a_lora_adapter(method, tiny_model, tokenizer, pairs, profile, tmp_path):
    torch.set_num_threads(1)
    lora = train.lora_config(profile, r=4)
    common = dict(peft_config=lora, max_steps=2, per_device_train_batch_size=4, learning_rate=1e-2, live_plot=False)
    if method == "grpo":
        prompts = data.to_dataset([{"prompt": r["prompt"]} for r in preferences.conversational(pairs)])
        model, result = align.train_grpo(tiny_model, tokenizer, prompts, preferences.score, profile, tmp_path,
                                         num_generations=2, max_completion_length=8, **common)
    else:
        trainer = align.train_orpo if method == "orpo" else align.train_kto
        model, result = trainer(tiny_model, tokenizer, data.to_dataset(preferences.conversational(pairs)),
                                profile, tmp_path, **common)
    assert result.steps == 2 and all(math.isfinite(loss) for _, loss in result.losses)
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
