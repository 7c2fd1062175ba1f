"""Mixture of agents: several proposers answer, an aggregator combines (notebook 15, survey §6.7).

In the mixture-of-agents recipe (Wang et al., 2024) several LLMs ("proposers") answer the same
question and an "aggregator" LLM reads their answers and writes the final one. The proposers'
answers come from ``labkit.evaluate.generate`` (greedy, or sampled at a temperature with a seed).
Two aggregators are compared in the course:

* :func:`aggregator_prompt`: the model itself is asked to pick or fuse the proposals (the
  recipe as published, which needs a capable aggregator);
* :func:`majority_vote`: the most frequent (normalised) proposal wins, a non-LLM aggregator that
  works when the proposers are right more often than they agree on the same wrong answer.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from labkit.evaluate import normalize_answer


def majority_vote(proposals: Sequence[Sequence[str]]) -> list[str]:
    """Per question, the proposal whose normalised form is most frequent among the agents.

    ``proposals[a][q]`` is agent ``a``'s answer to question ``q``. Ties go to the form proposed
    first in agent order, so put the agent you trust most first.
    """
    chosen = []
    for answers in zip(*proposals, strict=True):
        forms = [normalize_answer(a) for a in answers]
        counts = Counter(forms)
        best = max(counts.values())
        winner = next(i for i, form in enumerate(forms) if counts[form] == best)
        chosen.append(answers[winner])
    return chosen


def aggregator_prompt(question: str, proposals: Sequence[str], context: str | None = None) -> str:
    """The user message for an LLM aggregator: the question, numbered candidate answers, a request."""
    candidates = "\n".join(f"{i}. {p}" for i, p in enumerate(proposals, 1))
    passage = f"Context:\n{context}\n\n" if context else ""
    return (f"{passage}Question: {question}\n\nCandidate answers from other assistants:\n{candidates}\n\n"
            "Some candidates may be wrong. Reply with the correct answer only, in a few words.")
