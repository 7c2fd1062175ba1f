"""Probe for notebook 20: on which generated multiple-choice task does temperature scaling lower ECE?

Run from notebooks/: `python ../drafts/calibration_probe.py [questions per set] [set seeds...]`
(60 and seed 0 gave the four-task figures in drafts/README, 100 and seeds 0 1 2 the three-seed ones).
"""
import random
import string
import sys
import time

import numpy as np

import labkit
from labkit import models
from labkit.evaluation import calibration, choice

LETTERS = string.ascii_uppercase
WORDS = ["cat", "dog", "house", "tree", "car", "book", "bird", "apple", "chair", "river", "cloud", "horse",
         "train", "phone", "table", "shoe"]


def shuffled(rng, right, wrongs):
    options = [right] + wrongs
    rng.shuffle(options)
    return [f" {o}" for o in options], options.index(right)


def single(rng):
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return (f"Question: What is {a} plus {b}?\nAnswer:",
            *shuffled(rng, a + b, rng.sample([x for x in range(2, 19) if x != a + b], 3)))


def larger(rng):
    a, b = rng.sample(range(10, 99), 2)
    return f"Question: Which number is larger, {a} or {b}?\nAnswer:", [f" {a}", f" {b}"], [a, b].index(max(a, b))


def after(rng):
    i = rng.randint(0, 23)
    right = LETTERS[i + 1]
    return (f"Question: Which letter comes right after {LETTERS[i]} in the alphabet?\nAnswer:",
            *shuffled(rng, right, rng.sample([x for x in LETTERS if x != right], 3)))


def plural(rng):
    w = rng.choice(WORDS)
    options, answer = shuffled(rng, w + "s", [w + "es", w + "ies", w])
    return f"Question: What is the plural of '{w}'?\nAnswer:", options, answer


def probe(model, tok, name, make, n, seed):
    rng = random.Random(seed)
    rows = [make(rng) for _ in range(n)]
    start = time.time()
    scores = np.array([choice.option_logprobs(model, tok, p, o) for p, o, _ in rows])
    labels = np.array([y for *_, y in rows])
    idx = np.arange(n)
    before, after_t, temps = np.zeros(n), np.zeros(n), []
    for fold in (0, 1):  # fit T on one half, score the other, and the other way round
        fit, held = idx % 2 == fold, idx % 2 != fold
        t = calibration.fit_temperature(scores[fit], labels[fit])
        temps.append(round(t, 2))
        before[held] = calibration.softmax(scores[held]).max(1)
        after_t[held] = calibration.softmax(scores[held], t).max(1)
    correct = scores.argmax(1) == labels
    print(f"seed {seed} {name}: acc {correct.mean():.2f}, confidence {before.mean():.2f} -> {after_t.mean():.2f}, "
          f"ECE {calibration.ece(before, correct):.3f} -> {calibration.ece(after_t, correct):.3f}, T {temps}, "
          f"{time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seeds = [int(s) for s in sys.argv[2:]] or [0, 1, 2]
    profile = labkit.profile()
    labkit.set_seed(0)
    tok = models.load_tokenizer(profile.lm)
    model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
    for seed in seeds:
        for name, make in [("sums", single), ("larger", larger), ("letter after", after), ("plurals", plural)]:
            probe(model, tok, name, make, n, seed)
