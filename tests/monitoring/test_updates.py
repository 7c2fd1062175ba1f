import pytest

from labkit import data
from labkit.errors import DataError
from labkit.monitoring import updates


def test_updates_change_exactly_their_articles_and_answers():
    articles, changes = data.load_jsonl("veloria.jsonl"), updates.load_updates()
    new, changed = updates.apply_to_articles(articles, changes)
    assert len(new) == len(articles) and len(changed) == len(changes)
    for old, fresh in zip(articles, new):
        assert (old["text"] != fresh["text"]) == (old["title"] in changed)
    for u in changes:
        text = next(a["text"] for a in new if a["title"] == u["article"])
        assert u["answer"].lower() in text.lower() and u["old_sentence"] not in text
    questions = updates.apply_to_questions(data.load_jsonl("veloria_questions.jsonl"), changes)
    assert {q["answer"] for q in questions if q["fact"] == changes[0]["fact"]} == {changes[0]["answer"]}


def test_an_update_that_does_not_match_its_article_is_an_error():
    bad = [{"fact": "f", "article": "Veloria", "old_sentence": "not there", "new_sentence": "x", "answer": "x"}]
    with pytest.raises(DataError):
        updates.apply_to_articles(data.load_jsonl("veloria.jsonl"), bad)
