"""Hub datasets by name in the gpu profile; the course file when the Hub cannot be had, and always in ci/cpu."""

from dataclasses import replace

import pytest

from labkit import hubdata, profiles
from labkit.errors import DataError

CI = profiles.PROFILES["ci"]
GPU = replace(profiles.PROFILES["ci"], name="gpu")  # the gpu profile's name, without needing CUDA here


@pytest.fixture
def fake_hub(monkeypatch):
    """The Hub answers, and load_dataset returns the rows given to it; records what was asked."""
    import datasets

    calls = []

    def install(rows, reachable=True, error=None):
        def load_dataset(name, config=None, split=None):
            calls.append((name, config, split))
            if error:
                raise error
            return rows

        monkeypatch.setattr(hubdata, "hub_reachable", lambda: reachable)
        monkeypatch.setattr(datasets, "load_dataset", load_dataset)
        return calls

    monkeypatch.delenv("LABKIT_HUB_DATA", raising=False)
    return install


def test_ci_reads_the_course_file_and_never_asks_the_hub(fake_hub):
    calls = fake_hub([], error=AssertionError("the Hub was asked"))
    records, source = hubdata.load("preference", "preferences.jsonl", CI)
    assert source == "preferences.jsonl" and not calls
    assert set(records[0]) >= {"prompt", "chosen", "rejected"}


def test_gpu_maps_ultrafeedback_rows_to_preference_records(fake_hub):
    row = {"prompt": "Say hi", "chosen": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}],
           "rejected": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "No."}]}
    tie = {**row, "rejected": row["chosen"]}  # a pair with no preference teaches nothing: skipped
    calls = fake_hub([row, tie, row])
    records, source = hubdata.load("preference", "preferences.jsonl", GPU, limit=2)
    assert records == [{"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}] * 2
    assert calls == [("HuggingFaceH4/ultrafeedback_binarized", None, "train_prefs[:4]")]
    assert source.startswith("HuggingFaceH4/ultrafeedback_binarized")


def test_gpu_maps_imdb_labels_and_smoltalk_messages(fake_hub):
    fake_hub([{"text": "great film", "label": 1}, {"text": "dull", "label": 0}, {"text": "?", "label": -1}])
    records, _ = hubdata.load("sentiment", "tickets.jsonl", GPU)
    assert [r["label"] for r in records] == ["positive", "negative"]
    turn = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    fake_hub([{"messages": turn}, {"messages": turn[:1]}])  # a chat must end with the assistant
    records, _ = hubdata.load("chat", "veloria_chat.jsonl", GPU)
    assert records == [{"messages": turn}]


@pytest.mark.parametrize("reachable, error", [(False, None), (True, ConnectionError("no route to host"))])
def test_gpu_falls_back_to_the_course_file_and_says_why(fake_hub, capsys, reachable, error):
    fake_hub([], reachable=reachable, error=error)
    records, source = hubdata.load("chat", "veloria_chat.jsonl", GPU, limit=5)
    assert source == "veloria_chat.jsonl" and len(records) > 5  # the whole course file, not the Hub limit
    said = capsys.readouterr().err
    assert "HuggingFaceTB/smoltalk not used" in said and ("no route to host" if error else "cannot be reached") in said


def test_the_switch_overrides_the_profile(fake_hub, monkeypatch):
    calls = fake_hub([{"text": "fine", "label": 1}])
    monkeypatch.setenv("LABKIT_HUB_DATA", "0")
    assert hubdata.load("sentiment", "tickets.jsonl", GPU)[1] == "tickets.jsonl" and not calls
    monkeypatch.setenv("LABKIT_HUB_DATA", "1")
    assert hubdata.load("sentiment", "tickets.jsonl", CI)[1].startswith("stanfordnlp/imdb") and calls


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(DataError, match="'reviews' is not a Hub dataset kind"):
        hubdata.load("reviews", "prose.jsonl", CI)
