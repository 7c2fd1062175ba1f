"""Progress off a terminal is a few lines, on a terminal one bar redrawn in place, in a notebook transformers' own."""

import io
import sys

import pytest
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from labkit import data, models, progress, train


def lines(text: str) -> list[str]:
    """What a log viewer shows: carriage returns (tqdm's redraws) count as new lines in a file."""
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip()]


@pytest.fixture
def dataset():
    records = [{"question": f"What is the code word number {i}?", "answer": f"Code {i % 3}"} for i in range(24)]
    return data.to_dataset(data.qa_to_chat(records))


def test_a_40_step_run_writes_a_few_lines_to_a_log(tokenizer, dataset, profile, tmp_path, capfd):
    """Before labkit.progress this run wrote 208 lines (a tqdm redraw and a log dict per step, a bar per map)."""
    capfd.readouterr()
    train.train_sft(models.tiny_llama(seed=0, vocab_size=len(tokenizer)), tokenizer, dataset, profile, tmp_path,
                    max_steps=40, learning_rate=5e-3, lora=train.lora_config(profile, r=8), resume=False)
    out, err = capfd.readouterr()
    shown = [line for line in lines(out + err) if "warn" not in line.lower() and "[transformers]" not in line]
    assert [line.split(":")[1].split(",")[0].strip() for line in shown] == [
        "40 steps", "step 10/40 (25 %)", "step 20/40 (50 %)", "step 30/40 (75 %)", "step 40/40 (100 %)", "done"], shown
    assert "loss" in shown[-1] and "'loss'" not in out + err  # the summary has the loss; no per-step dicts


def test_milestones_print_each_quarter_once_and_a_resumed_run_starts_where_it_is():
    stream = io.StringIO()
    bar = progress.Milestones(40, stream=stream)
    for step in range(1, 41):
        bar.update(step, loss=1.0 / step)
    assert len(lines(stream.getvalue())) == 5 and "step 40/40 (100 %), loss 0.025" in stream.getvalue()
    resumed = io.StringIO()
    bar = progress.Milestones(40, stream=resumed)
    for step in range(25, 41):
        bar.update(step)
    assert [line.split(": ")[1].split(",")[0] for line in lines(resumed.getvalue())] == [
        "40 steps", "step 25/40 (62 %)", "step 30/40 (75 %)", "step 40/40 (100 %)"]
    short = io.StringIO()
    bar = progress.Milestones(3, stream=short)
    for step in range(1, 4):
        bar.update(step)
    assert len(lines(short.getvalue())) == 4  # a 3-step run: a line per step and the header, never more


def test_on_a_terminal_one_bar_carries_the_latest_loss(tokenizer, dataset, profile, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.setattr(sys, "stderr", stream)
    train.train_sft(models.tiny_llama(seed=0, vocab_size=len(tokenizer)), tokenizer, dataset, profile, tmp_path,
                    max_steps=6, learning_rate=5e-3, lora=train.lora_config(profile, r=8), resume=False)
    text = stream.getvalue()
    assert "6/6" in text and "loss=" in text
    assert text.count("\n") <= 1  # redrawn in place with \r, one line in the end


def test_a_notebook_keeps_transformers_display_and_elsewhere_it_is_replaced(monkeypatch):
    class FakeTrainer:
        def __init__(self):
            self.callbacks = [ProgressCallback, PrinterCallback]

        def remove_callback(self, cls):
            self.callbacks.remove(cls)

        def add_callback(self, callback):
            self.callbacks.append(callback)

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    trainer = FakeTrainer()
    progress.for_trainer(trainer)
    assert trainer.callbacks == [ProgressCallback, PrinterCallback]
    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    progress.for_trainer(trainer)
    assert len(trainer.callbacks) == 1 and isinstance(trainer.callbacks[0], progress.TrainingProgress)
