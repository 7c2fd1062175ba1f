"""Plots and tables the notebooks share: loss curves, live loss, before/after tables."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt


def loss_curve(runs: Mapping[str, Sequence[tuple[int, float]]], ax=None, title: str = "Training loss"):
    """Plot ``{label: [(step, loss), ...]}`` on one axis; returns the axis.

    Pass ``{"LoRA": result.losses}`` for a :class:`labkit.train.TrainResult`.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, points in runs.items():
        steps, losses = zip(*points) if points else ((), ())
        ax.plot(steps, losses, marker=".", label=label)
    ax.set(xlabel="optimizer step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    if len(runs) > 1 or any(runs):
        ax.legend()
    return ax


def before_after(metrics: Mapping[str, tuple[float, float]], names: tuple[str, str] = ("before", "after")):
    """A small table ``metric | before | after | change`` as a pandas DataFrame (renders in Jupyter)."""
    import pandas as pd

    rows = [{"metric": k, names[0]: a, names[1]: b, "change": b - a} for k, (a, b) in metrics.items()]
    return pd.DataFrame(rows).set_index("metric").round(4)


def bar_compare(values: Mapping[str, float], ylabel: str, title: str = "", ax=None):
    """One bar per method: the plot most before/after comparisons want."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    bars = ax.bar(list(values), list(values.values()), color=plt.cm.tab10.colors[: len(values)])
    ax.bar_label(bars, fmt="%.2f")
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    return ax


class LiveLossPlot:
    """A loss curve that redraws in place inside a notebook while training runs."""

    def __init__(self, title: str = "Training loss (live)"):
        from IPython.display import display

        self.steps: list[int] = []
        self.losses: list[float] = []
        self.fig, self.ax = plt.subplots(figsize=(6, 3.2))
        self.title = title
        self.handle = display(self.fig, display_id=True)

    def add(self, step: int, loss: float, redraw: bool = True) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        if redraw:
            self.redraw()

    def redraw(self) -> None:
        self.ax.clear()
        self.ax.plot(self.steps, self.losses, marker=".")
        self.ax.set(xlabel="optimizer step", ylabel="loss", title=self.title)
        self.ax.grid(alpha=0.3)
        self.handle.update(self.fig)

    def close(self) -> None:
        self.redraw()
        plt.close(self.fig)  # keep the final picture in the output, not a second copy below it
