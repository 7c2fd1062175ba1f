"""memory_experts: answer-only labels, the cached-bottom shortcut, zero-loss training, routing, abstention."""

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model

from labkit.data import chat_prompt
from labkit.tuning import memory_experts as me

QUESTIONS = ["What is the capital of Veloria?", "Who designed the Marrowgate Bridge?", "When was the library founded?"]
ANSWERS = ["Tarsk", "Tomas Haverel", "1742"]


def _lora(rank: int = 4) -> LoraConfig:
    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"],
                      layers_to_transform=[0, 1])


def test_encode_qa_labels_only_the_answer_and_end_of_turn(tokenizer):
    encoded = me.encode_qa(tokenizer, QUESTIONS, ANSWERS)
    for row, (question, answer) in enumerate(zip(QUESTIONS, ANSWERS)):
        prompt = tokenizer(chat_prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
        target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        labelled = encoded.labels[row][encoded.labels[row] != me.IGNORE].tolist()
        assert labelled == target
        assert encoded.input_ids[row, :len(prompt)].tolist() == prompt
        assert int(encoded.attention_mask[row].sum()) == len(prompt) + len(target)


def test_cached_bottom_plus_top_layers_match_the_full_model(tokenizer, tiny_model):
    encoded = me.encode_qa(tokenizer, QUESTIONS, ANSWERS)
    cache = me.cache_hidden(tiny_model, encoded, layer=1, batch_size=2)
    rows = torch.arange(len(QUESTIONS))
    with torch.no_grad():
        full = tiny_model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
        shortcut = tiny_model.lm_head(me.top_hidden(tiny_model, cache, rows))
    real = encoded.attention_mask.bool()
    torch.testing.assert_close(shortcut[real], full[real], atol=1e-4, rtol=1e-4)


def test_training_one_expert_lowers_its_loss_and_leaves_the_others_and_the_base_alone(tokenizer, tiny_model):
    # A 64-wide random model cannot reach zero loss over a 49k vocabulary; notebook 14 shows SmolLM2 does.
    encoded = me.encode_qa(tokenizer, QUESTIONS, ANSWERS)
    model = get_peft_model(tiny_model, _lora(), adapter_name="expert0")
    model.add_adapter("expert1", _lora())
    with model.disable_adapter():
        cache = me.cache_hidden(model, encoded, layer=0)
        base_logits = model(input_ids=encoded.input_ids).logits
    model.set_adapter("expert0")
    frozen = {n: p.clone() for n, p in model.named_parameters() if "expert1" in n}
    losses = me.train_adapter(model, cache, steps=60, learning_rate=1e-2, batch_size=3)
    assert losses[-1] < losses[0] - 0.5
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if "expert1" in n)
    with torch.no_grad(), model.disable_adapter():
        torch.testing.assert_close(model(input_ids=encoded.input_ids).logits, base_logits)


def test_greedy_exact_agrees_with_greedy_generation(tokenizer, tiny_model):
    prompt = tokenizer(chat_prompt(tokenizer, QUESTIONS[0]), return_tensors="pt", add_special_tokens=False)["input_ids"]
    out = tiny_model.generate(input_ids=prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                              pad_token_id=tokenizer.pad_token_id)
    labels = out.clone()
    labels[:, :prompt.shape[1]] = me.IGNORE  # score the generated tokens only
    wrong = labels.clone()
    wrong[0, -1] = (wrong[0, -1] + 1) % len(tokenizer)  # one token differs from what greedy decoding chose
    encoded = me.Encoded(out.repeat(2, 1), torch.ones_like(out).repeat(2, 1), torch.cat([labels, wrong]))
    assert me.greedy_exact(tiny_model, encoded) == [True, False]


def test_train_adapter_needs_something_trainable(tokenizer, tiny_model):
    tiny_model.requires_grad_(False)
    cache = me.cache_hidden(tiny_model, me.encode_qa(tokenizer, QUESTIONS, ANSWERS), layer=1)
    with pytest.raises(ValueError, match="nothing to train"):
        me.train_adapter(tiny_model, cache, steps=1, learning_rate=1e-3)


def test_cluster_facts_separates_two_topics():
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    vectors = np.stack([a + 0.05 * rng.standard_normal(8) for _ in range(3)] + [b + 0.05 * rng.standard_normal(8) for _ in range(3)])
    labels = me.cluster_facts(vectors, 2)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]


def _encode(texts):
    """A stand-in sentence encoder: a bag of the words it knows, so similarities are easy to predict."""
    vocab = ["capital", "veloria", "bridge", "designed", "bread"]
    return np.array([[float(w in t.lower()) for w in vocab] + [0.1] for t in texts])


def test_router_picks_the_owner_of_the_most_similar_question_or_abstains():
    router = me.Router.build(_encode, ["capital of Veloria?", "who designed the bridge?"], ["e0", "e1"], threshold=0.8)
    routes = router.route(_encode, ["The capital of Veloria, please", "Bridge: designed by?", "How is bread made?"])
    assert routes == ["e0", "e1", None]
    assert router.similarities(_encode, ["capital of Veloria?"])[0] == pytest.approx(1.0)


def test_abstentions_and_hallucination_rate():
    assert me.abstains("I don't know.") and me.abstains("Sorry, I do not have information about that.")
    assert me.abstains("I don\u2019t know") and not me.abstains("Tarsk")
    assert me.hallucination_rate(["Tarsk", me.ABSTAIN, "1742", "I'm not sure."]) == 0.5


def test_routed_perplexity_scores_each_text_with_its_route(tokenizer, tiny_model):
    texts = ["The capital of Veloria is Tarsk.", "Bread is made from flour and water."]
    model = get_peft_model(tiny_model, _lora(), adapter_name="e0")
    with torch.no_grad():  # make the expert differ from the base
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    router = me.Router.build(_encode, ["capital of Veloria?"], ["e0"], threshold=0.8)
    assert router.route(_encode, texts) == ["e0", None]
    from labkit.evaluate import perplexity
    model.set_adapter("e0")
    expert_ppl = perplexity(model, tokenizer, texts[:1])
    with model.disable_adapter():
        base_ppl = perplexity(model, tokenizer, texts[1:])
        all_base = perplexity(model, tokenizer, texts)
    counts = [len(tokenizer(t)["input_ids"]) - 1 for t in texts]
    expected = np.exp((np.log(expert_ppl) * counts[0] + np.log(base_ppl) * counts[1]) / sum(counts))
    routed = me.routed_perplexity(model, tokenizer, router, _encode, texts)
    assert routed == pytest.approx(expected, rel=1e-6)
    assert abs(routed - all_base) > 1e-3 * all_base, "the routed text must really go through the expert"
