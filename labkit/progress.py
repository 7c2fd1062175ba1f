"""Progress shown the way its reader sees it: live in a notebook or a terminal, a few lines in a log.

A tqdm bar is redrawn in place only on a terminal; written to a log file or a CI console every
redraw becomes a line, and transformers adds a line per logged step on top, so a 40-step run
writes hundreds of lines. labkit's trainers therefore keep transformers' own display in a
notebook, show one bar with the latest loss on a terminal, and print milestones elsewhere: a
line at each quarter of the run and a summary.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from transformers import TrainerCallback


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, nbval)."""
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        return False


def on_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default: stderr, where bars go) is a terminal that redraws a line in place."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


def bars_disabled() -> bool:
    """``TQDM_DISABLE=1`` (set by ``make test``) read now; tqdm itself reads it once, at import."""
    return os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")


def interactive() -> bool:
    """Whether live progress bars make sense here: a notebook or a terminal."""
    return in_notebook() or on_terminal()


class Milestones:
    """At most one line per quarter of ``total`` steps (and one at the start), for logs.

    ``update(step, loss=...)`` prints when the step crosses the next quarter, with the step's share
    of the run, the latest values and the time per step so far.
    """

    def __init__(self, total: int, desc: str = "training", quarters: int = 4, stream: TextIO | None = None):
        self.total, self.desc, self.stream = max(1, total), desc, stream
        self.marks = sorted({max(1, round(self.total * q / quarters)) for q in range(1, quarters + 1)})
        self.start = time.perf_counter()
        self._print(f"{self.desc}: {self.total} steps")

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    def update(self, step: int, **values: float) -> None:
        if not self.marks or step < self.marks[0]:
            return
        while self.marks and step >= self.marks[0]:
            self.marks.pop(0)
        seconds = (time.perf_counter() - self.start) / max(1, step)
        shown = "".join(f", {name} {value:.4g}" for name, value in values.items())
        self._print(f"{self.desc}: step {step}/{self.total} ({100 * step // self.total} %){shown}, {seconds:.2f} s/step")


class TrainingProgress(TrainerCallback):
    """A Trainer's progress as one bar with the latest loss (terminal) or as :class:`Milestones` (log)."""

    def __init__(self, live: bool, stream: TextIO | None = None):
        self.live, self.stream = live, stream
        self.display, self.values, self.step = None, {}, 0

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.step, self.start = state.global_step, time.perf_counter()
        if self.live:
            from tqdm.auto import tqdm

            self.display = tqdm(total=state.max_steps, initial=state.global_step, desc="training", dynamic_ncols=True,
                                file=self.stream, disable=bars_disabled())
        else:
            self.display = Milestones(state.max_steps, stream=self.stream)
            self.display.update(state.global_step)  # a resumed run starts past its first milestones

    def on_log(self, args, state, control, logs=None, **kwargs):
        if "loss" in (logs or {}):
            self.values = {"loss": float(logs["loss"])}
            if self.live and self.display is not None:
                self.display.set_postfix(loss=f"{self.values['loss']:.4g}", refresh=False)

    def on_step_end(self, args, state, control, **kwargs):
        if self.display is None:
            return
        if self.live:
            self.display.update(state.global_step - self.step)
        else:
            self.display.update(state.global_step, **self.values)
        self.step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        if self.display is None:
            return
        if self.live:
            self.display.close()
        else:
            loss = f", last loss {self.values['loss']:.4g}" if self.values else ""
            print(f"training: done, {state.global_step} steps in {time.perf_counter() - self.start:.1f} s{loss}",
                  file=self.stream or sys.stdout, flush=True)
        self.display = None


def for_trainer(trainer) -> None:
    """Give ``trainer`` the progress display that suits where it runs (see the module docstring).

    In a notebook transformers' own table stays. Elsewhere its bar (``ProgressCallback``) and its
    line-per-log printer (``PrinterCallback``) are replaced by :class:`TrainingProgress`.
    """
    if in_notebook():
        return
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress(live=on_terminal()))


def quiet_datasets() -> None:
    """Off a notebook and a terminal, turn off the datasets library's per-map progress bars (TRL
    tokenises through several maps before training starts, one bar each)."""
    if not interactive():
        import datasets

        datasets.disable_progress_bars()
