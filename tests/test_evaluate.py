import pytest
import torch

from peft import PrefixTuningConfig, PromptTuningConfig, get_peft_model

from labkit import evaluate

PROMPTS = ["The capital of France is", "One, two, three, four, five,", "Hello", "A cat sat on the mat and"]


def test_normalize_and_match():
    assert evaluate.normalize_answer("The  Blue Heron!") == "blue heron"
    assert evaluate.exact_match("a blue heron.", "A blue heron")
    assert evaluate.answer_in("The capital of Veloria is Tarsk.", "Tarsk")
    assert not evaluate.answer_in("Tarskville is big", "Tarsk")  # whole words only
    assert evaluate.match_rate(["Tarsk.", "Paris"], ["Tarsk", "Tarsk"]) == 0.5
    assert evaluate.match_rate(["It is Tarsk."], ["Tarsk"], strict=True) == 0.0
    with pytest.raises(ValueError):
        evaluate.match_rate(["a"], ["a", "b"])


def test_accuracy():
    assert evaluate.accuracy([1, 2, 3], [1, 2, 0]) == pytest.approx(2 / 3)


def test_perplexity_does_not_depend_on_batching(tiny_model, tokenizer):
    texts = ["A short one.", "A somewhat longer sentence about rivers and bridges.", "Third text here, medium."]
    one = evaluate.perplexity(tiny_model, tokenizer, texts, batch_size=1)
    three = evaluate.perplexity(tiny_model, tokenizer, texts, batch_size=3)
    assert one == pytest.approx(three, rel=1e-4)
    tokenizer.padding_side = "left"  # e.g. left behind by generation code: must not change the score
    try:
        assert evaluate.perplexity(tiny_model, tokenizer, texts, batch_size=3) == pytest.approx(three, rel=1e-4)
        assert tokenizer.padding_side == "left"
    finally:
        tokenizer.padding_side = "right"
    assert one > 1000  # a random model is close to uniform over 49k tokens


def test_generate_is_greedy_and_restores_padding_side(tiny_model, tokenizer):
    tokenizer.padding_side = "right"
    first = evaluate.generate(tiny_model, tokenizer, ["Hello?", "What is two plus two?"], max_new_tokens=5)
    again = evaluate.generate(tiny_model, tokenizer, ["Hello?", "What is two plus two?"], max_new_tokens=5)
    assert first == again and len(first) == 2
    assert tokenizer.padding_side == "right"


def test_completion_perplexity_scores_only_the_completion(tiny_model, tokenizer):
    import math

    import torch

    prompt, completion = "Question: what is the code word?\nAnswer:", " Tarsk"
    ids = tokenizer(prompt + completion, add_special_tokens=False, return_tensors="pt")["input_ids"]
    n = len(tokenizer(completion, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = tiny_model(input_ids=ids).logits[0, -n - 1:-1]
    expected = math.exp(torch.nn.functional.cross_entropy(logits, ids[0, -n:]).item())
    got = evaluate.completion_perplexity(tiny_model, tokenizer, [prompt], [completion])
    assert got == pytest.approx(expected, rel=1e-4)
    assert got != pytest.approx(evaluate.perplexity(tiny_model, tokenizer, [prompt + completion]), rel=1e-3)


def test_next_token_logits_match_the_full_forward_whatever_the_padding(tiny_model, tokenizer):
    tokenizer.padding_side = "right"
    prompts = ["The capital of France is", "Hello", "One, two, three, four, five, six,"]
    batched = evaluate.next_token_logits(tiny_model, tokenizer, prompts, batch_size=3)
    assert batched.shape == (3, tiny_model.config.vocab_size)
    for row, prompt in zip(batched, prompts):
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            alone = tiny_model(**ids).logits[0, -1]
        torch.testing.assert_close(row, alone, atol=1e-4, rtol=1e-4)
    assert tokenizer.padding_side == "right"


def last_token_logits_one_by_one(model, tokenizer, prompts):
    """The reference: each prompt alone, no padding, the logits at its last position."""
    with torch.no_grad():
        return torch.stack([model(**tokenizer(p, return_tensors="pt")).logits[0, -1] for p in prompts])


def test_answer_logits_match_each_prompt_alone(tiny_model, tokenizer):
    batched = evaluate.answer_logits(tiny_model, tokenizer, PROMPTS, mixed_precision=False)
    torch.testing.assert_close(batched, last_token_logits_one_by_one(tiny_model, tokenizer, PROMPTS), atol=1e-4, rtol=1e-4)


def test_answer_logits_restore_the_padding_side(tiny_model, tokenizer):
    tokenizer.padding_side = "left"
    try:
        evaluate.answer_logits(tiny_model, tokenizer, PROMPTS[:2])
        assert tokenizer.padding_side == "left"
    finally:
        tokenizer.padding_side = "right"  # the tokenizer fixture is shared by the whole session


@pytest.mark.parametrize("config", [
    PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3),  # virtual tokens in the sequence
    PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3),  # virtual tokens in the cache
], ids=["prompt-tuning", "prefix-tuning"])
def test_answer_logits_find_the_last_prompt_token_under_prompt_learning(tiny_model, tokenizer, config):
    model = get_peft_model(tiny_model, config)
    batched = evaluate.answer_logits(model, tokenizer, PROMPTS, mixed_precision=False)
    torch.testing.assert_close(batched, last_token_logits_one_by_one(model, tokenizer, PROMPTS), atol=1e-4, rtol=1e-4)
    assert evaluate.virtual_tokens_in_sequence(model) == (3 if config.peft_type == "PROMPT_TUNING" else 0)


def test_loss_by_part_splits_the_loss_at_the_assistant_header(tokenizer, tiny_model):
    from labkit import evaluate as ev

    row = {"prompt": [{"role": "user", "content": "What is the capital of Veloria?"}],
           "completion": [{"role": "assistant", "content": "Tarsk."}]}
    n_prompt, n_reply = ev.chat_token_counts(tokenizer, row)
    text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert n_prompt + n_reply == ids.shape[1] and n_reply >= 3  # "Tarsk." and the end of turn
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(tiny_model(input_ids=ids).logits[0, :-1], ids[0, 1:], reduction="none")
    parts = ev.loss_by_part(tiny_model, tokenizer, [row])
    assert parts["reply"] == pytest.approx(nll[n_prompt - 1:].mean().item(), rel=1e-5)
    assert parts["prompt"] == pytest.approx(nll[: n_prompt - 1].mean().item(), rel=1e-5)
