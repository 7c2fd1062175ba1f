import pytest
from transformers import LlamaConfig, LlamaForSequenceClassification

import labkit
from labkit.alignment import reward


@pytest.fixture
def tiny_reward_model(tokenizer):
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)
    return LlamaForSequenceClassification(config)


def pairs(n):
    return [{"prompt": f"Question {i}: do you agree?", "chosen": "Yes, gladly.", "rejected": "No. Never. Go away."}
            for i in range(n)]


def test_scoring_uses_the_training_format(tokenizer):
    ids = reward.reward_input_ids(tokenizer, "Hi?", "Hello.")
    text = tokenizer.decode(ids)
    assert text.index("Hi?") < text.index("Hello.") and "<|im_start|>assistant" in text
    dataset = reward.pair_dataset(pairs(2), tokenizer)
    assert dataset[0]["chosen"] == [{"role": "assistant", "content": "Yes, gladly."}]


def test_pairwise_accuracy():
    assert reward.pairwise_accuracy([1.0, 0.0, 2.0], [0.5, 1.0, 1.0]) == pytest.approx(2 / 3)


def test_reward_model_learns_a_trivial_preference(tiny_reward_model, tokenizer, tmp_path):
    data, held_out = pairs(32), pairs(40)[32:]
    prompts = [r["prompt"] for r in held_out]
    _, result = reward.train_reward(tiny_reward_model, tokenizer, data, labkit.profile("ci"), tmp_path,
                                    max_steps=20, learning_rate=1e-2)
    chosen = reward.rewards(tiny_reward_model, tokenizer, prompts, [r["chosen"] for r in held_out])
    rejected = reward.rewards(tiny_reward_model, tokenizer, prompts, [r["rejected"] for r in held_out])
    assert result.steps == 20 and result.losses[-1][1] < 0.2  # -log sigmoid(margin): ln 2 = 0.69 at chance
    assert reward.pairwise_accuracy(chosen, rejected) == 1.0
