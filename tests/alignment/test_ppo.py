"""labkit.alignment.ppo: each piece against hand-computed values, then PPO end to end on a tiny model."""

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models as token_models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from labkit import models
from labkit.alignment import ppo

ONE = torch.ones(1, 3)


def test_gae_on_a_short_trajectory():
    rewards, values = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]])
    # gamma=1, lam=0.5: deltas 0.1, 0.1, 0.3; A2 = 0.3, A1 = 0.1 + 0.5*0.3, A0 = 0.1 + 0.5*0.25
    advantages, returns = ppo.gae(rewards, values, ONE, gamma=1.0, lam=0.5)
    assert torch.allclose(advantages, torch.tensor([[0.225, 0.25, 0.3]]))
    assert torch.allclose(returns, torch.tensor([[0.725, 0.85, 1.0]]))
    # lam=1: the advantage is the discounted return minus the value (0.9**2 = 0.81 from the start)
    advantages, returns = ppo.gae(rewards, values, ONE, gamma=0.9, lam=1.0)
    assert torch.allclose(returns, torch.tensor([[0.81, 0.9, 1.0]]))
    assert torch.allclose(advantages, torch.tensor([[0.31, 0.30, 0.30]]))


def test_gae_ignores_everything_after_the_reply():
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    advantages, _ = ppo.gae(torch.tensor([[0.0, 1.0, 5.0]]), torch.tensor([[0.5, 0.6, 9.0]]), mask, 1.0, 0.5)
    assert torch.allclose(advantages, torch.tensor([[0.1 + 0.5 * 0.4, 0.4, 0.0]]))


def test_token_rewards_put_the_score_on_the_last_reply_token():
    rewards = ppo.token_rewards(torch.tensor([2.0]), torch.tensor([[0.1, 0.2, 0.3]]),
                                torch.tensor([[1.0, 1.0, 0.0]]), kl_coef=0.5)
    assert torch.allclose(rewards, torch.tensor([[-0.05, 1.9, 0.0]]))


def test_clipped_surrogate_at_known_ratios():
    ratios = torch.tensor([[1.5, 0.5, 0.5, 1.5]])
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    # per token: clipped at 1.2 -> -1.2; 0.5 kept -> -0.5; clipped at 0.8 -> 0.8; 1.5 kept -> 1.5
    loss, clipfrac = ppo.policy_loss(ratios.log(), torch.zeros(1, 4), advantages, torch.ones(1, 4), 0.2)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 0.8 + 1.5) / 4)
    assert clipfrac.item() == pytest.approx(0.5)


def test_value_loss_clips_the_move_from_the_rollout_value():
    loss, clipfrac = ppo.value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]),
                                    torch.ones(1, 1), cliprange_value=0.2)
    assert loss.item() == pytest.approx(0.5 * 0.8 ** 2) and clipfrac.item() == 1.0  # clipped to 0.2
    loss, clipfrac = ppo.value_loss(torch.tensor([[0.1]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]),
                                    torch.ones(1, 1), cliprange_value=0.2)
    assert loss.item() == pytest.approx(0.5 * 0.9 ** 2) and clipfrac.item() == 0.0


def test_kl_estimators():
    k1 = ppo.kl_estimate(torch.tensor(math.log(0.5)), torch.tensor(math.log(0.25)), "k1")
    k3 = ppo.kl_estimate(torch.tensor(math.log(0.5)), torch.tensor(math.log(0.25)), "k3")
    assert k1.item() == pytest.approx(math.log(2)) and k3.item() == pytest.approx(-0.5 + math.log(2))
    # averaged over tokens sampled from the policy, both estimate the true KL(p || q)
    p, q = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.4, 0.4, 0.2])
    true_kl = (p * (p / q).log()).sum().item()
    tokens = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    for estimator in ("k1", "k3"):
        estimate = ppo.kl_estimate(p.log()[tokens], q.log()[tokens], estimator).mean().item()
        assert estimate == pytest.approx(true_kl, abs=0.01)
    with pytest.raises(ValueError):
        ppo.kl_estimate(p, q, "k2")


def test_whiten_and_masked_mean_skip_padding():
    x, mask = torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert ppo.masked_mean(x, mask).item() == pytest.approx(2.0)
    white = ppo.whiten(x, mask)
    assert ppo.masked_mean(white, mask).item() == pytest.approx(0.0, abs=1e-6) and white[0, 3] == 0


def test_a_model_without_adapter_or_reference_is_refused():
    with pytest.raises(ValueError, match="reference"):
        ppo.reference(torch.nn.Linear(2, 2))


# --- end to end: a tiny Llama over a 20-word vocabulary learns to say "yes" ---------------------

WORDS = ["<unk>", "<bos>", "<eos>", "user", "say", "something", "please", "now",
         "yes", "no", "maybe", "red", "blue", "green", "cat", "dog", "sun", "moon", "one", "two"]


@pytest.fixture
def word_tokenizer():
    """A word-level tokenizer with a chat template: small enough that 'yes' is sampled at the start."""
    tokenizer = Tokenizer(token_models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.WhitespaceSplit(), decoders.WordPiece()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<bos>",
                                   eos_token="<eos>", pad_token="<eos>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
    return fast


def say_yes(prompts, replies):
    return [reply.split().count("yes") / max(1, len(reply.split())) for reply in replies]


@pytest.fixture
def one_thread():
    """Tiny matrices: threads cost more than they save (and the test suite runs two workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ppo_raises_a_trivially_learnable_reward(word_tokenizer, one_thread):
    model = models.tiny_llama(seed=0, vocab_size=len(WORDS))
    with torch.no_grad():  # random embeddings are tiny; scaled up, one token's logit can dominate
        model.model.embed_tokens.weight.mul_(3)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    probe = word_tokenizer("user say something yes no", return_tensors="pt")
    before, _, _ = ppo.token_stats(model, probe.input_ids, probe.attention_mask, 2, 1.0)
    config = ppo.PPOConfig(max_steps=20, per_device_train_batch_size=16, response_length=8,
                           learning_rate=1e-2, kl_coef=0.01)
    held_out = ["please say something now"]
    start = ppo.evaluate_policy(model, word_tokenizer, held_out, say_yes, config, samples=16)
    assert start.kl == pytest.approx(0.0, abs=1e-5)  # a fresh LoRA adapter is the reference itself
    result = ppo.train_ppo(model, word_tokenizer, ["say something", "now say something please"], say_yes, config)
    end = ppo.evaluate_policy(model, word_tokenizer, held_out, say_yes, config, samples=16)
    assert len(end.replies) == 16 and end.ended <= 1.0
    assert end.reward > start.reward + 0.3 and end.kl > 0.5
    rewards = [row["reward"] for row in result.logs]
    assert sum(rewards[-5:]) / 5 > sum(rewards[:3]) / 3 + 0.4
    assert result.logs[-1]["kl"] > 0.5 and result.logs[-1]["entropy"] < result.logs[0]["entropy"]
    assert set(result.logs[0]) >= {"reward", "kl", "entropy", "clipfrac", "value_loss", "policy_loss"}
    with model.disable_adapter():  # the reference is the untrained model, whatever the adapter learned
        after, _, _ = ppo.token_stats(model, probe.input_ids, probe.attention_mask, 2, 1.0)
    assert torch.allclose(before, after, atol=1e-5)


def test_ended_tells_replies_that_stopped_from_replies_cut_off(word_tokenizer):
    eos = word_tokenizer.eos_token_id
    ids = torch.tensor([[3, 8, eos, eos], [3, 8, 9, 10]])  # one prompt token, then a three-token reply
    roll = ppo.Rollout(["a", "b"], ["", ""], ids, torch.ones_like(ids), torch.ones(2, 3), torch.zeros(2))
    assert ppo.ended(roll, word_tokenizer).tolist() == [True, False]
