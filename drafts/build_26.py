"""Drafting script of notebooks/26_audio_speech.ipynb (tools/nbbuild.py).

Run `python drafts/build_26.py` to (re)write notebooks/26_audio_speech.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 26 · Audio and speech

**Goal.** Fine-tune an audio model, and measure what its pretraining is worth (survey arXiv 2408.13296,
§11.4). Speech and sound models (Whisper, wav2vec 2.0, audio classifiers) do not read the wave itself:
they read a **log-mel spectrogram**, the energy in each of 80 pitch bands every 10 ms. We

1. build that front end in a few lines of torch and check it against Whisper's own feature extractor;
2. **pretrain** a small convolutional encoder on a task with plentiful labels (eight kinds of sound);
3. **fine-tune** it on a new task, four household alarms, from 1, 2, 4 or 8 labelled clips each, beside
   the same network trained from random weights and a linear probe on the frozen encoder: the
   **sample-efficiency curve** is the measured effect.

No pretrained audio encoder ships offline, so the pretraining happens here, on generated clips whose
labels are known by construction. In the `gpu` profile Whisper-tiny's pretrained encoder takes the
same place, by name.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import matplotlib.pyplot as plt
import numpy as np
import torch

import labkit
from labkit import exercises
from labkit.audio import encoder, features, sounds
from labkit.seeding import shifted

profile = labkit.profile()
labkit.set_seed(0)
sizes = {
    "pretrain_per_class": profile.pick(ci=150, cpu=300, gpu=300),  # clips of each of the 8 kinds
    "pretrain_steps": profile.pick(ci=200, cpu=400, gpu=400),
    "alarm_pool_per_class": 40,  # the labelled clips the few-label sets are drawn from
    "alarm_test_per_class": profile.pick(ci=50, cpu=100, gpu=100),
    "labels_per_class": profile.pick(ci=(1, 2, 4, 8), cpu=(1, 2, 4, 8, 16), gpu=(1, 2, 4, 8, 16)),
    "draws": profile.pick(ci=1, cpu=3, gpu=3),  # few-label sets drawn per k, averaged
    "fine_tune_steps": 60,
    "width": 16,  # channels of the first conv block
    "whisper": profile.pick(ci=None, cpu=None, gpu="openai/whisper-tiny"),
}
device = profile.device
torch.set_num_threads(torch.get_num_threads())  # OMP_NUM_THREADS, if set, decides
profile
"""),
("md", """
## What the model hears
Every clip is one second at 16 kHz with a random pitch, timing and loudness, over background noise at a
random signal-to-noise ratio (0–20 dB). The **kinds** are single events; the **alarms** are patterns of
events in time (a siren sweeps up and down, a doorbell plays two falling notes, a phone trills twice, a
smoke alarm beeps three times), and each alarm clip also holds a distracting noise, click train or warble.
"""),
("code", """
pretrain = sounds.make_clips("kinds", sizes["pretrain_per_class"], seed=shifted(100))
pretrain_test = sounds.make_clips("kinds", 25, seed=shifted(200))
alarm_pool = sounds.make_clips("alarms", sizes["alarm_pool_per_class"], seed=shifted(300))
alarm_test = sounds.make_clips("alarms", sizes["alarm_test_per_class"], seed=shifted(400))
x_pre, x_pre_test, x_test = (features.log_mel(c.waves) for c in (pretrain, pretrain_test, alarm_test))
print(f"pretraining clips {len(pretrain)}, held out {len(pretrain_test)}; alarm pool {len(alarm_pool)}, "
      f"alarm test {len(alarm_test)}; log-mel {tuple(x_pre.shape[1:])} (bands x frames) per clip")

def show(clips, title):
    fig, axes = plt.subplots(2, len(clips.names), figsize=(2.2 * len(clips.names), 3.6))
    for label, name in enumerate(clips.names):
        i = int((clips.labels == label).nonzero()[0])
        axes[0, label].plot(clips.waves[i].numpy(), linewidth=0.3)
        axes[0, label].set_title(name, fontsize=9)
        axes[0, label].axis("off")
        axes[1, label].imshow(features.log_mel(clips.waves[i]).numpy(), origin="lower", aspect="auto", cmap="magma")
        axes[1, label].set_xlabel("10 ms frames", fontsize=7)
    axes[1, 0].set_ylabel("mel band")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()

show(pretrain, "Pretraining task: eight kinds of sound (wave above, log-mel below)")
show(alarm_test, "Downstream task: four alarms")
"""),
("md", """
## The front end, checked against Whisper's
`features.log_mel` is a short-time Fourier transform (400-sample Hann windows every 160 samples), 80
triangular **mel** filters (narrow at low pitches, wide at high ones, as hearing is), a log10 with a floor
8 decades under the loudest band, and Whisper's scaling. transformers' `WhisperFeatureExtractor` computes
the same thing in NumPy; the two must agree on every frame but the last (Whisper pads the clip to 30 s with
zeros before its transform, we reflect the clip's end).
"""),
("code", """
from transformers import WhisperFeatureExtractor

extractor = WhisperFeatureExtractor()
worst = 0.0
for wave in alarm_test.waves[:8]:
    theirs = extractor(wave.numpy(), sampling_rate=features.SAMPLE_RATE, return_tensors="np").input_features[0]
    ours = features.log_mel(wave).numpy()
    worst = max(worst, float(np.abs(ours[:, :-1] - theirs[:, : ours.shape[1] - 1]).max()))
print(f"largest difference from Whisper's features over 8 clips: {worst:.1e} (features span about 2 units)")
assert worst < 1e-4, "labkit's log-mel should equal Whisper's feature extractor"
"""),
("md", """
## Pretraining: eight kinds of sound
Four convolution blocks over the spectrogram, then the mean and the maximum over time and frequency (the mean
hears steady sounds, the maximum short events): an embedding of 128 numbers per clip, and a linear head on it.
Chance on eight kinds is 12.5 %.
"""),
("code", """
torch.manual_seed(shifted(0))
kind_model = encoder.Classifier(encoder.AudioEncoder(width=sizes["width"]), len(sounds.KINDS))
kinds_before = encoder.accuracy(kind_model, x_pre_test, pretrain_test.labels, device=device)
pretrained = encoder.train_classifier(kind_model, x_pre, pretrain.labels, steps=sizes["pretrain_steps"],
                                      seed=shifted(0), lr=3e-3, device=device)
kinds_after = encoder.accuracy(pretrained.model, x_pre_test, pretrain_test.labels, device=device)
print(f"held-out accuracy on the 8 kinds: {kinds_before:.2f} untrained -> {kinds_after:.2f} after "
      f"{sizes['pretrain_steps']} steps ({sum(p.numel() for p in kind_model.parameters()):,} weights)")
plt.figure(figsize=(5, 2.5))
plt.plot(pretrained.losses, linewidth=0.8)
plt.xlabel("step"); plt.ylabel("cross-entropy"); plt.title("Pretraining loss"); plt.show()
assert kinds_after > 0.6, "pretraining should learn the eight kinds (chance is 0.125)"
sound_encoder = pretrained.model.encoder.cpu()
"""),
("md", """
## Fine-tuning with few labels: pretrained vs from scratch
The alarms are new labels, never seen in pretraining, but made of the same sounds. For each k we draw k
labelled clips per alarm and train three models for the same number of steps: the **pretrained** encoder
with a new head, all weights trained; the same architecture from **random** weights; and a **linear probe**,
only a new head on the frozen pretrained encoder. All are scored on the same held-out alarms (chance 25 %).
"""),
("code", """
curve = {"pretrained, fine-tuned": [], "linear probe (frozen)": [], "from scratch": []}
for k in sizes["labels_per_class"]:
    scores = {name: [] for name in curve}
    for draw in range(sizes["draws"]):
        few = sounds.few_per_class(alarm_pool, k, seed=shifted(draw))
        x_few, seed = features.log_mel(few.waves), shifted(draw)
        steps = sizes["fine_tune_steps"]
        tuned = encoder.fine_tune(sound_encoder, 4, x_few, few.labels, steps, seed, device=device)
        scratch = encoder.fine_tune(None, 4, x_few, few.labels, steps, seed, device=device, width=sizes["width"])
        probe = encoder.linear_probe(sound_encoder, 4, x_few, few.labels, steps, seed, device=device)
        for name, model in (("pretrained, fine-tuned", tuned), ("linear probe (frozen)", probe), ("from scratch", scratch)):
            scores[name].append(encoder.accuracy(model, x_test, alarm_test.labels, device=device))
    for name in curve:
        curve[name].append(float(np.mean(scores[name])))
    print(f"k = {k:2d} labelled clips per alarm: " + ", ".join(f"{n} {curve[n][-1]:.2f}" for n in curve))

ks = list(sizes["labels_per_class"])
plt.figure(figsize=(5.5, 3.5))
for name, accs in curve.items():
    plt.plot(ks, accs, marker="o", label=name)
plt.axhline(0.25, color="grey", linestyle=":", label="chance")
plt.xscale("log", base=2); plt.xticks(ks, [str(k) for k in ks])
plt.xlabel("labelled clips per alarm"); plt.ylabel("held-out accuracy"); plt.ylim(0, 1.02)
plt.title("Sample efficiency on the alarms"); plt.legend(fontsize=8); plt.show()
"""),
("code", """
gaps = np.array(curve["pretrained, fine-tuned"]) - np.array(curve["from scratch"])
print("pretrained minus scratch, per k:", " ".join(f"{g:+.2f}" for g in gaps), f"(mean {gaps.mean():+.3f})")
assert gaps.mean() >= 0.05, "pretraining should be worth at least 5 points of accuracy when labels are few"
assert (gaps > 0).sum() >= len(gaps) - 1, "the pretrained encoder should win at (almost) every k"
"""),
("md", """
Read the curve from the left. With one or two clips per alarm the scratch network has to discover what a
sweep or a beep looks like from a handful of spectrograms; the pretrained encoder already has features for
them, and only has to learn which arrangement is which alarm. As labels grow the scratch network catches up:
pretraining buys **labels**, not a higher ceiling. The frozen probe shows how far the pretrained features go
unchanged: with one or two clips per alarm it often matches or beats fine-tuning every weight (a head has
few weights to fit, the whole encoder the count printed above), while fine-tuning pays as the labels grow. Compare the
two lines in your run, and try another draw (`LABKIT_SEED=1`).

## In the `gpu` profile: Whisper's encoder by name
Whisper's encoder was pretrained on 680,000 hours of speech. `encoder.whisper_encoder` loads it from the Hub
and mean-pools its hidden states over the frames that hold the clip, so it drops into the same
`fine_tune` call in place of our encoder. Here (`ci`, `cpu`) there is no Hub, and the cell says so.
"""),
("code", """
if sizes["whisper"]:
    whisper = encoder.whisper_encoder(sizes["whisper"], device=device)
    few = sounds.few_per_class(alarm_pool, 4, seed=shifted(0))
    tuned = encoder.fine_tune(whisper, 4, features.log_mel(few.waves), few.labels, sizes["fine_tune_steps"],
                              shifted(0), lr=1e-4, device=device)
    print(f"{sizes['whisper']} fine-tuned on 4 clips per alarm: "
          f"{encoder.accuracy(tuned, x_test, alarm_test.labels, device=device, batch_size=16):.2f}")
else:
    print(f"profile {profile.name}: Whisper needs the Hub; run with the gpu profile to fine-tune it")
"""),
("md", """
## Exercises
**1. Frames per second.** How many log-mel frames does a clip of 2.5 s give? Compute it with
`features.log_mel` on a wave of zeros of the right length, rather than from the formula.
"""),
("code", """
frames = None  # TODO: features.log_mel(torch.zeros(...)).shape[-1] for a 2.5 s wave
exercises.check(frames, int(2.5 * features.SAMPLE_RATE) // features.HOP,
                hint="2.5 s at features.SAMPLE_RATE samples per second; the last dimension counts frames.")
"""),
("md", """
**2. Which alarm is hardest from scratch?** Train a scratch model on 2 clips per alarm (as above) and find the
alarm whose held-out recall is lowest. `encoder.fine_tune(None, 4, ...)` trains it; the model's arg-max over
`x_test` gives its predictions.
"""),
("code", """
few = sounds.few_per_class(alarm_pool, 2, seed=shifted(0))
scratch2 = encoder.fine_tune(None, 4, features.log_mel(few.waves), few.labels, sizes["fine_tune_steps"],
                             shifted(0), device=device, width=sizes["width"])
with torch.no_grad():
    predicted = scratch2.cpu()(x_test).argmax(-1)
recall = [float((predicted[alarm_test.labels == a] == a).float().mean()) for a in range(4)]
hardest = None  # TODO: the name (from sounds.ALARMS) of the alarm with the lowest recall
exercises.check(hardest, sounds.ALARMS[int(np.argmin(recall))],
                hint="np.argmin(recall) is the index; sounds.ALARMS maps it to the name.")
"""),
("md", """
## Summary
* A **log-mel spectrogram** is what audio models read: an STFT, mel filters that pool frequencies the way
  hearing does, a log. Ours equals Whisper's feature extractor (the check above).
* An encoder **pretrained** on a task with plentiful labels transfers to a new task built from the same
  sounds: with one to eight labelled clips per class it beats the same network trained from scratch, and
  the gap closes as labels grow (the curve above). That is the reason to fine-tune a pretrained audio
  model, Whisper or wav2vec 2.0, rather than train one.
* Freezing the encoder (a linear probe) is the cheapest transfer; fine-tuning every weight adapts the
  features to the new task as well.

Next: **27 · Privacy**.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "26_audio_speech.ipynb")
