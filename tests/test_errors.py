"""One error family: the message is problem, place and fix; the classes keep their old built-in parents."""

import errno
import pickle

import pytest

from labkit.errors import ConfigError, DataError, LabkitError, ModelError, ResourceError, disk_errors


def test_the_message_is_place_problem_and_fix():
    error = ConfigError("must be greater than 0, got -0.1", "run.yaml: key 'training.learning_rate'", "use 0.001")
    assert str(error) == "run.yaml: key 'training.learning_rate': must be greater than 0, got -0.1\n  fix: use 0.001"
    assert str(DataError("the file holds no records")) == "the file holds no records"


def test_an_error_placed_more_precisely_keeps_its_kind_and_fix():
    placed = ModelError("not cached", "model 'a/b'", "use tiny-llama").at("run.yaml: key 'model.name'")
    assert type(placed) is ModelError and placed.fix == "use tiny-llama" and str(placed).startswith("run.yaml: key")


def test_errors_survive_pickling_whole():
    error = DataError("missing field 'answer'", "train.jsonl:3", "add it")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is DataError and str(again) == str(error)


def test_old_callers_still_catch_them():
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)
    assert issubclass(ModelError, RuntimeError)
    assert all(issubclass(kind, LabkitError) for kind in (ConfigError, DataError, ModelError, ResourceError))


def test_disk_errors_names_the_place_and_lets_other_os_errors_through(tmp_path):
    with pytest.raises(ResourceError) as raised, disk_errors(str(tmp_path / "run")):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(raised.value).startswith(f"{tmp_path / 'run'}: cannot write here: the disk is full")
    with pytest.raises(ResourceError, match="x.json: cannot write here: the file system is read-only"), disk_errors("run"):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "x.json"))
    with pytest.raises(FileNotFoundError), disk_errors("run"):  # not the machine's fault: a bug to see
        open(tmp_path / "missing")


def test_a_notebook_shows_the_message_not_a_stack_trace(tmp_path, capsys, monkeypatch):
    """A real IPython shell runs a cell that loads a bad file: the learner reads the error's two lines."""
    from IPython.core.interactiveshell import InteractiveShell

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q"}\n')
    monkeypatch.delenv("LABKIT_DEBUG", raising=False)
    shell = InteractiveShell.instance()
    try:
        capsys.readouterr()
        shell.run_cell(f"from labkit import data\ndata.load_jsonl({str(bad)!r}, 'qa')")
        shown = capsys.readouterr().out
        assert f"DataError: {bad}:2: missing field 'answer'" in shown and "fix:" in shown
        assert "Traceback" not in shown and "load_jsonl(" not in shown.split("DataError")[1]
        monkeypatch.setenv("LABKIT_DEBUG", "1")
        shell.run_cell(f"data.load_jsonl({str(bad)!r}, 'qa')")
        assert "Traceback" in capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()
