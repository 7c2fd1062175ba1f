"""PPO for causal language models, small enough to read in one sitting (survey section 6.8).

TRL no longer ships a PPO trainer, and its last one hid the algorithm behind 700 lines. This is
the algorithm itself, one step at a time:

1. **Rollout.** The policy (a causal LM with a LoRA adapter) samples a reply to each prompt; a
   reward function scores the whole reply.
2. **Per-token rewards.** Each reply token is charged ``kl_coef`` times its KL to the frozen
   reference model, so the policy cannot drift into gibberish that games the reward; the score is
   added at the reply's last token. With peft the reference is the same model with its adapter
   switched off: no second copy in memory.
3. **Advantages.** A value head on the policy's last hidden state predicts the return from each
   token; generalised advantage estimation (GAE) turns rewards and values into advantages.
4. **Update.** A few epochs over minibatches of the rollout minimise the clipped surrogate loss
   (the ratio of new to old token probabilities is kept within ``1 +- cliprange``) plus the
   clipped value loss.

Field names follow TRL's last ``PPOConfig`` (``kl_coef``, ``cliprange``, ``vf_coef``, ``lam``,
``num_ppo_epochs`` ...), so settings read the same as in TRL's documentation.
"""

from __future__ import annotations

import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from labkit.data import chat_prompt
from labkit.seeding import shifted
from labkit.train import fp32_master_weights

RewardFn = Callable[[list[str], list[str]], Sequence[float]]  # (prompts, replies) -> one score per reply


@dataclass
class PPOConfig:
    """PPO settings, named as in TRL's last ``PPOConfig`` (``max_steps`` counts PPO iterations)."""

    max_steps: int = 20  # iterations, each one rollout batch and its update
    per_device_train_batch_size: int = 16  # prompts (and so replies) per rollout
    num_mini_batches: int = 2  # the rollout is split into this many minibatches per epoch
    num_ppo_epochs: int = 2  # passes over each rollout
    learning_rate: float = 1e-4
    response_length: int = 24  # new tokens per reply at most
    temperature: float = 1.0  # sampling temperature; the policy's probabilities use it too
    kl_coef: float = 0.05  # price of one nat of KL to the reference, per token
    kl_estimator: str = "k1"  # "k1": log p - log q (unbiased, noisy); "k3": (r - 1) - log r (never negative)
    cliprange: float = 0.2  # the policy ratio is clipped to [1 - cliprange, 1 + cliprange]
    cliprange_value: float = 0.2  # new values stay within this of the rollout's values
    vf_coef: float = 0.1  # weight of the value loss
    gamma: float = 1.0  # discount; 1 because a reply is short and only its end is scored
    lam: float = 0.95  # GAE's lambda: bias (0) vs variance (1) of the advantage estimate
    missing_eos_penalty: float | None = None  # subtracted from the score of a reply cut off at response_length
    max_grad_norm: float = 1.0
    seed: int = 0


class ValueHead(nn.Module):
    """A linear layer from the LM's last hidden state to a scalar: the expected return from here.

    It starts at zero, so the first advantages are the rewards themselves rather than noise.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.linear(hidden.float()).squeeze(-1)


@dataclass
class Rollout:
    """One batch of sampled replies and everything PPO computes from it (tensors are batch x reply)."""

    prompts: list[str]
    replies: list[str]
    input_ids: Tensor  # prompt (left-padded) + reply
    attention_mask: Tensor
    mask: Tensor  # 1 for reply tokens up to and including the first end-of-sequence token
    scores: Tensor  # the reward function's score per reply
    logprobs: Tensor | None = None
    ref_logprobs: Tensor | None = None
    values: Tensor | None = None
    entropy: Tensor | None = None
    kl: Tensor | None = None
    advantages: Tensor | None = None
    returns: Tensor | None = None


# --- the pieces, each tested against hand-computed values -------------------------------------

def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over the reply tokens only (padding after the end of a reply does not count)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: Tensor, mask: Tensor) -> Tensor:
    """Zero mean, unit variance over the reply tokens: keeps the step size independent of reward scale."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def kl_estimate(logprobs: Tensor, ref_logprobs: Tensor, estimator: str = "k1") -> Tensor:
    """Per-token estimate of KL(policy || reference) from the log-probabilities of the sampled tokens.

    ``k1`` = log p - log q averages to the true KL but can be negative on a single token; ``k3`` =
    (q/p - 1) - log(q/p) has the same mean and is never negative (J. Schulman's estimators).
    """
    log_ratio = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_ratio
    if estimator == "k3":
        return log_ratio.exp() - 1 - log_ratio
    raise ValueError(f"kl_estimator must be 'k1' or 'k3', not {estimator!r}")


def token_rewards(scores: Tensor, kl: Tensor, mask: Tensor, kl_coef: float) -> Tensor:
    """The KL penalty on every reply token, plus the reply's score on its last token."""
    rewards = -kl_coef * kl * mask
    last = (mask.cumsum(1) * mask).argmax(1)  # index of the last reply token
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation, from the last token back; returns (advantages, returns).

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``; past
    the end of a reply values and rewards are zero, so nothing leaks from padding.
    """
    rewards, values = rewards * mask, values * mask
    advantages, running = torch.zeros_like(rewards), torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    return advantages * mask, (advantages + values) * mask


def policy_loss(logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor,
                cliprange: float) -> tuple[Tensor, Tensor]:
    """PPO's clipped surrogate loss and the fraction of tokens where the clip was active.

    Taking the worse of the clipped and unclipped objective removes any gain from moving a
    token's probability ratio beyond ``1 +- cliprange``: the update stays near the rollout policy.
    """
    ratio = (logprobs - old_logprobs).exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - cliprange, 1 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    return loss, masked_mean((clipped > unclipped).float(), mask)


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
               cliprange_value: float) -> tuple[Tensor, Tensor]:
    """Half the squared error to the returns, with the value's move from the rollout clipped too."""
    clipped = old_values + (values - old_values).clamp(-cliprange_value, cliprange_value)
    error, clipped_error = (values - returns) ** 2, (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(error, clipped_error), mask)
    return loss, masked_mean((clipped_error > error).float(), mask)


# --- running the model ------------------------------------------------------------------------

def sample(model, tokenizer, prompts: list[str], config: PPOConfig) -> tuple[Tensor, Tensor, Tensor]:
    """Sample replies (pure sampling at ``temperature``); returns input_ids, attention_mask, reply mask."""
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # replies continue on the right
    try:
        batch = tokenizer([chat_prompt(tokenizer, p) for p in prompts], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(next(model.parameters()).device)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        output = model.generate(**batch, do_sample=True, temperature=config.temperature, top_k=0, top_p=1.0,
                                max_new_tokens=config.response_length, pad_token_id=tokenizer.pad_token_id)
    reply = output[:, batch["input_ids"].shape[1]:]
    is_end = reply == tokenizer.eos_token_id
    mask = ((is_end.cumsum(1) - is_end.long()) == 0).long()  # up to and including the first end token
    return output, torch.cat([batch["attention_mask"], mask], dim=1), mask


def token_stats(model, input_ids: Tensor, attention_mask: Tensor, reply_length: int, temperature: float,
                value_head: ValueHead | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Log-probability and entropy of each reply token, and the value before it (if a head is given)."""
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # left padding: positions start at each prompt
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                logits_to_keep=reply_length + 1, output_hidden_states=value_head is not None)
    logits = out.logits[:, :-1].float() / temperature  # the logits that predicted each reply token
    log_probs = logits.log_softmax(-1)
    logprobs = log_probs.gather(-1, input_ids[:, -reply_length:, None]).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    values = None
    if value_head is not None:
        values = value_head(out.hidden_states[-1][:, -reply_length - 1:-1])
    return logprobs, entropy, values


def reference(model, ref_model=None):
    """The frozen reference: ``ref_model`` if given, else ``model`` with its peft adapter switched off."""
    if ref_model is not None:
        return ref_model, nullcontext()
    if not hasattr(model, "disable_adapter"):
        raise ValueError("PPO needs a reference model: pass ref_model=..., or give the policy a LoRA "
                         "adapter (peft.get_peft_model) so the reference is the model without it.")
    return model, model.disable_adapter()


def ended(roll: Rollout, tokenizer) -> Tensor:
    """Which replies stopped by themselves (an end-of-sequence token) rather than at the length limit."""
    return (roll.input_ids[:, -roll.mask.shape[1]:] == tokenizer.eos_token_id).any(1)


def penalised_scores(roll: Rollout, tokenizer, config: PPOConfig) -> Tensor:
    """The scores PPO maximises: each reply's score, minus ``missing_eos_penalty`` if it was cut off."""
    return roll.scores - (config.missing_eos_penalty or 0.0) * (1 - ended(roll, tokenizer).float())


def collect(model, value_head: ValueHead, tokenizer, prompts: list[str], reward_fn: RewardFn,
            config: PPOConfig, ref_model=None) -> Rollout:
    """Sample replies, score them, and compute everything the update needs (no gradients)."""
    input_ids, attention_mask, mask = sample(model, tokenizer, prompts, config)
    replies = tokenizer.batch_decode(input_ids[:, -mask.shape[1]:], skip_special_tokens=True)
    replies = [r.strip() for r in replies]
    scores = torch.tensor([float(s) for s in reward_fn(prompts, replies)])
    roll = Rollout(prompts, replies, input_ids, attention_mask, mask.float(), scores)
    with torch.no_grad():
        roll.logprobs, roll.entropy, roll.values = token_stats(
            model, input_ids, attention_mask, mask.shape[1], config.temperature, value_head)
        ref, switched_off = reference(model, ref_model)
        with switched_off:
            roll.ref_logprobs, _, _ = token_stats(ref, input_ids, attention_mask, mask.shape[1], config.temperature)
    roll.kl = kl_estimate(roll.logprobs, roll.ref_logprobs, config.kl_estimator) * roll.mask
    rewards = token_rewards(penalised_scores(roll, tokenizer, config), roll.kl, roll.mask, config.kl_coef)
    advantages, roll.returns = gae(rewards, roll.values, roll.mask, config.gamma, config.lam)
    roll.advantages = whiten(advantages, roll.mask)
    return roll


def update(model, value_head: ValueHead, optimizer, roll: Rollout, config: PPOConfig) -> dict[str, float]:
    """``num_ppo_epochs`` passes over the rollout in shuffled minibatches; returns mean losses and clip fractions."""
    stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "clipfrac": [], "value_clipfrac": []}
    size = max(1, len(roll.prompts) // config.num_mini_batches)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for _ in range(config.num_ppo_epochs):
        order = torch.randperm(len(roll.prompts))
        for start in range(0, len(order), size):
            i = order[start:start + size]
            logprobs, _, values = token_stats(model, roll.input_ids[i], roll.attention_mask[i],
                                              roll.mask.shape[1], config.temperature, value_head)
            pg, clipfrac = policy_loss(logprobs, roll.logprobs[i], roll.advantages[i], roll.mask[i], config.cliprange)
            vl, vclip = value_loss(values, roll.values[i], roll.returns[i], roll.mask[i], config.cliprange_value)
            optimizer.zero_grad()
            (pg + config.vf_coef * vl).backward()
            nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            for key, value in zip(stats, (pg, vl, clipfrac, vclip)):
                stats[key].append(value.item())
    return {key: sum(values) / len(values) for key, values in stats.items()}


# --- the loop ---------------------------------------------------------------------------------

@dataclass
class PPOResult:
    """The trained policy and value head, and one log row per iteration."""

    model: object
    value_head: ValueHead
    logs: list[dict] = field(default_factory=list)

    def curve(self, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` of one logged quantity, e.g. ``result.curve("kl")``."""
        return [(row["step"], row[key]) for row in self.logs]


def log_row(step: int, roll: Rollout, stats: dict[str, float], ended_share: float, seconds: float) -> dict:
    """What one iteration measured: reward (before any penalty), KL summed over a reply, entropy ..."""
    return {"step": step, "reward": roll.scores.mean().item(), "kl": roll.kl.sum(1).mean().item(),
            "entropy": masked_mean(roll.entropy, roll.mask).item(), **stats,
            "reply_tokens": roll.mask.sum(1).mean().item(), "ended": ended_share, "seconds": seconds}


def train_ppo(model, tokenizer, prompts: Sequence[str], reward_fn: RewardFn, config: PPOConfig,
              value_head: ValueHead | None = None, ref_model=None,
              callback: Callable[[dict], None] | None = None) -> PPOResult:
    """Run ``config.max_steps`` PPO iterations on ``prompts``; the policy is trained in place.

    Only parameters with ``requires_grad`` (a LoRA adapter's) and the value head train. Each
    iteration's log row is passed to ``callback`` as it arrives (e.g. to print or plot live).
    """
    torch.manual_seed(shifted(config.seed))
    rng = random.Random(shifted(config.seed))
    fp32_master_weights(model)  # a half-precision policy still updates fp32 adapter weights
    value_head = value_head or ValueHead(model.config.hidden_size).to(next(model.parameters()).device)
    params = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    result = PPOResult(model, value_head)
    pool = list(prompts)
    model.eval()  # no dropout: the rollout's and the update's probabilities must agree
    for step in range(1, config.max_steps + 1):
        start = time.perf_counter()
        batch = [rng.choice(pool) for _ in range(config.per_device_train_batch_size)]
        roll = collect(model, value_head, tokenizer, batch, reward_fn, config, ref_model)
        stats = update(model, value_head, optimizer, roll, config)
        ended_share = ended(roll, tokenizer).float().mean().item()
        result.logs.append(log_row(step, roll, stats, ended_share, time.perf_counter() - start))
        if callback:
            callback(result.logs[-1])
    return result


@dataclass
class PolicyEval:
    """What :func:`evaluate_policy` measured: means over all sampled replies, and the replies."""

    reward: float  # what PPO maximises: score minus the missing-EOS penalty
    score: float  # the reward function's score alone
    ended: float  # share of replies that stopped by themselves
    kl: float  # KL(policy || reference) summed over a reply, in nats
    reply_tokens: float
    prompts: list[str] = field(repr=False, default_factory=list)
    replies: list[str] = field(repr=False, default_factory=list)
    scores: list[float] = field(repr=False, default_factory=list)


@torch.no_grad()
def evaluate_policy(model, tokenizer, prompts: Sequence[str], reward_fn: RewardFn, config: PPOConfig,
                    samples: int = 2, seed: int = 1, ref_model=None) -> PolicyEval:
    """The policy's expected reward on ``prompts`` under the same sampling as training, and its KL.

    ``samples`` replies per prompt at ``config.temperature`` with a fixed seed: an estimate of
    what PPO maximises that does not hinge on one greedy reply per prompt.
    """
    head = ValueHead(model.config.hidden_size).to(next(model.parameters()).device)  # collect wants one; unused
    torch.manual_seed(seed)  # after the head's initialisation: the samples depend on the seed alone
    model.eval()
    batch = [p for p in prompts for _ in range(samples)]
    roll = collect(model, head, tokenizer, batch, reward_fn, config, ref_model)
    return PolicyEval(reward=penalised_scores(roll, tokenizer, config).mean().item(), score=roll.scores.mean().item(),
                      ended=ended(roll, tokenizer).float().mean().item(), kl=roll.kl.sum(1).mean().item(),
                      reply_tokens=roll.mask.sum(1).mean().item(), prompts=batch, replies=roll.replies,
                      scores=roll.scores.tolist())


def config_table(config: PPOConfig) -> str:
    """The settings as aligned text, for a notebook to show what it ran with."""
    return "\n".join(f"{key:<30}{value!r}" for key, value in asdict(config).items())
