"""Whole-or-nothing writes: a failure leaves the old file or folder as it was, and no temporary."""

import json

import pytest

from labkit import atomic


def test_write_replaces_the_file_whole(tmp_path):
    path = atomic.write_json(tmp_path / "deep" / "done.json", {"stage": "data", "name": "café"})
    assert json.loads(path.read_text(encoding="utf-8"))["name"] == "café"
    atomic.write_text(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in path.parent.iterdir()] == ["done.json"]


def test_a_failed_folder_keeps_the_old_one(tmp_path):
    target = tmp_path / "adapter"
    with atomic.staged_folder(target) as staging:
        (staging / "weights").write_text("v1")
    with pytest.raises(RuntimeError), atomic.staged_folder(target) as staging:
        (staging / "weights").write_text("v2, half")
        raise RuntimeError("interrupted while saving")
    assert (target / "weights").read_text() == "v1" and sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
