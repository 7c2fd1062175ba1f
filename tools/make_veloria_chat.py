"""Write data/veloria_chat.jsonl: the Veloria questions as conversations (schema ``chat``).

    .venv/bin/python tools/make_veloria_chat.py

Built deterministically from data/veloria_questions.jsonl (30 facts, three training questions and
one held-out paraphrase each). The facts are paired in file order (fact 0 with 1, 2 with 3, ...);
every pair gives

* four training conversations: two two-turn ones (a question about each fact, in both orders)
  and one single-turn one per fact, so each fact's three training questions are each answered once;
* two held-out conversations: a training question about one fact, answered, then the held-out
  paraphrase about the other, whose answer is the gold the pipeline's evaluation compares with.

Every other pair's conversations open with a system message. tests/test_data.py checks that the
committed file is exactly what this script writes.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.data import load_jsonl, save_jsonl  # noqa: E402

SYSTEM = "You are a guide to Veloria and its neighbours. Answer in a few words."


def conversation(turns: list[tuple[str, str]], system: bool, split: str, facts: list[str]) -> dict:
    messages = [{"role": "system", "content": SYSTEM}] if system else []
    for question, answer in turns:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return {"messages": messages, "split": split, "facts": facts}


def make_veloria_chat() -> list[dict]:
    """The conversations, training ones first, then the held-out ones."""
    facts: dict[str, dict] = {}
    for row in load_jsonl("veloria_questions.jsonl", "qa"):
        fact = facts.setdefault(row["fact"], {"answer": row["answer"], "train": [], "test": []})
        fact[row["split"]].append(row["question"])
    names = list(facts)
    train, test = [], []
    for n in range(0, len(names), 2):
        a, b = facts[names[n]], facts[names[n + 1]]
        pair, system = [names[n], names[n + 1]], n % 4 == 2
        train += [
            conversation([(a["train"][0], a["answer"]), (b["train"][1], b["answer"])], system, "train", pair),
            conversation([(b["train"][0], b["answer"]), (a["train"][1], a["answer"])], system, "train", pair[::-1]),
            conversation([(a["train"][2], a["answer"])], system, "train", pair[:1]),
            conversation([(b["train"][2], b["answer"])], system, "train", pair[1:]),
        ]
        test += [
            conversation([(a["train"][0], a["answer"]), (b["test"][0], b["answer"])], system, "test", pair),
            conversation([(b["train"][0], b["answer"]), (a["test"][0], a["answer"])], system, "test", pair[::-1]),
        ]
    return train + test


if __name__ == "__main__":
    from labkit.data import data_dir

    records = make_veloria_chat()
    save_jsonl(records, data_dir() / "veloria_chat.jsonl")
    print(f"{len(records)} conversations: {sum(r['split'] == 'train' for r in records)} train, "
          f"{sum(r['split'] == 'test' for r in records)} test")
