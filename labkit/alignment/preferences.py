"""Preference pairs whose ground truth a program can check: concise and correct beats the rest.

Every prompt is a small task with one right answer that can be computed from the prompt itself
(arithmetic, unit conversion, the day after Monday, a word spelled backwards ...). That makes the
preference *checkable*: :func:`score` reads the prompt, works out the answer and rates a reply by

* **correctness** (1 or 0): the right answer is in the reply and no competing answer is, so a reply
  that lists several numbers to hedge its bets scores 0;
* **brevity** (1 down to 0): full marks up to :data:`CONCISE_WORDS` words, nothing from
  :data:`VERBOSE_WORDS` words on, linear in between; weighted by :data:`BREVITY_WEIGHT`.

Reward models (notebook 17) learn this preference from the pairs; PPO, DPO and their relatives
(notebooks 18-19) use :func:`score` as the true reward, so their effect is measured, not guessed.
Each pair records its ``flaw``: the rejected reply is either ``verbose`` (right but padded) or
``wrong`` (short but incorrect), so a model that only learned "shorter is better" is caught out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

from labkit.data import load_jsonl

FILE = "preferences.jsonl"
CONCISE_WORDS = 6  # replies this short get full brevity marks
VERBOSE_WORDS = 30  # replies this long get none
BREVITY_WEIGHT = 0.5  # brevity counts half as much as being right

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
WORDS = ["garden", "planet", "window", "silver", "pencil", "rocket", "castle", "forest", "bridge", "candle",
         "mirror", "tunnel", "basket", "dragon", "island", "orange", "wizard", "lemon", "tiger", "cloud",
         "river", "stone", "apple", "music", "paper", "chair", "horse", "light", "smile", "ocean"]

# Placeholder -> the pattern it matches in a prompt. A task's templates double as its parsers.
SLOTS = {"a": r"\d+", "b": r"\d+", "n": r"\d+", "word": r"[a-z]+",
         "day": "|".join(d.capitalize() for d in DAYS), "month": "|".join(m.capitalize() for m in MONTHS)}


@dataclass(frozen=True)
class Task:
    """A family of prompts with a computable answer: templates, how to fill them, how to solve them.

    ``kind`` says what competes with the answer in a reply: ``number``, ``day``, ``month`` or
    ``word`` (for words only the answer's presence is checked).
    """

    name: str
    templates: tuple[str, ...]
    fill: Callable[[random.Random], dict]
    solve: Callable[[dict], str]
    kind: str = "number"


def _pair(low: int, high: int, order: bool = False) -> Callable[[random.Random], dict]:
    def fill(rng: random.Random) -> dict:
        a, b = rng.randint(low, high), rng.randint(low, high)
        return {"a": max(a, b), "b": min(a, b)} if order else {"a": a, "b": b}
    return fill


def _convert(name: str, small: str, big: str, factor: int) -> Task:
    templates = (f"How many {small} are in {{n}} {big}?", f"Convert {{n}} {big} to {small}.")
    return Task(name, templates, lambda rng: {"n": rng.randint(2, 12)}, lambda f: str(int(f["n"]) * factor))


def _shift(names: list[str], step: int, key: str) -> Callable[[dict], str]:
    return lambda f: names[(names.index(f[key].lower()) + step) % len(names)].capitalize()


TASKS: tuple[Task, ...] = (
    Task("add", ("What is {a} plus {b}?", "Add {a} and {b}.", "What is the sum of {a} and {b}?",
                 "Compute {a} + {b}."), _pair(2, 60), lambda f: str(int(f["a"]) + int(f["b"]))),
    Task("subtract", ("What is {a} minus {b}?", "Subtract {b} from {a}.",
                      "If I have {a} apples and eat {b}, how many are left?"),
         _pair(2, 90, order=True), lambda f: str(int(f["a"]) - int(f["b"]))),
    Task("multiply", ("What is {a} times {b}?", "Multiply {a} by {b}.", "What is the product of {a} and {b}?"),
         _pair(2, 12), lambda f: str(int(f["a"]) * int(f["b"]))),
    _convert("meters", "meters", "kilometers", 1000),
    _convert("minutes", "minutes", "hours", 60),
    _convert("centimeters", "centimeters", "meters", 100),
    _convert("grams", "grams", "kilograms", 1000),
    Task("day-after", ("What day comes after {day}?", "If today is {day}, what day is tomorrow?",
                       "Which day of the week follows {day}?"),
         lambda rng: {"day": rng.choice(DAYS).capitalize()}, _shift(DAYS, 1, "day"), "day"),
    Task("day-before", ("What day comes before {day}?", "If today is {day}, what day was yesterday?"),
         lambda rng: {"day": rng.choice(DAYS).capitalize()}, _shift(DAYS, -1, "day"), "day"),
    Task("month-after", ("Which month comes after {month}?", "What month follows {month}?"),
         lambda rng: {"month": rng.choice(MONTHS).capitalize()}, _shift(MONTHS, 1, "month"), "month"),
    Task("reverse", ("Spell the word '{word}' backwards.", "Write '{word}' in reverse.",
                     "What is '{word}' spelled backwards?"),
         lambda rng: {"word": rng.choice(WORDS)}, lambda f: f["word"][::-1], "word"),
    Task("letters", ("How many letters are in the word '{word}'?", "Count the letters in '{word}'."),
         lambda rng: {"word": rng.choice(WORDS)}, lambda f: str(len(f["word"]))),
)


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, slot, literal, slot, ...
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{SLOTS[p]})" for i, p in enumerate(parts))
    return re.compile(regex + r"$")


_PARSERS = [(task, _pattern(t)) for task in TASKS for t in task.templates]


def parse(prompt: str) -> tuple[Task, str] | None:
    """The task a prompt belongs to and its right answer; None for a prompt from elsewhere."""
    for task, pattern in _PARSERS:
        match = pattern.match(prompt.strip())
        if match:
            return task, task.solve(match.groupdict())
    return None


def _tokens(text: str) -> list[str]:
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())  # 5,000 -> 5000
    return re.findall(r"[a-z]+|\d+", text)


def _candidates(tokens: list[str], kind: str) -> set[str]:
    """The tokens that could be an answer of this kind (numbers, day or month names)."""
    pool = {"number": None, "day": DAYS, "month": MONTHS}.get(kind, [])
    return {t for t in tokens if (t.isdigit() if pool is None else t in pool)}


def correct(prompt: str, response: str) -> bool:
    """True when the reply holds the right answer and no competing answer the prompt did not mention."""
    parsed = parse(prompt)
    if parsed is None:
        return False
    task, answer = parsed
    answer, said = answer.lower(), _tokens(response)
    if answer not in said:
        return False
    extra = _candidates(said, task.kind) - _candidates(_tokens(prompt), task.kind)
    return extra <= {answer}


def brevity(response: str) -> float:
    """1 for a reply of at most CONCISE_WORDS words, 0 from VERBOSE_WORDS words on, linear between."""
    words = len(response.split())
    return min(1.0, max(0.0, (VERBOSE_WORDS - words) / (VERBOSE_WORDS - CONCISE_WORDS)))


def score(prompt: str, response: str) -> float:
    """The ground-truth reward of a reply, in [0, 1.5]: correctness + BREVITY_WEIGHT * brevity.

    A prompt from outside the course's tasks cannot be checked for correctness, so only brevity
    counts there.
    """
    return float(correct(prompt, response)) + BREVITY_WEIGHT * brevity(response)


# --- writing the pairs -------------------------------------------------------------------------

CONCISE = ["{answer}", "{answer}.", "The answer is {answer}.", "It is {answer}.", "It's {answer}."]
OPENERS = ["Great question! Let me think about this carefully before I answer.",
           "Sure, I would be happy to help you with that one.",
           "That is an interesting question, so let us work through it together step by step.",
           "Thanks for asking! This is something many people wonder about."]
CLOSERS = ["I hope this explanation helps, and feel free to ask if anything is still unclear!",
           "Let me know if you would like me to explain any part of this in more detail.",
           "It is always a good idea to double-check such things yourself, of course.",
           "Please do not hesitate to reach out with any other questions you might have."]
MIDDLES = ["After going over it carefully, the answer is {answer}.", "So, putting it all together, it is {answer}.",
           "Working it out gives {answer} as the result."]


def _wrong(task: Task, answer: str, rng: random.Random) -> str:
    """A plausible wrong answer of the same kind: off by a little, the wrong day, a misspelling."""
    if task.kind == "number":
        return str(max(0, int(answer) + rng.choice([-10, -2, -1, 1, 2, 10]))) if answer != "0" else "1"
    if task.kind in ("day", "month"):
        names = DAYS if task.kind == "day" else MONTHS
        return rng.choice([n for n in names if n != answer.lower()]).capitalize()
    i = rng.randrange(len(answer) - 1)  # a word: swap two neighbouring letters (or leave it unreversed)
    swapped = answer[:i] + answer[i + 1] + answer[i] + answer[i + 2:]
    return swapped if swapped != answer else answer[::-1]


def make_pair(rng: random.Random, flaw: str) -> dict:
    """One preference pair: a concise right reply vs a ``verbose`` right one or a ``wrong`` short one."""
    task = rng.choice(TASKS)
    prompt = rng.choice(task.templates).format(**task.fill(rng))
    answer = parse(prompt)[1]
    chosen = rng.choice(CONCISE).format(answer=answer)
    if flaw == "verbose":
        rejected = " ".join([rng.choice(OPENERS), rng.choice(MIDDLES).format(answer=answer), rng.choice(CLOSERS)])
    else:
        rejected = rng.choice(CONCISE).format(answer=_wrong(task, answer, rng))
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "task": task.name, "flaw": flaw}


def make_pairs(n: int, seed: int = 0, split: str = "train") -> list[dict]:
    """``n`` pairs, half with a verbose and half with a wrong rejected reply, no prompt repeated."""
    rng, pairs, seen = random.Random(seed), [], set()
    while len(pairs) < n:
        pair = make_pair(rng, "verbose" if len(pairs) % 2 == 0 else "wrong")
        if pair["prompt"] not in seen:
            seen.add(pair["prompt"])
            pairs.append({**pair, "split": split})
    return pairs


def build_file(n_train: int = 320, n_test: int = 60, seed: int = 0) -> list[dict]:
    """The records of ``data/preferences.jsonl``: train and test prompts never overlap."""
    train = make_pairs(n_train, seed, "train")
    seen = {p["prompt"] for p in train}
    test = [p for p in make_pairs(n_test + n_train, seed + 1, "test") if p["prompt"] not in seen][:n_test]
    return train + test


# --- loading -----------------------------------------------------------------------------------

def load(split: str | None = None) -> list[dict]:
    """The course's preference pairs (checked line by line), optionally one ``split`` only."""
    records = load_jsonl(FILE, "preference")
    return [r for r in records if split is None or r.get("split") == split]


def conversational(records: list[dict]) -> list[dict]:
    """Pairs in TRL's conversational preference format (chat messages), which TRL's trainers
    turn into chat-template text themselves."""
    return [{"prompt": [{"role": "user", "content": r["prompt"]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in records]
