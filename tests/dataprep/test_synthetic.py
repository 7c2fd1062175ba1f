from labkit.dataprep import synthetic

BRIEF = {"name": "Solvik Classic Frying Pan", "category": "kitchen", "price": 57.99}


def test_briefs_are_reproducible_and_name_their_price():
    briefs = synthetic.product_briefs(3, seed=7)
    assert briefs == synthetic.product_briefs(3, seed=7)
    for brief in briefs:
        assert brief["name"] in brief["prompt"] and synthetic.prices_in(brief["prompt"])[0] == brief["price"]


def test_quality_problem():
    good = "The Solvik Classic Frying Pan is made of steel and costs $57.99."
    assert synthetic.quality_problem(good, BRIEF) is None
    assert synthetic.quality_problem("", BRIEF) == "empty"
    assert synthetic.quality_problem("Solvik Classic Frying Pan $57.99", BRIEF) == "too short"
    assert synthetic.quality_problem("The pan is made of steel and costs $57.99.", BRIEF) == "name missing"
    assert synthetic.quality_problem("The Solvik Classic Frying Pan is made of steel and costs $59.", BRIEF) == (
        "price missing or wrong")
    assert synthetic.quality_problem("Die Solvik Classic Frying Pan ist aus Stahl und kostet 57.99 und ist der "
                                     "beste für die Küche.", BRIEF) == "wrong language"
    record = synthetic.to_record(good, BRIEF)
    assert record["response"] == '{"name": "Solvik Classic Frying Pan", "category": "kitchen", "price": 57.99}'
