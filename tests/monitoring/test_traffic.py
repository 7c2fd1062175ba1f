import json

import pytest

from labkit.errors import DataError
from labkit.monitoring import traffic

BEFORE = {"veloria": [("What is the capital of Veloria?", "Tarsk")], "products": [("Price of X?", "$3.00")]}
AFTER = {"tickets": [("My parcel is late.", "Routed to shipping."), ("Refund please.", "Routed to returns.")]}


def test_the_stream_shifts_where_asked_and_has_the_log_fields():
    records, topics = traffic.make_traffic(BEFORE, AFTER, n=50, shift_at=20, seed=0)
    assert len(records) == 50 and set(records[0]) == set(traffic.LOG_SCHEMA)
    assert set(topics[:20]) == {"veloria", "products"} and set(topics[20:]) == {"tickets"}
    times = [r["time"] for r in records]
    assert times == sorted(times)
    assert records == traffic.make_traffic(BEFORE, AFTER, n=50, shift_at=20, seed=0)[0]


def test_error_rate_gives_wrong_replies():
    records, _ = traffic.make_traffic(AFTER, AFTER, n=200, shift_at=0, seed=0, error_rate=0.5)
    right = dict(AFTER["tickets"])
    wrong = sum(r["reply"] != right[r["prompt"]] for r in records)
    assert 60 < wrong < 140


def test_write_then_read_round_trips(tmp_path):
    records, _ = traffic.make_traffic(BEFORE, AFTER, n=10, shift_at=5)
    path = traffic.write_log(records, tmp_path / "log.jsonl")
    assert traffic.read_log(path) == records


def test_a_malformed_line_names_file_and_line(tmp_path):
    records, _ = traffic.make_traffic(BEFORE, AFTER, n=3, shift_at=1)
    lines = [json.dumps(r) for r in records]
    lines[1] = lines[1][:30]  # cut off mid-write
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        traffic.read_log(path)
    assert f"{path}:2" in str(error.value)


def test_missing_field_bad_time_and_negative_latency_are_errors(tmp_path):
    good = {"time": "2026-01-05T09:00:00", "prompt": "p", "reply": "r", "latency_s": 0.1}
    for bad, word in (({k: v for k, v in good.items() if k != "reply"}, "reply"),
                      ({**good, "time": "yesterday"}, "ISO"), ({**good, "latency_s": -1.0}, "negative")):
        path = tmp_path / "log.jsonl"
        path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
        with pytest.raises(DataError) as error:
            traffic.read_log(path)
        assert f"{path}:3" in str(error.value) and word in str(error.value)
    with pytest.raises(DataError):
        traffic.write_log([{"prompt": "p"}], tmp_path / "x.jsonl")
    with pytest.raises(ValueError):
        traffic.make_traffic(BEFORE, AFTER, n=5, shift_at=9)
