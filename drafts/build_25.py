"""Drafting script of notebooks/25_vision_language.ipynb (tools/nbbuild.py).

Run `python drafts/build_25.py` to (re)write notebooks/25_vision_language.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 25 · Vision-language models

**Goal.** Teach a text-only LM to answer questions about pictures, the way LLaVA did (survey arXiv 2408.13296,
§11.1–11.3), and measure each step. A vision-language model (VLM) is three parts:

1. a **vision encoder** that turns an image into a grid of feature vectors;
2. a **projector**, a small MLP that maps each feature vector into the LM's embedding space, so a piece of the
   image becomes a *visual token* the LM reads like a word;
3. the **LM**, here SmolLM2, which gets the visual tokens in front of a question and answers in text.

Training goes in LLaVA's two stages: **stage 1** trains only the projector (encoder and LM frozen: the projector
learns to speak the LM's language), **stage 2** adds LoRA adapters on the LM (the LM learns to use what it
sees). We score visual question answering (VQA) on held-out pictures before, after stage 1 and after stage 2.

No vision encoder ships offline, so we pretrain a small one here on generated pictures whose content is known
(colour, shape, count of the shapes): every question has one right answer, scored by exact match, and a caption
is right when all three are. In the `gpu`
profile SmolVLM, a real VLM built the same way, is fine-tuned by name.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import matplotlib.pyplot as plt
import numpy as np
import torch

import labkit
from labkit import exercises, models, train
from labkit.seeding import shifted
from labkit.vision import images, vlm

profile = labkit.profile()
labkit.set_seed(0)
sizes = {
    "train_pictures": profile.pick(ci=2000, cpu=2000, gpu=4000),
    "test_pictures": profile.pick(ci=90, cpu=300, gpu=300),
    "pretrain_steps": profile.pick(ci=200, cpu=300, gpu=300),
    "stage1_steps": profile.pick(ci=30, cpu=60, gpu=200),
    "stage2_steps": profile.pick(ci=30, cpu=60, gpu=200),
    "batch_size": 16,
    "smolvlm": profile.pick(ci=None, cpu=None, gpu="HuggingFaceTB/SmolVLM-256M-Instruct"),
    "smolvlm_steps": 100,
}
device = profile.device
profile
"""),
("md", """
## The pictures
Each picture is 32 × 32 pixels: one to three shapes of one kind and one colour, at random places and sizes, on a
noisy grey background. The three questions ask for the colour, the shape and the count; a caption says all three.
"""),
("code", """
questions = list(images.QUESTIONS)  # "colour", "shape", "count"
train_scenes = images.make_scenes(sizes["train_pictures"], seed=shifted(1))
test_scenes = images.make_scenes(sizes["test_pictures"], seed=shifted(2))
x_train, x_test = images.render(train_scenes, seed=shifted(11)), images.render(test_scenes, seed=shifted(12))
print(f"{len(train_scenes)} training pictures, {len(test_scenes)} held out; questions: "
      + "; ".join(images.QUESTIONS.values()))

fig, axes = plt.subplots(1, 8, figsize=(12, 2))
for ax, picture, scene in zip(axes, x_test, test_scenes):
    ax.imshow(picture.permute(1, 2, 0).numpy()); ax.set_title(scene.caption(), fontsize=8); ax.axis("off")
plt.show()
"""),
("md", """
## Stage 0: a vision encoder
LLaVA starts from CLIP's image encoder, pretrained on web-scale image–caption pairs whose captions name colours,
objects and counts. Ours is three convolution blocks that end in a 4 × 4 grid of 64-number patch features,
pretrained here to name each picture's colour, shape and count from the grid's mean and maximum. So the encoder
already *knows* the answers; what the VLM must learn is to pass that knowledge, through the projector, into words
the LM says. After this cell the encoder is frozen for good: the VLM reads only its patch grid, not its heads.
"""),
("code", """
import time

labels_train, labels_test = images.attribute_labels(train_scenes), images.attribute_labels(test_scenes)
start = time.perf_counter()
encoder, pretrain_losses = vlm.pretrain_vision(x_train, labels_train, steps=sizes["pretrain_steps"], seed=shifted(0))
attributes = dict(zip(("colour", "shape", "count"), vlm.attribute_accuracy(encoder, x_test, labels_test)))
print("encoder's held-out accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in attributes.items())
      + f" (chance 0.25, 0.33, 0.33); {sum(p.numel() for p in encoder.parameters()):,} weights, "
      f"{sizes['pretrain_steps']} steps in {time.perf_counter() - start:.0f} s")
assert min(attributes.values()) > 0.8, "the encoder should see colour, shape and count before the LM is asked to"
"""),
("md", """
## Wiring the encoder to the LM
The grid has 16 patches. **Pixel shuffle** (Idefics3 folds 2 × 2 blocks of its grid, SmolVLM 4 × 4) folds each
2 × 2 block of patches into one vector of 4 × 64 = 256 numbers: 4 visual tokens instead of 16, nothing lost, and
the LM's sequence stays short (attention costs grow with its square). It is only a reshape; here it is by hand on
a grid whose patch *i* holds the number *i*:
"""),
("code", """
grid = torch.arange(16.0).reshape(1, 16, 1)  # 4 x 4 patches in reading order, one number each
by_hand = grid.reshape(1, 2, 2, 2, 2, 1).permute(0, 1, 3, 2, 4, 5).reshape(1, 4, 4)  # (row block, col block, 2 x 2)
print(by_hand[0])
assert torch.equal(by_hand, vlm.pixel_shuffle(grid)), "labkit's pixel_shuffle is this reshape"
"""),
("md", """
Token 0 holds patches 0, 1, 4, 5 (the top-left block), token 1 patches 2, 3, 6, 7, and so on. The **projector** (LayerNorm → Linear → GELU → Linear) maps each 256-vector to the
576 numbers of a SmolLM2 token embedding. Each row the LM reads is the text `Image:`, the 4 visual tokens, then the
question; the answer is the next token after `Answer:`, and every possible answer (`red`, `square`, `two` …) is
one token, so one forward pass scores one question over the LM's whole vocabulary.
"""),
("code", """
tokenizer = models.load_tokenizer(profile.lm)
lm = models.load_model(profile.lm, dtype=profile.dtype, device=device).requires_grad_(False)
torch.manual_seed(shifted(0))
model = vlm.VLM(encoder, lm, tokenizer)
row = tokenizer.tokenize(vlm.IMAGE_PREFIX) + ["<visual>"] * model.n_visual_tokens \\
    + tokenizer.tokenize(vlm.prompt_text("count"))
print("one row as the LM reads it:", " ".join(row).replace("Ġ", "·").replace("Ċ", "\\\\n"))
print(f"projector: {models.parameter_count(model.projector, trainable_only=True):,} weights; the LM: {models.parameter_count(lm):,} (frozen)")

def vqa(m, pictures=x_test):
    # exact match per question, and "caption": the share of pictures with all three answers right
    said = {q: m.answers(pictures, q) for q in images.QUESTIONS}
    right = {q: [a == s.answer(q) for a, s in zip(said[q], test_scenes)] for q in said}
    return {**{q: float(np.mean(r)) for q, r in right.items()}, "caption": float(np.mean(np.all(list(right.values()), axis=0)))}

scores = {"before": vqa(model)}
print("before training:", {q: round(a, 3) for q, a in scores["before"].items()})
print("its answers to 'What colour are the shapes?':", model.answers(x_test[:6], "colour"))
assert np.mean([scores["before"][q] for q in questions]) < 0.2, "an untrained projector should give the LM nothing to read"
"""),
("md", """
## Stage 1: train the projector only
The LM is frozen, so whatever it learns to answer must come through the visual tokens: the projector learns to
write, in the LM's own embedding space, something the LM reads as "red" or "three". The loss is the cross-entropy
of the right answer's token.
"""),
("code", """
stage1 = vlm.train_stage(model, x_train, train_scenes, sizes["stage1_steps"], seed=shifted(0), lr=1e-2,
                         batch_size=sizes["batch_size"], desc="stage 1")
scores["stage 1"] = vqa(model)
print(f"stage 1: {len(stage1.losses)} steps in {stage1.seconds:.0f} s, loss {stage1.losses[0]:.2f} -> "
      f"{np.mean(stage1.losses[-5:]):.2f};", {q: round(a, 3) for q, a in scores["stage 1"].items()})
gain1 = np.mean([scores["stage 1"][q] - scores["before"][q] for q in questions])
assert gain1 > 0.3, "training the projector alone should teach the frozen LM to answer"
"""),
("md", """
## Stage 2: LoRA on the LM as well
Now the LM may change too: LoRA adapters (rank 8) on the attention's query and value projections, trained with
the projector, as LLaVA's stage 2 trains the LM with its projector. Since the projector trains on, part of this
stage's gain could come from more projector steps alone; this notebook does not separate the two (to do so, train
a copy of the stage-1 projector alone for as many steps and compare).
"""),
("code", """
from peft import get_peft_model

model.lm = get_peft_model(lm, train.lora_config(profile, r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
train.fp32_master_weights(model.lm)
print(f"trainable in stage 2: {models.parameter_count(model, trainable_only=True):,} weights (projector + LoRA)")
stage2 = vlm.train_stage(model, x_train, train_scenes, sizes["stage2_steps"], seed=shifted(1), lr=3e-3,
                         batch_size=sizes["batch_size"], desc="stage 2")
scores["stage 2"] = vqa(model)
print(f"stage 2: {len(stage2.losses)} steps in {stage2.seconds:.0f} s, loss {stage2.losses[0]:.2f} -> "
      f"{np.mean(stage2.losses[-5:]):.2f};", {q: round(a, 3) for q, a in scores["stage 2"].items()})
mean = {stage: float(np.mean([s[q] for q in questions])) for stage, s in scores.items()}
print("mean VQA accuracy:", {stage: round(m, 3) for stage, m in mean.items()})
print("caption exact match (all three right):", {stage: round(s["caption"], 3) for stage, s in scores.items()})
assert mean["stage 2"] > mean["stage 1"] + 0.03, "adapting the LM should add to what the projector alone reached"
assert scores["stage 2"]["caption"] > scores["before"]["caption"] + 0.2, "the VLM should describe whole pictures"  # chance: 1/36
"""),
("md", """
**Is it looking?** An LM can score above chance without the image, from the answers' frequencies alone. Give
each question someone else's picture (the held-out pictures shuffled): a model that reads the image falls to
about chance, one that guesses from priors would not notice.
"""),
("code", """
order = torch.randperm(len(test_scenes), generator=torch.Generator().manual_seed(shifted(5)))
shuffled = vqa(model, x_test[order])
blind_mean = float(np.mean([shuffled[q] for q in questions]))
print("with the wrong pictures:", {q: round(a, 3) for q, a in shuffled.items()},
      f"mean {blind_mean:.3f} against {mean['stage 2']:.3f} with the right ones")
assert mean["stage 2"] - blind_mean > 0.3, "the answers should come from the picture"
"""),
("code", """
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
width, groups = 0.2, [*questions, "caption"]
for i, (stage, s) in enumerate({**scores, "stage 2, wrong picture": shuffled}.items()):
    left.bar(np.arange(len(groups)) + (i - 1.5) * width, [s[g] for g in groups], width, label=stage)
left.set_xticks(range(len(groups)), groups); left.set_ylabel("held-out exact match"); left.set_ylim(0, 1.35)
left.legend(fontsize=8, ncol=2, loc="upper center"); left.set_title("VQA accuracy by stage")
right.plot(stage1.losses, label="stage 1 (projector)")
right.plot(range(len(stage1.losses), len(stage1.losses) + len(stage2.losses)), stage2.losses, label="stage 2 (+ LoRA)")
right.set_xlabel("step"); right.set_ylabel("answer cross-entropy"); right.legend(); right.set_title("Training loss")
plt.show()

fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
for ax, i in zip(axes, range(6)):
    said = " ".join(model.answers(x_test[i:i + 1], q)[0] for q in ("count", "colour", "shape"))
    ax.imshow(x_test[i].permute(1, 2, 0).numpy()); ax.axis("off")
    ax.set_title(f"says: {said}\\ntrue: {test_scenes[i].caption()}", fontsize=7)
plt.show()
"""),
("md", """
Which question lags at each stage in your run? Colour and shape can be read from any visual token that holds a
shape; a count needs the LM to add up what all four hold. A caption is right only when all three answers are, so
it is the hardest score. Stage 1 alone already teaches the frozen LM most answers: a frozen LM can be *prompted*
by well-chosen embeddings (the idea of prompt tuning in notebook 12, here with prompts computed from the picture).
Try another draw of pictures and seeds with `LABKIT_SEED=1`.

## In the `gpu` profile: SmolVLM by name
SmolVLM-256M is this notebook's recipe at full size: a SigLIP encoder, pixel shuffle of 4 × 4 blocks, a linear
connector and SmolLM2-135M, pretrained on image–text data. `labkit.vision.smolvlm` fine-tunes it with LoRA on the
same pictures and questions (its own chat layout, loss on the answer only) and scores its greedy replies. Here (`ci`, `cpu`) there is no Hub, and the cell says so.
"""),
("code", """
if sizes["smolvlm"]:
    from labkit.vision import smolvlm

    big, processor = smolvlm.load(sizes["smolvlm"], profile)
    before = {q: smolvlm.vqa_accuracy(big, processor, x_test, test_scenes, q) for q in questions}
    tuned, _ = smolvlm.fine_tune(big, processor, x_train, train_scenes, steps=sizes["smolvlm_steps"], profile=profile,
                                 seed=shifted(0))
    after = {q: smolvlm.vqa_accuracy(tuned, processor, x_test, test_scenes, q) for q in questions}
    print(f"{sizes['smolvlm']} on {len(test_scenes)} held-out pictures, before -> after "
          f"{sizes['smolvlm_steps']} LoRA steps:", {q: f"{before[q]:.2f} -> {after[q]:.2f}" for q in questions})
    assert np.mean(list(after.values())) > np.mean(list(before.values())), "fine-tuning should help SmolVLM here"
else:
    print(f"profile {profile.name}: SmolVLM needs the Hub; run with the gpu profile to fine-tune it")
"""),
("md", """
## Exercises
**1. The baseline a blind model reaches.** A model that ignores the picture and always gives the most common
answer in the *training* pictures: what is its mean accuracy over the three questions on the held-out pictures?
Compare it with the wrong-picture row above.
"""),
("code", """
from collections import Counter

blind = None  # TODO: for each question, the most common training answer; its held-out accuracy; the mean of the three
most_common = {q: Counter(s.answer(q) for s in train_scenes).most_common(1)[0][0] for q in questions}
expected = float(np.mean([np.mean([s.answer(q) == most_common[q] for s in test_scenes]) for q in questions]))
exercises.check(blind, expected, tolerance=1e-9,
                hint="Counter(s.answer(q) for s in train_scenes).most_common(1) gives the most common answer to q.")
"""),
("md", """
**2. Without pixel shuffle.** How much longer would each row of the *count* question be if the VLM kept all of
the encoder's patches? Build `vlm.VLM(encoder, lm, tokenizer, shuffle=1)`, count the visual tokens it makes for
one picture (`visual_tokens(x_test[:1]).shape[1]`), and give the ratio of the row's length without shuffle to its
length with it (the text around the image stays the same length).
"""),
("code", """
row_ratio = None  # TODO: (text tokens + visual tokens without shuffle) / (text tokens + visual tokens with it)
text_tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in (vlm.IMAGE_PREFIX, vlm.prompt_text("count")))
patches = encoder.patches(x_test[:1]).shape[1]  # the encoder's grid, before any shuffle
exercises.check(row_ratio, (text_tokens + patches) / (text_tokens + model.n_visual_tokens), tolerance=1e-9,
                hint="the row is the text ('Image:' and the question) plus one position per visual token")
"""),
("md", """
## Summary
* A VLM is a vision encoder, a **projector** into the LM's embedding space and the LM: an image becomes a few
  *visual tokens* placed before the question. Pixel shuffle trades grid size for token width (16 patches → 4 tokens).
* **Stage 1**, the projector alone, already teaches a frozen LM to answer about pictures; **stage 2**, LoRA on
  the LM with the projector, adds to it, for single answers and for whole captions (the accuracies above).
* Check that a VLM reads the picture: with the wrong picture its accuracy should fall to what priors give.
* The same recipe at scale is LLaVA, Idefics3 and SmolVLM; in the `gpu` profile the last is fine-tuned by name.

Next: **26 · Audio and speech**.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "25_vision_language.ipynb")
