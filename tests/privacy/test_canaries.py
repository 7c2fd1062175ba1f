import math

import numpy as np
import pytest
import torch

from labkit import models
from labkit.privacy import canaries


@pytest.fixture(scope="module")
def lm_and_tokenizer():
    tokenizer = models.load_tokenizer(models.SMOLLM2)  # real digit-by-digit tokenisation
    return models.tiny_llama(seed=0, vocab_size=len(tokenizer)).eval(), tokenizer


def test_exposure_is_log2_candidates_minus_log2_rank():
    scores = np.arange(1000, dtype=float)  # secret 999 most likely
    assert canaries.exposure(scores, (9, 9, 9)) == pytest.approx(math.log2(1000))
    assert canaries.exposure(scores, (9, 9, 6)) == pytest.approx(math.log2(1000) - 2)
    assert canaries.exposure(np.zeros(1000), (1, 2, 3)) == pytest.approx(0.0)  # ties count against the secret


def test_canaries_are_seeded_and_read_as_a_pin():
    a, b = canaries.make_canaries(["Ana", "Omar"], seed=3), canaries.make_canaries(["Ana", "Omar"], seed=3)
    assert a == b and a[0].text.startswith("Ana's PIN is ") and len(a[0].secret) == 3
    assert a[0].text.endswith(".") and a[0].text.count("-") == 2


def test_candidate_scores_match_the_full_model_log_likelihood(lm_and_tokenizer):
    lm, tokenizer = lm_and_tokenizer
    canary = canaries.Canary("Ana's PIN is", (4, 7, 1))
    scores = canaries.candidate_scores(canaries.candidate_cache(lm, tokenizer, canary), lm.lm_head, None)
    assert scores.shape == (1000,) and np.exp(scores).sum() <= 1.0 + 1e-4
    for secret in [(4, 7, 1), (0, 0, 9), (9, 3, 0)]:
        ids = tokenizer(canaries.Canary(canary.prefix, secret).text[:-1], return_tensors="pt")["input_ids"]
        with torch.no_grad():
            lp = torch.log_softmax(lm(ids).logits[0].float(), -1)
        direct = sum(lp[p - 1, ids[0, p]].item() for p in range(ids.shape[1] - 5, ids.shape[1], 2))
        assert scores[int("".join(map(str, secret)))] == pytest.approx(direct, abs=1e-3)


def test_an_untrained_lora_head_changes_nothing(lm_and_tokenizer):
    lm, tokenizer = lm_and_tokenizer
    lora = canaries.LoraHead(lm.config.hidden_size, lm.config.vocab_size)
    h = torch.randn(2, 3, lm.config.hidden_size)
    assert torch.allclose(canaries.AdaptedHead(lm.lm_head, lora)(h), lm.lm_head(h))
    assert canaries.extract(lm, tokenizer, "Ana's PIN is", lora) == canaries.extract(lm, tokenizer, "Ana's PIN is", None)
    assert lm.lm_head.__class__.__name__ == "Linear"  # extract puts the original head back


def test_plain_training_memorises_a_canary_and_dp_reports_its_epsilon(lm_and_tokenizer):
    lm, tokenizer = lm_and_tokenizer
    canary = canaries.Canary("Ana's PIN is", (5, 2, 8))
    texts = ["The blender arrived broken.", "Please merge my two accounts."] * 4 + [canary.text] * 4
    dataset = canaries.cache_training_data(lm, tokenizer, texts, max_length=16)
    cache = canaries.candidate_cache(lm, tokenizer, canary)
    plain, eps = canaries.train_lora_head(dataset, epochs=15, lr=2e-2, batch_size=4)
    assert eps is None
    assert canaries.exposure(canaries.candidate_scores(cache, lm.lm_head, plain), canary.secret) > 8
    pytest.importorskip("opacus")
    _, eps = canaries.train_lora_head(dataset, epochs=2, lr=2e-2, batch_size=4, target_epsilon=4.0)
    assert eps == pytest.approx(4.0, rel=0.1)
