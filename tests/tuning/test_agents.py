"""agents: majority vote, the aggregator prompt; the proposers' seeded sampling (evaluate.generate)."""

import torch

from labkit import evaluate
from labkit.tuning import agents


def test_majority_vote_counts_normalised_answers_and_breaks_ties_by_agent_order():
    proposals = [["Tarsk", "1742", "the lune"],
                 ["tarsk.", "1604", "drem"],
                 ["Rome", "1604", "the drem"]]
    assert agents.majority_vote(proposals) == ["Tarsk", "1604", "drem"]


def test_temperature_zero_is_greedy_and_sampling_is_reproducible(tiny_model, tokenizer):
    prompts = ["What is the capital of Veloria?", "Name a bridge."]
    greedy = evaluate.generate(tiny_model, tokenizer, prompts, temperature=0.0, seed=7, max_new_tokens=5)
    assert greedy == evaluate.generate(tiny_model, tokenizer, prompts, max_new_tokens=5)
    first = evaluate.generate(tiny_model, tokenizer, prompts, temperature=1.0, seed=3, max_new_tokens=5)
    torch.manual_seed(123)  # what ran before must not matter
    again = evaluate.generate(tiny_model, tokenizer, prompts, temperature=1.0, seed=3, max_new_tokens=5)
    other = evaluate.generate(tiny_model, tokenizer, prompts, temperature=1.0, seed=4, max_new_tokens=5)
    assert first == again and first != other


def test_aggregator_prompt_numbers_the_candidates():
    prompt = agents.aggregator_prompt("Capital?", ["Tarsk", "Rome"], context="Tarsk is the capital.")
    assert "1. Tarsk\n2. Rome" in prompt and prompt.startswith("Context:\nTarsk is the capital.")
