"""Generated sounds with known labels, so a learner can train and score an audio model without a download.

Two tasks share one generator of primitive events:

* `KINDS`, eight kinds of sound (a steady tone, rising and falling chirps, a noise burst, a two-note chord, a click
  train, tremolo, vibrato): plentiful labels, used to *pretrain* an encoder.
* `ALARMS`, four household alarms built from those primitives (a siren, a doorbell's "ding-dong", a phone's ring,
  a smoke alarm's three beeps): the *downstream* task, learnt from a handful of labelled clips each.

Every clip is one second at 16 kHz with a random pitch, timing, loudness and a background of noise at a random
signal-to-noise ratio, so no two clips are alike and the label cannot be read off one sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from labkit.audio.features import SAMPLE_RATE

KINDS = ("tone", "chirp up", "chirp down", "noise burst", "chord", "clicks", "tremolo", "vibrato")
ALARMS = ("siren", "doorbell", "phone ring", "smoke alarm")
CLIP_SECONDS = 1.0


@dataclass(frozen=True)
class Clips:
    """A batch of clips: waves (n, samples) in [-1, 1], integer labels and the label names."""

    waves: torch.Tensor
    labels: torch.Tensor
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def _envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """A soft attack and release (5-30 ms), so events start and end without clicks."""
    env = np.ones(n)
    for side in (0, 1):
        k = min(n // 2, int(SAMPLE_RATE * rng.uniform(0.005, 0.03)))
        ramp = np.sin(np.linspace(0, math.pi / 2, k)) ** 2
        if side == 0:
            env[:k] *= ramp
        else:
            env[n - k:] *= ramp[::-1]
    return env


def _sweep(f0: float, f1: float, n: int) -> np.ndarray:
    """A tone whose frequency moves geometrically from f0 to f1 over n samples (phase-continuous)."""
    freq = f0 * (f1 / f0) ** (np.arange(n) / max(n - 1, 1))
    return np.sin(2 * math.pi * np.cumsum(freq) / SAMPLE_RATE)


def _band_noise(n: int, centre: float, rng: np.random.Generator) -> np.ndarray:
    """White noise kept to one octave around `centre` (a hiss, a rush of air)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[(freqs < centre / math.sqrt(2)) | (freqs > centre * math.sqrt(2))] = 0
    wave = np.fft.irfft(spectrum, n)
    return wave / (np.abs(wave).max() + 1e-9)


def event(kind: str, n: int, rng: np.random.Generator, pitch: float | None = None) -> np.ndarray:
    """One event of a primitive kind, n samples long, peak about 1."""
    f = pitch if pitch is not None else float(np.exp(rng.uniform(math.log(250), math.log(2500))))
    t = np.arange(n) / SAMPLE_RATE
    if kind == "tone":
        wave = np.sin(2 * math.pi * f * t)
    elif kind == "chirp up":
        wave = _sweep(f / rng.uniform(2, 3), f, n)
    elif kind == "chirp down":
        wave = _sweep(f, f / rng.uniform(2, 3), n)
    elif kind == "noise burst":
        wave = _band_noise(n, f, rng)
    elif kind == "chord":
        wave = 0.5 * (np.sin(2 * math.pi * f * t) + np.sin(2 * math.pi * f * rng.uniform(1.25, 1.5) * t))
    elif kind == "clicks":
        wave = np.zeros(n)
        period = int(SAMPLE_RATE / rng.uniform(8, 20))
        click = np.sin(2 * math.pi * f * np.arange(80) / SAMPLE_RATE) * np.hanning(80)
        for start in range(int(rng.integers(0, period)), n - 80, period):
            wave[start:start + 80] += click
    elif kind == "tremolo":
        wave = np.sin(2 * math.pi * f * t) * (1 - 0.9 * (0.5 + 0.5 * np.sin(2 * math.pi * rng.uniform(4, 10) * t)))
    elif kind == "vibrato":
        rate, depth = rng.uniform(5, 8), rng.uniform(0.04, 0.08)
        freq = f * (1 + depth * np.sin(2 * math.pi * rate * t))
        wave = np.sin(2 * math.pi * np.cumsum(freq) / SAMPLE_RATE)
    else:
        raise ValueError(f"unknown sound kind {kind!r}; kinds are {', '.join(KINDS)}")
    return wave * _envelope(n, rng)


def _place(clip: np.ndarray, wave: np.ndarray, start: int, gain: float) -> None:
    end = min(len(clip), start + len(wave))
    clip[start:end] += gain * wave[: end - start]


def _alarm(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """An alarm as a pattern of primitive events in time: the label lives in the arrangement."""
    clip = np.zeros(n)
    f = float(np.exp(rng.uniform(math.log(400), math.log(2000))))
    offset = int(rng.integers(0, int(0.15 * SAMPLE_RATE)))
    if name == "siren":  # rising and falling sweeps, back to back
        half = int(SAMPLE_RATE * rng.uniform(0.18, 0.3))
        start, up = offset, bool(rng.integers(0, 2))
        while start < n:
            kind = "chirp up" if up else "chirp down"
            _place(clip, event(kind, half, rng, pitch=f), start, 1.0)
            start, up = start + half, not up
    elif name == "doorbell":  # two tones, the second lower: ding ... dong
        note = int(SAMPLE_RATE * rng.uniform(0.25, 0.35))
        decay = np.exp(-np.arange(note) / (0.35 * note))
        _place(clip, event("tone", note, rng, pitch=f) * decay, offset, 1.0)
        _place(clip, event("tone", note, rng, pitch=f / rng.uniform(1.2, 1.35)) * decay, offset + note + 800, 1.0)
    elif name == "phone ring":  # two bursts of a fast trill
        burst = int(SAMPLE_RATE * rng.uniform(0.25, 0.35))
        t = np.arange(burst) / SAMPLE_RATE
        trill = event("tone", burst, rng, pitch=f) * (0.5 + 0.5 * np.sign(np.sin(2 * math.pi * rng.uniform(15, 25) * t)))
        gap = int(SAMPLE_RATE * rng.uniform(0.08, 0.15))
        _place(clip, trill, offset, 1.0)
        _place(clip, trill, offset + burst + gap, 1.0)
    elif name == "smoke alarm":  # three short beeps of one pitch
        beep, gap = int(SAMPLE_RATE * rng.uniform(0.08, 0.14)), int(SAMPLE_RATE * rng.uniform(0.08, 0.14))
        for i in range(3):
            _place(clip, event("tone", beep, rng, pitch=f), offset + i * (beep + gap), 1.0)
    else:
        raise ValueError(f"unknown alarm {name!r}; alarms are {', '.join(ALARMS)}")
    # a household is not quiet: a distracting noise or click train somewhere in the clip, whatever the alarm
    length = int(SAMPLE_RATE * rng.uniform(0.2, 0.5))
    kind = ("noise burst", "clicks", "vibrato")[int(rng.integers(0, 3))]
    _place(clip, event(kind, length, rng), int(rng.integers(0, n - length)), rng.uniform(0.3, 0.8))
    return clip


def _finish(clip: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float]) -> np.ndarray:
    """Scale to a random loudness and add background noise at a random signal-to-noise ratio."""
    clip = clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.2, 0.8)
    signal_power = np.mean(clip ** 2)
    noise_power = signal_power / 10 ** (rng.uniform(*snr_db) / 10)
    return np.clip(clip + rng.standard_normal(len(clip)) * math.sqrt(noise_power), -1, 1)


def make_clips(task: str, per_class: int, seed: int, snr_db: tuple[float, float] = (0.0, 20.0)) -> Clips:
    """`per_class` clips of every label of `task` ("kinds" or "alarms"), in a shuffled order fixed by `seed`.

    Kinds are single events of 0.3-0.8 s at a random place in the clip; alarms fill the clip with their pattern."""
    if task not in ("kinds", "alarms"):
        raise ValueError(f"unknown task {task!r}; tasks are 'kinds' and 'alarms'")
    names = KINDS if task == "kinds" else ALARMS
    rng = np.random.default_rng(seed)
    n = int(SAMPLE_RATE * CLIP_SECONDS)
    waves, labels = [], []
    for label, name in enumerate(names):
        for _ in range(per_class):
            if task == "kinds":
                length = int(SAMPLE_RATE * rng.uniform(0.3, 0.8))
                clip = np.zeros(n)
                _place(clip, event(name, length, rng), int(rng.integers(0, n - length)), 1.0)
            else:
                clip = _alarm(name, n, rng)
            waves.append(_finish(clip, rng, snr_db))
            labels.append(label)
    order = rng.permutation(len(labels))
    return Clips(torch.tensor(np.stack(waves)[order], dtype=torch.float32), torch.tensor(labels)[order], names)


def few_per_class(clips: Clips, k: int, seed: int) -> Clips:
    """The first k clips of every label under a seeded shuffle: a small labelled set for few-label fine-tuning."""
    order = torch.randperm(len(clips), generator=torch.Generator().manual_seed(seed))
    keep = torch.cat([order[clips.labels[order] == label][:k] for label in range(len(clips.names))])
    return Clips(clips.waves[keep], clips.labels[keep], clips.names)
