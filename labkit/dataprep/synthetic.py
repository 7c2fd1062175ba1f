"""Synthetic training examples written by the instruct model, kept only if they pass checks.

A model can write new examples faster than people can, but it also writes empty, rambling,
off-topic or wrong ones (survey ch. 3, data augmentation and synthesis). The trick used here: ask
for text whose *label we already know*. We invent a product (name, category, price), ask the
model to advertise it in one sentence, and the extraction example is then "description -> the
JSON we started from", provided the description really mentions that name and that price.
:func:`quality_problem` checks exactly that, plus length and language; de-duplication against
the existing corpus is left to :mod:`labkit.dataprep.dedup`.
"""

from __future__ import annotations

import random
import re

from labkit.dataprep import cleaning
from labkit.tasks import formats

PROMPT = ("Write one sentence advertising the {name}, a {noun} that costs ${price}. "
          "Mention the name and the price.")


def product_briefs(n: int, seed: int = 0) -> list[dict]:
    """``n`` invented products (``name``, ``category``, ``price``) and the prompt for each."""
    rng = random.Random(seed)
    briefs = []
    for _ in range(n):
        item = formats.make_item(rng)
        noun = next(noun for nouns in formats.NOUNS.values() for noun in nouns if item["name"].endswith(" " + noun))
        price = f"{item['price']:.2f}" if isinstance(item["price"], float) else str(item["price"])
        briefs.append({"name": item["name"], "category": item["category"], "price": item["price"],
                       "prompt": PROMPT.format(name=item["name"], noun=noun.lower(), price=price)})
    return briefs


def prices_in(text: str) -> list[float]:
    """Every number in ``text`` (``$1,299.50`` -> 1299.5)."""
    return [float(m.replace(",", "")) for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def quality_problem(description: str, brief: dict, min_words: int = 6, max_words: int = 60) -> str | None:
    """Why a generated description is unusable as the input for ``brief``'s JSON, or None."""
    count = len(cleaning.words(description))
    if count == 0:
        return "empty"
    if not min_words <= count <= max_words:
        return "too short" if count < min_words else "too long"
    if cleaning.detect_language(description) not in ("en", "unknown"):
        return "wrong language"
    if brief["name"].casefold() not in description.casefold():
        return "name missing"
    if not any(abs(p - brief["price"]) < 0.005 for p in prices_in(description)):
        return "price missing or wrong"
    return None


def to_record(description: str, brief: dict) -> dict:
    """The extraction example for a description that passed :func:`quality_problem`."""
    from labkit.dataprep.messy_corpus import EXTRACT_INSTRUCTION

    return {"task": "extract", "instruction": EXTRACT_INSTRUCTION + description,
            "response": formats.gold_json(brief)}
