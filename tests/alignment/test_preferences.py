from labkit.alignment import preferences


def test_the_scorer_prefers_chosen_on_every_pair():
    pairs = preferences.load()
    wins = [preferences.score(p["prompt"], p["chosen"]) > preferences.score(p["prompt"], p["rejected"]) for p in pairs]
    assert len(pairs) == 380 and all(wins)


def test_the_file_is_what_the_generator_writes():
    # data/preferences.jsonl is build_file()'s output; regenerate it after changing the generator
    assert preferences.load() == preferences.build_file()


def test_splits_do_not_share_prompts_and_mix_both_flaws():
    train, test = preferences.load("train"), preferences.load("test")
    assert (len(train), len(test)) == (320, 60)
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in test}
    assert {p["flaw"] for p in test} == {"verbose", "wrong"}


def test_every_prompt_parses_to_its_answer():
    assert preferences.parse("What is 17 plus 25?")[1] == "42"
    assert preferences.parse("If today is Sunday, what day is tomorrow?")[1] == "Monday"
    assert preferences.parse("Write 'garden' in reverse.")[1] == "nedrag"
    assert preferences.parse("Tell me a joke.") is None
    assert all(preferences.parse(p["prompt"]) for p in preferences.load())


def test_correctness_allows_restating_the_question_but_not_hedging():
    prompt = "What is 17 plus 25?"
    assert preferences.correct(prompt, "17 plus 25 equals 42.")
    assert not preferences.correct(prompt, "It is 42 or maybe 43.")  # two answers: no credit
    assert not preferences.correct(prompt, "It is 43.")
    assert preferences.correct("Convert 5 kilometers to meters.", "5,000 meters")
    assert preferences.correct("What day comes after Monday?", "The day after Monday is Tuesday.")
    assert not preferences.correct("What day comes after Monday?", "Tuesday or Wednesday.")


def test_brevity_and_score_ranges():
    assert preferences.brevity("42.") == 1.0
    assert preferences.brevity(" ".join(["word"] * preferences.VERBOSE_WORDS)) == 0.0
    assert 0 < preferences.brevity(" ".join(["word"] * 18)) < 1
    assert preferences.score("What is 2 times 3?", "6") == 1.0 + preferences.BREVITY_WEIGHT
    assert preferences.score("Tell me a joke.", "No.") == preferences.BREVITY_WEIGHT  # unknown task: brevity only


def test_conversational_format_for_trl():
    row = preferences.conversational(preferences.load("test")[:1])[0]
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
