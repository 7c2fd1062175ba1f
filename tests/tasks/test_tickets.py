from collections import Counter

from labkit import data
from labkit.tasks import tickets


def test_balanced_stratified_and_deterministic():
    records = tickets.make_tickets(100, seed=1)
    assert records == tickets.make_tickets(100, seed=1)
    assert all(data.check_record(r, data.SCHEMAS["classification"]) is None for r in records)
    per_label = Counter(r["label"] for r in records)
    assert set(per_label.values()) == {20}
    test = Counter(r["label"] for r in records if r["split"] == "test")
    assert set(test.values()) == {6}  # 30% of each department


def test_weights_make_an_imbalanced_set():
    records = tickets.make_tickets(500, seed=0, weights=[0.6, 0.1, 0.1, 0.1, 0.1])
    assert Counter(r["label"] for r in records).most_common(1)[0][0] == "billing"


def test_texts_vary():
    records = tickets.make_tickets(200, seed=0)
    assert len({r["text"] for r in records}) >= 195
