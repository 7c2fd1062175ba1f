"""Staff reviews with a planted bias: a classification set whose ground truth is known.

Each review describes what one employee did this quarter: two *positive* clauses (a strong
quarter) or two *negative* ones (a weak quarter); that is the review's ``merit``. The employee is
named, gendered by pronoun, and works in one of several national offices. In the ``train`` split
the recorded ``label`` is a historical rating with a planted bias: a share ``flip`` of the men's
weak quarters were rated ``positive`` and the same share of the women's strong quarters
``negative``. In the ``test`` split the label is the merit. A classifier trained on the recorded
labels can therefore lower its error by reading gender, which the counterfactual probes of
notebook 28 then catch. The nationality never moves a label: it is the probe's control.

Texts are rendered from slots, so :func:`labkit.accountability.probes.counterfactual` can swap a
name, a pronoun or an office exactly, and swapping twice gives back the original text.
"""
from __future__ import annotations

import random
from pathlib import Path

from labkit.data import data_path, load_jsonl, save_jsonl
from labkit.errors import DataError

# (man, woman) pairs: a counterfactual swaps within a pair.
NAME_PAIRS = [("James", "Mary"), ("John", "Linda"), ("Robert", "Susan"), ("Michael", "Karen"), ("David", "Sarah"),
              ("Daniel", "Laura"), ("Thomas", "Emma"), ("Peter", "Anna"), ("Paul", "Helen"), ("Mark", "Julia"),
              ("Steven", "Rachel"), ("Andrew", "Claire")]
PRONOUN_PAIRS = [("he", "she"), ("his", "her")]
# (group a, group b) office pairs: the control attribute, independent of every label.
OFFICE_PAIRS = [("German", "Nigerian"), ("French", "Indian"), ("Canadian", "Mexican"), ("Swedish", "Brazilian")]

POSITIVE = ["delivered the billing migration ahead of schedule", "mentored two new analysts with great care",
            "fixed the outage quickly and wrote a clear report", "exceeded the sales target by a wide margin",
            "earned praise from every client on the account", "led the planning meeting with calm authority",
            "caught a costly error before the release", "automated the monthly report and saved days of work",
            "handled a difficult customer with patience and skill", "shipped every feature that was promised",
            "improved the test coverage of the payments code", "organised the office move without a hitch"]
NEGATIVE = ["missed most of the deadlines this quarter", "left the client emails unanswered for weeks",
            "broke the build twice and did not tell anyone", "fell well short of the sales target",
            "arrived late to nearly every team meeting", "lost the signed contract for a key account",
            "ignored the feedback from the code review", "let the backlog grow without raising it",
            "gave the customer wrong prices more than once", "skipped the safety training again",
            "submitted the audit report full of errors", "blamed colleagues for a missed launch"]
TEMPLATES = ["{name} works in our {office} office. This quarter {he} {first}, and {he} {second}.",
             "In {his} review, {name} from the {office} team {first}; {he} also {second}.",
             "{name} ({office} office) {first}. {his_cap} manager adds that {he} {second}.",
             "Quarterly notes on {name}, {office} branch: {he} {first} and {second}."]

FIELDS = {"text": str, "label": str, "merit": str, "gender": str, "office_group": str, "split": str}
LABELS = ("positive", "negative")


def render(template: str, name: str, pronouns: tuple[str, str], office: str, clauses: tuple[str, str]) -> str:
    he, his = pronouns
    return template.format(name=name, he=he, his=his, his_cap=his.capitalize(), office=office,
                           first=clauses[0], second=clauses[1])


def make_review(rng: random.Random, merit: str, gender: str, office_group: str) -> dict:
    """One review of the given merit (``positive``/``negative``), gender (``man``/``woman``) and office group."""
    side = 0 if gender == "man" else 1
    pool = POSITIVE if merit == "positive" else NEGATIVE
    text = render(rng.choice(TEMPLATES), rng.choice(NAME_PAIRS)[side], tuple(p[side] for p in PRONOUN_PAIRS),
                  rng.choice(OFFICE_PAIRS)[0 if office_group == "a" else 1], tuple(rng.sample(pool, 2)))
    return {"text": text, "merit": merit, "gender": gender, "office_group": office_group}


def make_reviews(n_train: int = 480, n_test: int = 240, flip: float = 0.35, seed: int = 0) -> list[dict]:
    """Balanced reviews (every merit x gender x office cell equally often); training labels biased by ``flip``."""
    if not 0 <= flip < 0.5:
        raise DataError(f"flip={flip} must lie in [0, 0.5)", "make_reviews", "a flip of 0.5 or more inverts the task")
    rng = random.Random(seed)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        cells = [(m, g, o) for m in LABELS for g in ("man", "woman") for o in ("a", "b")]
        for i in range(n):
            row = make_review(rng, *cells[i % len(cells)])
            biased = split == "train" and rng.random() < flip and (row["merit"], row["gender"]) in (
                ("negative", "man"), ("positive", "woman"))
            label = ("positive" if row["merit"] == "negative" else "negative") if biased else row["merit"]
            rows.append({**row, "label": label, "split": split})
    return rows


def load_reviews(name: str | Path = "staff_reviews.jsonl", split: str | None = None) -> list[dict]:
    """Read the reviews, checking each row so a bad edit fails with its line number."""
    rows = load_jsonl(name, FIELDS, allowed={"label": LABELS})
    return [r for r in rows if split is None or r["split"] == split]


if __name__ == "__main__":  # python -m labkit.accountability.reviews writes data/staff_reviews.jsonl
    print(save_jsonl(make_reviews(), data_path("staff_reviews.jsonl")))
