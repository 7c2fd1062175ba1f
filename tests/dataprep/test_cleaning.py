import pytest

from labkit.dataprep import cleaning


def test_normalise_folds_unicode_whitespace_and_invisible_characters():
    assert cleaning.normalise("  Ｈello\u00a0 world\u200b\n\tagain ") == "Hello world again"
    assert cleaning.normalise("ﬁne") == "fine"  # ligature


def test_strip_markup_removes_tags_keeps_words_apart_and_decodes_entities():
    raw = '<div class="post"><p>Fish &amp; chips.<br/>Salt&nbsp;and <b>vinegar</b>?</p></div> it&#39;s &quot;fine&quot;'
    assert cleaning.strip_markup(raw) == 'Fish & chips. Salt and vinegar? it\'s "fine"'
    assert cleaning.strip_markup("3 < 5 and 7 > 2") == "3 < 5 and 7 > 2"  # comparisons are not tags


def test_detect_language_on_sentences():
    assert cleaning.detect_language("What is the capital of the island and why is it there?") == "en"
    assert cleaning.detect_language("Was ist der Unterschied zwischen Wetter und Klima?") == "de"
    assert cleaning.detect_language("Donne trois conseils pour mieux dormir dans le noir et le calme.") == "fr"
    assert cleaning.detect_language("¿Cuántos planetas hay en el sistema solar y cuál es el más grande?") == "es"
    assert cleaning.detect_language("Tarsk 1742") == "unknown"


@pytest.mark.parametrize("record, reason", [
    ({"instruction": "Hi", "response": "Hello!"}, "too short"),
    ({"instruction": "Tell me about the history of bread in Europe", "response": "  "}, "too short"),
    ({"instruction": "Continue the story.", "response": "the end " * 300}, "too long"),
    ({"instruction": "Was ist der Unterschied zwischen Wetter und Klima?",
      "response": "Das Wetter ist der Zustand der Luft an einem Tag."}, "wrong language"),
    ({"instruction": "When was the Zephyrine Library founded?", "response": "1742"}, None),
    ({"instruction": "Name Veloria's chief export.", "response": "sea amber"}, None),  # no stop words: kept
])
def test_quality_problem_reasons(record, reason):
    assert cleaning.quality_problem(record) == reason
