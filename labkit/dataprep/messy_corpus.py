"""A raw, messy instruction corpus with *planted* defects, so that data cleaning can be measured.

Real instruction data arrives with duplicates, near-copies, paraphrases, personal data, junk and
text in the wrong language. Notebook 07 cleans such a corpus; to say how well each step works we
must know the truth, so this module writes one: clean instruction/response pairs built from the
course's own texts, then defects planted on purpose and recorded.

Four tasks make up the clean part (the ``task`` field, used for stratified splits):

* ``qa``: a question about the fictional island of Veloria and its short answer;
* ``continue``: the first sentence of a story passage, to be continued;
* ``title``: a paragraph (general knowledge or Veloria), to be given a title;
* ``extract``: a product description, to be turned into JSON (as in notebook 05).

The planted defects, each on its own records (a record has at most one):

* ``exact_duplicate``: a byte-identical copy of a clean record;
* ``near_duplicate``: a copy with two small word-level edits (a typo, a dropped or added word);
* ``paraphrase``: the same Veloria question in other words, with the same answer;
* ``email``, ``phone``, ``card``: a sentence with an e-mail address, a phone number or a payment
  card number added to the instruction (``decoy_number``: a 16-digit reference number that is
  *not* a card number and must survive);
* ``too_short``, ``too_long``: junk pairs of a few words, or a response of many pasted passages;
* ``wrong_language``: pairs in German, French or Spanish;
* ``broken_markup``: HTML tags and entities left in the text by a scraper.

:func:`make_raw_corpus` returns the records (shuffled, with ids) and the truth: for duplicates
the pair ``[original_id, copy_id]``, for PII ``[id, planted string]``, otherwise the id, and for
markup ``[id, clean instruction]``. ``tools/make_raw_instructions.py`` writes both files.
"""

from __future__ import annotations

import random
import re

from labkit.data import load_jsonl
from labkit.tasks import formats

TASKS = ("qa", "continue", "title", "extract")
COUNTS = {"exact_duplicate": 20, "near_duplicate": 20, "paraphrase": 12, "email": 10, "phone": 12, "card": 4,
          "decoy_number": 3, "too_short": 10, "too_long": 8, "wrong_language": 12, "broken_markup": 15}

PREFIX = {"exact_duplicate": "dup", "near_duplicate": "near", "paraphrase": "para", "too_short": "short",
          "too_long": "long", "wrong_language": "lang"}
TITLE_INSTRUCTION = "Suggest a short title for this text: "
CONTINUE_INSTRUCTION = "Continue this passage in the same style: "
EXTRACT_INSTRUCTION = "Extract the product name, category and price from this description as JSON: "

WRONG_LANGUAGE = [
    ("Wie hoch ist der Eiffelturm und wann wurde er gebaut?", "Der Eiffelturm ist etwa 330 Meter hoch und wurde 1889 fertiggestellt."),
    ("Schreibe eine kurze Einladung zu einem Geburtstagsfest am Samstag.", "Liebe Freunde, ich lade euch herzlich zu meinem Geburtstag am Samstag ein. Es gibt Kuchen und Musik!"),
    ("Erkläre in zwei Sätzen, warum der Himmel blau ist.", "Das Sonnenlicht wird an den Molekülen der Luft gestreut. Blaues Licht wird dabei stärker gestreut als rotes, deshalb sehen wir einen blauen Himmel."),
    ("Was ist der Unterschied zwischen Wetter und Klima?", "Das Wetter beschreibt den Zustand der Atmosphäre an einem Tag, das Klima den Durchschnitt über viele Jahre."),
    ("Quelle est la capitale de l'Australie et pourquoi n'est-ce pas Sydney ?", "La capitale est Canberra. Elle a été choisie comme compromis entre Sydney et Melbourne."),
    ("Écris une courte recette pour une omelette aux champignons.", "Battez trois œufs, faites revenir les champignons dans le beurre, puis versez les œufs et laissez cuire doucement."),
    ("Donne trois conseils pour mieux dormir.", "Couchez-vous à heure fixe, évitez les écrans le soir et gardez la chambre fraîche et sombre."),
    ("Résume l'histoire du Petit Chaperon rouge en une phrase.", "Une petite fille qui apporte une galette à sa grand-mère est trompée par un loup qui se déguise pour la manger."),
    ("¿Cuántos planetas hay en el sistema solar y cuál es el más grande?", "Hay ocho planetas en el sistema solar, y el más grande es Júpiter."),
    ("Escribe un mensaje corto para felicitar a un compañero por su nuevo trabajo.", "¡Enhorabuena por tu nuevo trabajo! Estoy seguro de que te irá muy bien y de que aprenderás mucho."),
    ("Explica qué es la fotosíntesis en pocas palabras.", "Es el proceso con el que las plantas usan la luz del sol para convertir el agua y el dióxido de carbono en azúcar y oxígeno."),
    ("¿Qué debo llevar para una excursión de un día a la montaña?", "Lleva agua, comida, ropa de abrigo, protector solar, un mapa y un teléfono con la batería cargada."),
]
TOO_SHORT = [("Hi", "Hello!"), ("Help", "Sure."), ("ok", "ok"), ("Thanks!", "You're welcome."), ("test", "-"),
             ("?", "Yes."), ("Hello there", "Hi."), ("Continue", "..."), ("asdf", "qwerty"), ("Title?", "None")]
EMAILS = ["anna.berg@example.org", "tom_okafor@mail.example.com", "PRIYA.SHAH@EXAMPLE.NET", "l.meier+shop@example.de",
          "mei.chen@uni.example.edu", "jonas.k@example.co.uk", "sara-lind@example.org", "omar.haddad99@example.com",
          "ines.costa@correo.example.es", "kofi@example.io"]
PHONES = ["+44 20 7946 0958", "(555) 014-2368", "555-014-2377", "+1-202-555-0147", "020 7946 0123", "07700 900461",
          "+49 30 901820", "555.014.2390", "+33 1 23 45 67 89", "+1 (415) 555-0132", "0161 496 0000", "+353 1 555 0142"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "4539148803436467", "3782 822463 10005"]
DECOYS = ["1234 5678 9012 3456", "9876-5432-1098-7650", "4111 1111 1111 1112"]  # fail the Luhn check
EMAIL_SENTENCES = ["Please send the answer to {} as well.", "(My e-mail is {}, in case you need it.)",
                   "Reply to {} when you are done."]
PHONE_SENTENCES = ["You can call me on {} if anything is unclear.", "(Reach me at {} after six.)",
                   "My number is {}."]
CARD_SENTENCE = "I paid with card {} for this course."
DECOY_SENTENCE = "My booking reference is {}."


def _clean_records(rng: random.Random) -> list[dict]:
    """The clean pairs, one per source item: 30 qa, 100 continue, 52 title, ~45 extract."""
    records = []
    by_fact: dict[str, list[dict]] = {}
    for row in load_jsonl("veloria_questions.jsonl"):
        by_fact.setdefault(row["fact"], []).append(row)
    for rows in by_fact.values():
        records.append({"task": "qa", "instruction": rows[0]["question"], "response": rows[0]["answer"],
                        "_paraphrases": [r["question"] for r in rows[1:]]})
    for row in load_jsonl("prose.jsonl")[:100]:
        first, rest = re.split(r"(?<=[.!?])\s+", row["text"], maxsplit=1)
        records.append({"task": "continue", "instruction": CONTINUE_INSTRUCTION + first, "response": rest})
    for row in load_jsonl("general_text.jsonl") + load_jsonl("veloria.jsonl"):
        records.append({"task": "title", "instruction": TITLE_INSTRUCTION + row["text"], "response": row["title"]})
    nouns = set()
    while len(nouns) < 45:  # one product per noun: two "kites" of one template would be near-copies themselves
        item = formats.make_item(rng)
        noun = next(n for names in formats.NOUNS.values() for n in names if item["name"].endswith(" " + n))
        if noun in nouns:
            continue
        nouns.add(noun)
        records.append({"task": "extract", "instruction": EXTRACT_INSTRUCTION + item["description"],
                        "response": formats.gold_json(item)})
    return records


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def near_copy(text: str, rng: random.Random, edits: int = 2) -> str:
    """``text`` with ``edits`` small word-level edits: a swapped-letter typo, a dropped or an added word."""
    words = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(words))
        kind = rng.choice(["typo", "drop", "add"])
        if kind == "typo":
            words[i] = _typo(words[i], rng)
        elif kind == "drop" and len(words) > 3:
            del words[i]
        else:
            words.insert(i, rng.choice(["really", "also", "just", "very", "then"]))
    return " ".join(words)


def add_markup(text: str, rng: random.Random) -> str:
    """``text`` as a careless scraper leaves it: tags around and between sentences, entities for
    quotes and spaces. Stripping tags (as spaces) and decoding entities gives ``text`` back."""
    text = text.replace("'", "&#39;").replace('"', "&quot;")
    text = re.sub(r"(?<=[.!?:]) ", lambda m: rng.choice([" <br/>", " </p><p>", "&nbsp;", " <span class=\"x\">"]), text)
    words = text.split(" ")
    plain = [i for i, word in enumerate(words) if not re.search(r"[<>&]", word)]
    if plain:
        i = rng.choice(plain)
        words[i] = f"<b>{words[i]}</b>"
    return rng.choice(["<p>", "<div class=\"post\">", "<li>"]) + " ".join(words) + rng.choice(["</p>", "</div>", ""])


def make_raw_corpus(seed: int = 0) -> tuple[list[dict], dict[str, list]]:
    """The raw corpus (records with ``id``, ``task``, ``instruction``, ``response``) and its planted truth."""
    rng = random.Random(seed)
    clean = _clean_records(rng)
    for i, record in enumerate(clean):
        record["id"] = f"c{i:03d}"
    qa = [r for r in clean if r["task"] == "qa"]
    others = [r for r in clean if r["task"] != "qa"]
    rng.shuffle(qa)
    rng.shuffle(others)
    truth: dict[str, list] = {kind: [] for kind in COUNTS}
    extra: list[dict] = []

    def plant(kind: str, base: dict, **changes) -> dict:
        record = {**base, "id": f"{PREFIX[kind]}{len(truth[kind]):02d}", **changes}
        extra.append(record)
        return record

    for base in qa[:COUNTS["paraphrase"]]:  # the same question in other words, the same answer
        copy = plant("paraphrase", base, instruction=rng.choice(base["_paraphrases"]))
        truth["paraphrase"].append([base["id"], copy["id"]])
    pool = iter(others)
    for base in [next(pool) for _ in range(COUNTS["exact_duplicate"])]:
        truth["exact_duplicate"].append([base["id"], plant("exact_duplicate", base)["id"]])
    for base in [next(pool) for _ in range(COUNTS["near_duplicate"])]:
        edited = {"instruction": near_copy(base["instruction"], rng)}
        truth["near_duplicate"].append([base["id"], plant("near_duplicate", base, **edited)["id"]])
    for kind, values, sentences in [("email", EMAILS, EMAIL_SENTENCES), ("phone", PHONES, PHONE_SENTENCES),
                                    ("card", CARDS, [CARD_SENTENCE]), ("decoy_number", DECOYS, [DECOY_SENTENCE])]:
        for value in values[:COUNTS[kind]]:
            base = next(pool)
            base["instruction"] += " " + rng.choice(sentences).format(value)
            truth[kind].append([base["id"], value])
    for base in [next(pool) for _ in range(COUNTS["broken_markup"])]:
        truth["broken_markup"].append([base["id"], base["instruction"]])
        base["instruction"] = add_markup(base["instruction"], rng)
    passages = [r["response"] for r in clean if r["task"] == "continue"]
    for i in range(COUNTS["too_long"]):
        long_response = " ".join(rng.sample(passages, 12))
        truth["too_long"].append(plant("too_long", {"task": "continue", "instruction": CONTINUE_INSTRUCTION + "Once upon a time.",
                                                    "response": long_response})["id"])
    for instruction, response in TOO_SHORT[:COUNTS["too_short"]]:
        truth["too_short"].append(plant("too_short", {"task": "qa", "instruction": instruction, "response": response})["id"])
    for instruction, response in WRONG_LANGUAGE[:COUNTS["wrong_language"]]:
        truth["wrong_language"].append(plant("wrong_language", {"task": "qa", "instruction": instruction,
                                                               "response": response})["id"])
    records = [{key: r[key] for key in ("id", "task", "instruction", "response")} for r in clean + extra]
    rng.shuffle(records)
    return records, truth
