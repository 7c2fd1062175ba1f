import pytest

from labkit.errors import DataError
from labkit.evaluation.choice import pick


def test_length_normalisation_changes_the_pick():
    options = ["no", "the river that runs through the old town"]
    logprobs = [-3.0, -12.0]          # per char: -1.5 vs -0.3
    assert pick(logprobs, options) == 0
    assert pick(logprobs, options, normalise="char") == 1


def test_pick_rejects_bad_input():
    with pytest.raises(DataError):
        pick([-1.0], ["a", "b"])
    with pytest.raises(DataError):
        pick([-1.0, -2.0], ["a", "b"], normalise="token")


def test_option_logprobs_scores_only_the_option(tiny_model, tokenizer):
    import torch

    from labkit.evaluation.choice import option_logprobs

    prompt, option = "Question: the code word?\nAnswer:", " Tarsk"
    ids = tokenizer(prompt + option, return_tensors="pt")["input_ids"]
    n = len(ids[0]) - len(tokenizer(prompt)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(tiny_model(ids).logits[0, -n - 1:-1].float(), dim=-1)
    expected = float(logp.gather(1, ids[0, -n:, None]).sum())
    got = option_logprobs(tiny_model, tokenizer, prompt, [option, " no"])
    assert got[0] == pytest.approx(expected, rel=1e-4)
    assert len(got) == 2 and got[0] != got[1]
    # the shorter option is right-padded in the batch; alone it has no padding, and its score is the same
    assert got[1] == pytest.approx(option_logprobs(tiny_model, tokenizer, prompt, [" no"])[0], rel=1e-4)
