"""Memory tuning with a mixture of small LoRA "memory experts" (notebook 14, survey §6.5).

Lamini's memory tuning stores facts in many small adapters ("memory experts"), each trained to
near-zero loss on its own few facts, and a router picks the experts that fit a query. This module
is the small version used in the course:

* facts are grouped by topic (:func:`cluster_facts`: k-means on sentence embeddings), one peft
  LoRA adapter per group (``add_adapter``/``set_adapter`` on one base model);
* :class:`Router` picks, for a query, the expert whose taught questions are most similar
  (cosine of MiniLM embeddings); a similarity below its threshold means "no expert knows this",
  and the system abstains instead of inventing an answer;
* the adapters sit on the **top layers** only. The bottom of the model is frozen, so its output
  for a training sequence never changes: it is computed once (:func:`cache_hidden`) and every
  training step runs only the top layers (:func:`top_hidden`). This is what makes training
  several experts to near-zero loss affordable on a CPU (the same trick as ``labkit.tuning.quickrun``,
  here for multi-token answers).

Recall is measured by :func:`greedy_exact`: with teacher forcing, the answer is recalled exactly
when the arg-max at every answer position (and the end-of-turn token after it) is the gold token,
which is what greedy generation would produce, in one forward pass instead of a decoding loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from labkit.data import chat_prompt
from labkit.seeding import shifted

IGNORE = -100
ABSTAIN = "I don't know."
_ABSTENTION_MARKERS = ("don't know", "do not know", "not sure", "no information", "don't have",
                       "do not have", "cannot answer", "can't answer", "unable to", "not aware")


@dataclass
class Encoded:
    """Chat-formatted question + answer sequences, right-padded, labels only on the answer."""

    input_ids: torch.Tensor  # (n, length)
    attention_mask: torch.Tensor  # (n, length)
    labels: torch.Tensor  # (n, length): answer and end-of-turn tokens, IGNORE elsewhere

    def __len__(self) -> int:
        return len(self.input_ids)

    def to(self, device) -> "Encoded":
        return Encoded(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def encode_qa(tokenizer, questions: list[str], answers: list[str], system: str | None = None) -> Encoded:
    """Token ids of ``chat_prompt(question) + answer + eos``; the loss is on the answer and eos only.

    Ending the answer with the end-of-turn token teaches the model to stop, so "recalled" means
    the exact answer and nothing after it.
    """
    rows, labels = [], []
    for question, answer in zip(questions, answers, strict=True):
        prompt = tokenizer(chat_prompt(tokenizer, question, system), add_special_tokens=False)["input_ids"]
        target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(prompt + target)
        labels.append([IGNORE] * len(prompt) + target)
    length = max(map(len, rows))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    lab = torch.tensor([l + [IGNORE] * (length - len(l)) for l in labels])
    return Encoded(ids, mask, lab)


@dataclass
class Cached:
    """Hidden states entering layer ``layer`` for every sequence of an :class:`Encoded` set."""

    hidden: torch.Tensor  # (n, length, hidden_size)
    attention_mask: torch.Tensor
    labels: torch.Tensor
    layer: int

    def __len__(self) -> int:
        return len(self.hidden)


def _decoder(model):
    """The bare decoder (``LlamaModel``) under a causal LM, peft-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base, base.model


@torch.no_grad()
def cache_hidden(model, encoded: Encoded, layer: int, batch_size: int = 16) -> Cached:
    """Run layers ``0..layer-1`` of ``model`` once (adapters off) and keep what enters ``layer``."""
    _, decoder = _decoder(model)
    encoded = encoded.to(next(model.parameters()).device)
    chunks = []
    for start in range(0, len(encoded), batch_size):
        rows = slice(start, start + batch_size)
        out = decoder(input_ids=encoded.input_ids[rows], attention_mask=encoded.attention_mask[rows],
                      output_hidden_states=True, use_cache=False)
        chunks.append(out.hidden_states[layer])  # hidden_states[0] is the embeddings, [i] enters layer i
    return Cached(torch.cat(chunks), encoded.attention_mask, encoded.labels, layer)


def top_hidden(model, cached: Cached, index: torch.Tensor) -> torch.Tensor:
    """Final hidden states of rows ``index``: layers ``cached.layer..`` (with the active adapter), then the norm.

    The same loop as ``LlamaModel.forward``, started in the middle. Sequences are right-padded and
    the causal mask hides the padding, so positions are simply 0..length-1.
    """
    from transformers.masking_utils import create_causal_mask

    _, decoder = _decoder(model)
    hidden, mask = cached.hidden[index], cached.attention_mask[index]
    position_ids = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
    causal = create_causal_mask(config=decoder.config, inputs_embeds=hidden, attention_mask=mask,
                                past_key_values=None, position_ids=position_ids)
    position_embeddings = decoder.rotary_emb(hidden, position_ids=position_ids)
    for layer in decoder.layers[cached.layer:]:
        hidden = layer(hidden, attention_mask=causal, position_embeddings=position_embeddings,
                       position_ids=position_ids)
    return decoder.norm(hidden)


def answer_loss(model, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens; position t predicts token t+1.

    The LM head (576 x 49,152 in SmolLM2) is applied only where a label is, a few positions per
    sequence instead of all of them: most of a step's time would otherwise go there.
    """
    base, _ = _decoder(model)
    targets = labels[:, 1:]
    scored = targets != IGNORE
    return F.cross_entropy(base.lm_head(hidden[:, :-1][scored]), targets[scored])


def train_adapter(model, cached: Cached, steps: int, learning_rate: float, batch_size: int = 8,
                  seed: int = 0, extra_loss=None) -> list[float]:
    """Train the parameters of ``model`` that require grad (the active adapter) on ``cached``.

    AdamW at a constant rate, batches from a seeded shuffle, epoch after epoch. Returns the answer
    loss of every step, so a notebook can show it going to (near) zero. ``extra_loss``, if given,
    is called after each forward pass and its value is added to the loss that is minimised (e.g.
    a mixture of experts' load-balancing loss, notebook 15).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: set a trainable adapter first (peft set_adapter)")
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    generator, order, losses = torch.Generator().manual_seed(shifted(seed)), torch.empty(0, dtype=torch.long), []
    model.train()
    for _ in range(steps):
        if len(order) == 0:
            order = torch.randperm(len(cached), generator=generator)
        index, order = order[:batch_size], order[batch_size:]
        index = index.to(cached.hidden.device)
        loss = answer_loss(model, top_hidden(model, cached, index), cached.labels[index])
        (loss + extra_loss() if extra_loss else loss).backward()
        optimizer.step(), optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def greedy_exact(model, encoded: Encoded, batch_size: int = 16) -> list[bool]:
    """Per sequence: would greedy decoding reproduce the answer exactly, then stop?

    True when the arg-max at every labelled position is the gold token (teacher forcing gives
    the same prefixes greedy decoding would, as long as every earlier token was right).
    """
    model.eval()
    encoded = encoded.to(next(model.parameters()).device)
    hits = []
    for start in range(0, len(encoded), batch_size):
        rows = slice(start, start + batch_size)
        logits = model(input_ids=encoded.input_ids[rows], attention_mask=encoded.attention_mask[rows]).logits
        predicted, labels = logits[:, :-1].argmax(-1), encoded.labels[rows, 1:]
        scored = labels != IGNORE
        hits += ((predicted == labels) | ~scored).all(dim=1).tolist()
    return hits


def cluster_facts(embeddings: np.ndarray, n_experts: int, seed: int = 0) -> np.ndarray:
    """Group facts by topic: k-means on their (unit-length) sentence embeddings; one label per fact."""
    from sklearn.cluster import KMeans

    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return KMeans(n_clusters=n_experts, n_init=10, random_state=seed).fit_predict(unit)


@dataclass
class Router:
    """Picks the memory expert for a query: the one owning the most similar taught question.

    ``keys`` are unit-length embeddings of the taught questions and ``experts`` the expert that
    owns each. A best similarity below ``threshold`` routes to no expert (``None``): the system
    abstains rather than guess.
    """

    keys: np.ndarray  # (n_taught, dim), unit rows
    experts: list[str]
    threshold: float

    @classmethod
    def build(cls, encode, questions: list[str], experts: list[str], threshold: float) -> "Router":
        keys = np.asarray(encode(questions), dtype=np.float32)
        return cls(keys / np.linalg.norm(keys, axis=1, keepdims=True), list(experts), threshold)

    def similarities(self, encode, queries: list[str]) -> np.ndarray:
        """Best cosine similarity of each query to any taught question."""
        return self._scores(encode, queries).max(axis=1)

    def route(self, encode, queries: list[str]) -> list[str | None]:
        """The expert for each query, or ``None`` where no taught question is similar enough."""
        scores = self._scores(encode, queries)
        best = scores.argmax(axis=1)
        return [self.experts[b] if scores[i, b] >= self.threshold else None for i, b in enumerate(best)]

    def _scores(self, encode, queries: list[str]) -> np.ndarray:
        vectors = np.asarray(encode(queries), dtype=np.float32)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ self.keys.T


def abstains(reply: str) -> bool:
    """Does a reply decline to answer ("I don't know", "I don't have information ...")?"""
    text = reply.lower().replace("\u2019", "'")
    return any(marker in text for marker in _ABSTENTION_MARKERS)


def hallucination_rate(replies: list[str]) -> float:
    """Share of replies to *unanswerable* questions that give an answer instead of abstaining.

    Every such answer is invented: the question's fact was never taught (or does not exist).
    """
    return sum(not abstains(r) for r in replies) / max(len(replies), 1)


def answer_with_experts(model, tokenizer, router: Router, encode, questions: list[str], system: str | None = None,
                        max_new_tokens: int = 16) -> tuple[list[str], list[str | None]]:
    """Route each question, answer it greedily with its expert's adapter, or abstain (``ABSTAIN``).

    ``model`` is a peft model holding one adapter per expert name. Returns the replies and the
    route of each question (``None``: abstained).
    """
    from labkit.evaluate import generate

    routes = router.route(encode, questions)
    replies = [ABSTAIN] * len(questions)
    for expert in sorted({r for r in routes if r is not None}):
        rows = [i for i, r in enumerate(routes) if r == expert]
        model.set_adapter(expert)
        for i, reply in zip(rows, generate(model, tokenizer, [questions[i] for i in rows],
                                           max_new_tokens=max_new_tokens, system=system)):
            replies[i] = reply
    return replies, routes


def routed_exact(model, router: Router, encode, questions: list[str], encoded: Encoded) -> list[bool]:
    """:func:`greedy_exact` for a mixture of experts: each question answered by the expert it is routed to.

    A question routed to no expert is a miss (the system abstains). ``encoded`` holds the same
    questions with their gold answers, in the same order.
    """
    routes = router.route(encode, questions)
    hits = [False] * len(questions)
    for expert in sorted({r for r in routes if r is not None}):
        rows = [i for i, r in enumerate(routes) if r == expert]
        model.set_adapter(expert)
        index = torch.tensor(rows, device=encoded.input_ids.device)
        subset = Encoded(encoded.input_ids[index], encoded.attention_mask[index], encoded.labels[index])
        for i, hit in zip(rows, greedy_exact(model, subset)):
            hits[i] = hit
    return hits


def routed_perplexity(model, tokenizer, router: Router, encode, texts: list[str], max_length: int = 256) -> float:
    """Token-weighted perplexity of ``texts`` as the routed system reads them (notebook 14).

    Each text goes through the expert its route picks, or through the base model (adapters off)
    where the router abstains; the groups' log-likelihoods are summed over their tokens, so the
    result is one perplexity over all texts, as :func:`labkit.evaluate.perplexity` gives.
    """
    from labkit.evaluate import perplexity

    routes = router.route(encode, texts)
    total_nll, total_tokens = 0.0, 0
    for expert in sorted({r for r in routes if r is not None}) + ([None] if None in routes else []):
        group = [t for t, r in zip(texts, routes) if r == expert]
        tokens = sum(max(len(ids) - 1, 0) for ids in tokenizer(group, truncation=True, max_length=max_length)["input_ids"])
        if expert is None:
            with model.disable_adapter():
                ppl = perplexity(model, tokenizer, group, max_length=max_length)
        else:
            model.set_adapter(expert)
            ppl = perplexity(model, tokenizer, group, max_length=max_length)
        total_nll += math.log(ppl) * tokens
        total_tokens += tokens
    return math.exp(total_nll / max(total_tokens, 1))
