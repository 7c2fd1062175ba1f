import json

from labkit.tasks import formats

GOLD = {"name": "Korvella Storm Jacket", "category": "clothing", "price": 89.99}


def test_the_gold_reply_is_compliant_and_right_in_every_field():
    result = formats.check(formats.gold_json(GOLD), GOLD)
    assert result.compliant and result.problem is None and result.all_fields


def test_wrapping_fails_compliance_but_the_content_still_counts():
    fenced = "Here is the JSON:\n```json\n" + formats.gold_json(GOLD) + "\n```"
    result = formats.check(fenced, GOLD)
    assert not result.compliant and result.problem == "text around the JSON"
    assert result.all_fields  # right content, wrong format: the two measures tell them apart


def test_each_schema_violation_is_named():
    def problem(**changes):
        return formats.check(json.dumps({**GOLD, **changes}), GOLD).problem

    assert problem(price="$89.99") == "price is not a number"
    assert problem(price=True) == "price is not a number"
    assert problem(category="Clothing") == "category not allowed"
    assert problem(name="") == "name is not a non-empty string"
    assert problem(description="A jacket.") == "extra key 'description'"
    assert formats.check('{"name": "Korvella Storm Jacket", "price": 89.99}', GOLD).problem == "missing key 'category'"
    assert formats.check("[1, 2]", GOLD).problem == "not an object but a list"
    assert formats.check('{"name": "Korvella', GOLD).problem == "broken or cut-off JSON"
    assert formats.check("It is a jacket for $89.99.", GOLD).problem == "not JSON"


def test_field_matches_are_checked_against_the_gold_record():
    reply = json.dumps({"name": "korvella storm jacket", "category": "sports", "price": 89.991})
    result = formats.check(reply, GOLD)
    assert result.compliant and not result.all_fields
    assert result.fields == {"name": True, "category": False, "price": True}


def test_score_rates():
    replies = [formats.gold_json(GOLD), "no idea", json.dumps({**GOLD, "price": 5})]
    rates = formats.score(replies, [GOLD] * 3)
    assert rates["compliance"] == 2 / 3 and rates["price"] == 1 / 3 and rates["name"] == 2 / 3
    assert rates["all fields"] == 1 / 3


def test_the_file_is_what_the_generator_writes_and_splits_do_not_share_products():
    assert formats.load() == formats.build_file()  # regenerate data/products.jsonl after changing the generator
    train, test = formats.load("train"), formats.load("test")
    assert (len(train), len(test)) == (240, 48)
    assert not {r["name"] for r in train} & {r["name"] for r in test}
    assert {r["category"] for r in test} == set(formats.CATEGORIES)


def test_every_description_holds_its_gold_name_and_price():
    for record in formats.load():
        assert record["name"] in record["description"]
        price = f"{record['price']:.2f}" if isinstance(record["price"], float) else str(record["price"])
        assert price in record["description"]
        assert formats.check(formats.gold_json(record), record).all_fields


def test_chat_format_puts_the_instruction_in_the_prompt_and_the_json_in_the_completion():
    row = formats.to_chat(formats.load("test")[:1])[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["prompt"][0]["content"] == formats.INSTRUCTION
    assert formats.check(row["completion"][0]["content"], formats.load("test")[0]).all_fields
