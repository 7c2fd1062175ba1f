import json
from collections import Counter

import pytest

from labkit.accountability.reviews import load_reviews, make_reviews
from labkit.data import save_jsonl
from labkit.errors import DataError


def test_the_course_file_is_what_the_generator_writes():
    assert load_reviews() == make_reviews()


def test_cells_are_balanced_and_only_train_labels_are_biased():
    rows = make_reviews()
    for split in ("train", "test"):
        cells = Counter((r["merit"], r["gender"], r["office_group"]) for r in rows if r["split"] == split)
        assert len(set(cells.values())) == 1 and len(cells) == 8
    test = [r for r in rows if r["split"] == "test"]
    assert all(r["label"] == r["merit"] for r in test)
    flipped = Counter((r["merit"], r["gender"]) for r in rows if r["split"] == "train" and r["label"] != r["merit"])
    assert set(flipped) == {("negative", "man"), ("positive", "woman")}
    assert 0.25 < flipped[("negative", "man")] / 120 < 0.45


def test_no_bias_without_flip_and_bad_flip_refused():
    assert all(r["label"] == r["merit"] for r in make_reviews(n_train=80, n_test=8, flip=0.0))
    with pytest.raises(DataError):
        make_reviews(flip=0.5)


def test_a_bad_row_names_its_line(tmp_path):
    path = save_jsonl(make_reviews(n_train=8, n_test=0), tmp_path / "r.jsonl")
    lines = path.read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), "label": "great"})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"r.jsonl:3"):
        load_reviews(path)
