"""A strict output format and its compliance checker: product descriptions -> one JSON object.

Instruction tuning (notebook 05) teaches a model to answer *in a format a program can use*. Here
the format is a JSON object with exactly three keys::

    {"name": "Korvella Storm Jacket", "category": "clothing", "price": 89.99}

``name`` is a string, ``category`` one of :data:`CATEGORIES`, ``price`` a number (not ``"$89.99"``).
Compliance is decided by a program, never by eye:

* :func:`check` parses a reply **strictly** (``json.loads`` of the whole reply: a code fence or a
  sentence around the object is a failure, because the program downstream would fail too) and
  validates the schema, naming the first problem it finds;
* field correctness is measured against the gold record on a **lenient** parse (the first JSON
  object found anywhere in the reply), so "right content, wrong wrapping" is told apart from
  "wrong content".

The descriptions come from :func:`make_item`, a generator with invented brands (the model cannot
know them), varied sentence templates and price spellings; ``data/products.jsonl`` is its output.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from labkit.data import load_jsonl
from labkit.errors import DataError

FILE = "products.jsonl"
CATEGORIES = ("clothing", "electronics", "kitchen", "toys", "garden", "sports")
KEYS = ("name", "category", "price")
INSTRUCTION = ("Extract the product from the description. Reply with only a JSON object: "
               '{"name": string, "category": one of ' + "|".join(CATEGORIES) + ', "price": number}')

# --- the checker --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """The verdict on one reply: is it compliant (and if not, why), and which fields are right."""

    compliant: bool
    problem: str | None  # the first problem found, e.g. "not JSON", "price is not a number"
    fields: dict[str, bool] = field(default_factory=dict)  # key -> value equals the gold one

    @property
    def all_fields(self) -> bool:
        """Every field right: the record a program would store is exactly the gold one."""
        return bool(self.fields) and all(self.fields.values())


def schema_problem(value: Any) -> str | None:
    """What is wrong with a parsed value against the schema, or None if it fits."""
    if not isinstance(value, dict):
        return f"not an object but a {type(value).__name__}"
    missing = [k for k in KEYS if k not in value]
    if missing:
        return f"missing key {missing[0]!r}"
    extra = sorted(set(value) - set(KEYS))
    if extra:
        return f"extra key {extra[0]!r}"
    if not isinstance(value["name"], str) or not value["name"].strip():
        return "name is not a non-empty string"
    if value["category"] not in CATEGORIES:
        return "category not allowed"
    if isinstance(value["price"], bool) or not isinstance(value["price"], (int, float)):
        return "price is not a number"
    return None


def parse_strict(reply: str) -> tuple[Any, str | None]:
    """``(value, None)`` if the whole reply is JSON, else ``(None, problem)``."""
    try:
        return json.loads(reply), None
    except json.JSONDecodeError:
        if reply.startswith("{"):
            return None, "broken or cut-off JSON"
        return None, "text around the JSON" if "{" in reply else "not JSON"


def parse_lenient(reply: str) -> Any:
    """The first JSON object anywhere in the reply (inside a code fence, after a sentence), or None."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", reply):
        try:
            return decoder.raw_decode(reply, match.start())[0]
        except json.JSONDecodeError:
            continue
    return None


def field_matches(value: Any, gold: dict) -> dict[str, bool]:
    """Per key: the reply's value equals the gold one (names case-insensitive, prices to the cent)."""
    value = value if isinstance(value, dict) else {}
    name, price = value.get("name"), value.get("price")
    return {
        "name": isinstance(name, str) and name.strip().casefold() == gold["name"].casefold(),
        "category": value.get("category") == gold["category"],
        "price": isinstance(price, (int, float)) and not isinstance(price, bool) and abs(price - gold["price"]) < 0.005,
    }


def check(reply: str, gold: dict) -> Check:
    """Strict compliance of ``reply`` (parse + schema) and lenient field correctness against ``gold``."""
    value, problem = parse_strict(reply.strip())
    if problem is None:
        problem = schema_problem(value)
    return Check(compliant=problem is None, problem=problem, fields=field_matches(parse_lenient(reply), gold))


def score(replies: Sequence[str], golds: Sequence[dict]) -> dict[str, float]:
    """Rates over a set: ``compliance``, each field's exact-match, and ``all fields`` right."""
    if len(replies) != len(golds):
        raise ValueError(f"{len(replies)} replies for {len(golds)} gold records")
    checks = [check(r, g) for r, g in zip(replies, golds)]
    n = max(len(checks), 1)
    rates = {"compliance": sum(c.compliant for c in checks) / n}
    rates.update({key: sum(c.fields[key] for c in checks) / n for key in KEYS})
    rates["all fields"] = sum(c.all_fields for c in checks) / n
    return rates


# --- the generator ------------------------------------------------------------------------------

BRANDS = ["Aldermoor", "Brisko", "Calvane", "Dunmere", "Elvaro", "Glimra", "Korvella", "Lumeno", "Nordvik",
          "Orlani", "Pexley", "Quillon", "Solvik", "Tavora", "Velto", "Wrenly", "Zephra", "Marlo"]
MODELS = ["Storm", "Nova", "Classic", "Trail", "Urban", "Pro", "Mini", "Breeze", "Summit", "Echo", "Luna",
          "Pulse", "Terra", "Aero", "Ember", "Drift"]
NOUNS = {
    "clothing": ["Jacket", "Hoodie", "Raincoat", "Scarf", "Sweater", "Beanie", "Jeans", "Rain Poncho"],
    "electronics": ["Headphones", "Speaker", "Charger", "Smartwatch", "Keyboard", "Webcam", "Power Bank", "Earbuds"],
    "kitchen": ["Kettle", "Blender", "Frying Pan", "Toaster", "Knife Set", "Coffee Grinder", "Teapot", "Mixing Bowl"],
    "toys": ["Puzzle", "Teddy Bear", "Building Blocks", "Toy Train", "Kite", "Doll House", "Board Game", "Marble Run"],
    "garden": ["Garden Hose", "Rake", "Planter", "Pruning Shears", "Watering Can", "Bird Feeder", "Wheelbarrow"],
    "sports": ["Yoga Mat", "Tennis Racket", "Football", "Dumbbells", "Jump Rope", "Cycling Helmet", "Swim Goggles"],
}
FEATURES = {  # each fits "It is ...", and every noun of its category
    "clothing": ["waterproof and breathable", "made from soft organic cotton", "warm enough for winter walks",
                 "cut for a relaxed fit", "machine washable"],
    "electronics": ["fitted with a 20-hour battery", "charged over USB-C", "small enough for a pocket",
                    "paired over Bluetooth in seconds", "sold with a two-year warranty"],
    "kitchen": ["dishwasher safe", "made of brushed stainless steel", "easy to clean after dinner",
                "a favourite of home cooks", "built to last for years"],
    "toys": ["suitable for children aged 3 and up", "packed with colourful pieces", "made of sustainable wood",
             "perfect for a rainy afternoon", "safe for little hands"],
    "garden": ["made of rust-proof steel", "ideal for balconies and small yards", "frost resistant",
               "light enough to carry around the beds", "made from recycled materials"],
    "sports": ["non-slip and easy to clean", "great for training at home or in the gym", "approved for club matches",
               "light and strong", "suited to beginners and pros alike"],
}
TEMPLATES = [
    "The {name} is {feature}, and it sells for {price}.",
    "Meet the {name}: {feature}. Price: {price}.",
    "Now in stock: the {name}, {feature}, only {price}.",
    "Our customers love the {name}. It is {feature} and costs {price}.",
    "{price} gets you the {name}, {feature}.",
    "Looking for a new {noun}? Try the {name} ({price}), {feature}.",
    "Product: {name}. {Feature}. Retail price {price}.",
    "New this season, the {name} is {feature}. Yours for {price}.",
    "On sale this week: the {name} at {price} instead of {old}. {Feature}.",
    "I bought the {name} for {price} and it is {feature}.",
]


def _price(rng: random.Random) -> float | int:
    whole = rng.choice([rng.randint(5, 60), rng.randint(20, 400)])
    return whole if rng.random() < 0.3 else round(whole + rng.choice([0.99, 0.5, 0.95, 0.49]), 2)


def _spell(price: float | int, rng: random.Random) -> str:
    text = f"{price:.2f}" if isinstance(price, float) else str(price)
    return rng.choice(["${}", "${}", "{} dollars", "USD {}", "{} USD"]).format(text)


def make_item(rng: random.Random) -> dict:
    """One product: a natural-sounding description and the gold record extracted from it."""
    category = rng.choice(CATEGORIES)
    noun = rng.choice(NOUNS[category])
    name = " ".join([rng.choice(BRANDS)] + ([rng.choice(MODELS)] if rng.random() < 0.7 else []) + [noun])
    price = _price(rng)
    feature = rng.choice(FEATURES[category])
    old = _spell(round(price * 1.25) + 1, rng)
    description = rng.choice(TEMPLATES).format(name=name, feature=feature, Feature=feature[0].upper() + feature[1:],
                                                price=_spell(price, rng), noun=noun.lower(), old=old)
    return {"description": description, "name": name, "category": category, "price": price}


def build_file(n_train: int = 240, n_test: int = 48, seed: int = 0) -> list[dict]:
    """The records of ``data/products.jsonl``: no product name appears in both splits."""
    rng, records, names = random.Random(seed), [], {"train": set(), "test": set()}
    while len(records) < n_train + n_test:
        item = make_item(rng)
        split = "train" if len(records) < n_train else "test"
        other = names["test" if split == "train" else "train"]
        if item["name"] in names[split] or item["name"] in other:
            continue
        names[split].add(item["name"])
        records.append({**item, "split": split})
    return records


# --- loading and chat format ----------------------------------------------------------------------

SCHEMA = {"description": str, "name": str, "category": str, "split": str}


def load(split: str | None = None) -> list[dict]:
    """The course's products (checked line by line), optionally one ``split`` only.

    Besides the field types, every gold record must itself pass the schema: a gold answer the
    checker would reject would make compliance impossible to reach.
    """
    records = load_jsonl(FILE, SCHEMA)
    for number, record in enumerate(records, start=1):
        problem = schema_problem({key: record.get(key) for key in KEYS})
        if problem:
            raise DataError(f"{FILE}: record {number} ({record['name']!r}): {problem}")
    return [r for r in records if split is None or r["split"] == split]


def gold_json(record: dict) -> str:
    """The compliant reply for a record: exactly the three keys, in order."""
    return json.dumps({key: record[key] for key in KEYS}, ensure_ascii=False)


def to_chat(records: Sequence[dict], system: str = INSTRUCTION) -> list[dict]:
    """Records in TRL's conversational prompt/completion format: system instruction + description
    as the prompt, the gold JSON as the completion (so completion-only loss trains the reply alone)."""
    return [{"prompt": [{"role": "system", "content": system}, {"role": "user", "content": r["description"]}],
             "completion": [{"role": "assistant", "content": gold_json(r)}]} for r in records]
