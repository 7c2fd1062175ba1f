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


def test_single_token_logprobs_match_option_logprobs(tiny_model, tokenizer):
    from labkit.evaluation.choice import option_logprobs, single_token_logprobs

    prompts = ["Question: What is 2 plus 3?\nAnswer: ", "Question: What is 4 plus 4?\nAnswer: "]
    options = [["5", "7", "1"], ["8", "2", "9"]]
    fast = single_token_logprobs(tiny_model, tokenizer, prompts, options)
    for p, row, got in zip(prompts, options, fast):
        assert got == pytest.approx(option_logprobs(tiny_model, tokenizer, p, row), rel=1e-3, abs=1e-3)
    assert len(set(fast[0])) == 3
    with pytest.raises(DataError, match="not one"):
        single_token_logprobs(tiny_model, tokenizer, prompts[:1], [["12"]])
