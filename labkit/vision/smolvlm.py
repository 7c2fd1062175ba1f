"""SmolVLM fine-tuned by name (notebook 25, `gpu` profile): the same pictures and questions, a real pretrained VLM.

SmolVLM-256M is notebook 25's recipe at full size: a SigLIP encoder, pixel shuffle (4 x 4 blocks), a linear connector
and SmolLM2-135M, pretrained on image-text data. Here it gets LoRA adapters on its LM's attention and is trained on the answer
tokens only, the way `vlm.train_stage` trains the small one. transformers loads it as Idefics3 (its family name).
"""

from __future__ import annotations

import torch
from PIL import Image

from labkit import evaluate, models, train
from labkit.profiles import Profile
from labkit.vision.images import COLOURS, COUNTS, QUESTIONS, SHAPES, Scene

END = "<end_of_utterance>"
ANSWERS = {*COLOURS, *SHAPES, *COUNTS}
DIGITS = {str(i + 1): word for i, word in enumerate(COUNTS)}  # a pretrained VLM may answer "3" for "three"


def prompt(question: str) -> str:
    """SmolVLM's chat layout for one image and one question, as its chat template writes it
    (`<|im_start|>User:<image>{text}<end_of_utterance>\nAssistant:`); the processor expands `<image>`."""
    return f"<|im_start|>User:<image>{QUESTIONS[question]} Answer with one word.{END}\nAssistant:"


def to_pil(pictures: torch.Tensor) -> list[Image.Image]:
    """(n, 3, H, W) floats in [0, 1] -> RGB images; the processor resizes them to the encoder's input size."""
    arrays = (pictures.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in arrays]


def load(name: str, profile: Profile):
    """The model (in the profile's precision, on its device) and its processor, with image splitting off: a
    32-pixel picture has nothing to gain from being cut into tiles."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    models.check_available(name)
    processor = AutoProcessor.from_pretrained(name)
    processor.image_processor.do_image_splitting = False
    model = AutoModelForImageTextToText.from_pretrained(name, dtype=profile.torch_dtype).to(profile.device)
    return model, processor


def batch(processor, pictures: torch.Tensor, scenes: list[Scene], questions: list[str]) -> dict[str, torch.Tensor]:
    """Prompt + answer tokens per example, right-padded; labels mark only the answer and its end token."""
    tokenizer = processor.tokenizer
    rows, labels, pixels, pixel_masks = [], [], [], []
    for image, scene, q in zip(to_pil(pictures), scenes, questions):
        encoded = processor(text=prompt(q), images=[image], return_tensors="pt")
        answer = tokenizer(" " + scene.answer(q) + END, add_special_tokens=False).input_ids
        ids = encoded.input_ids[0].tolist()
        rows.append(ids + answer)
        labels.append([-100] * len(ids) + answer)
        pixels.append(encoded.pixel_values[0])
        if "pixel_attention_mask" in encoded:
            pixel_masks.append(encoded.pixel_attention_mask[0])
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = {"input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
           "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
           "labels": torch.tensor([r + [-100] * (width - len(r)) for r in labels]),
           "pixel_values": torch.stack(pixels)}
    if pixel_masks:  # which pixels are the image and which the processor's padding
        out["pixel_attention_mask"] = torch.stack(pixel_masks)
    return out


def add_lora(model, profile: Profile, r: int = 8):
    """LoRA on the LM's attention (query and value) only; the vision encoder and the projector stay as pretrained."""
    from peft import get_peft_model

    config = train.lora_config(profile, r=r, lora_alpha=2 * r, target_modules=r".*text_model.*\.(q_proj|v_proj)")
    peft_model = get_peft_model(model, config)
    train.fp32_master_weights(peft_model)
    return peft_model


def fine_tune(model, processor, pictures: torch.Tensor, scenes: list[Scene], steps: int, profile: Profile,
              seed: int = 0, lr: float = 2e-4, batch_size: int = 8):
    """`steps` AdamW steps of LoRA on random (picture, question) pairs; returns the peft model and the losses."""
    peft_model = add_lora(model, profile)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    device = next(peft_model.parameters()).device
    scaler = torch.amp.GradScaler(device.type, enabled=profile.dtype == "float16")
    kinds, losses = list(QUESTIONS), []
    peft_model.train()
    for _ in range(steps):
        idx = torch.randint(len(scenes), (batch_size,), generator=gen).tolist()
        qs = [kinds[int(j)] for j in torch.randint(len(kinds), (batch_size,), generator=gen)]
        inputs = batch(processor, pictures[idx], [scenes[i] for i in idx], qs)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with _autocast(device, profile):
            loss = peft_model(**inputs).loss
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    peft_model.eval()
    return peft_model, losses


def _autocast(device: torch.device, profile: Profile):
    """The profile's precision (the GradScaler above follows it too); fp32 profiles get labkit's CPU bf16 rule."""
    if profile.dtype in ("float16", "bfloat16"):
        return torch.autocast(device.type, dtype=profile.torch_dtype)
    return evaluate.autocast(device)


def first_answer(reply: str) -> str:
    """The first word of a reply that is one of the possible answers ("3" read as "three"), else its first word:
    a pretrained VLM says "There are three circles." as readily as "three"."""
    words = [w.strip(".,!?:;\"'").lower() for w in reply.split()]
    words = [DIGITS.get(w, w) for w in words]
    return next((w for w in words if w in ANSWERS), words[0] if words else "")


@torch.no_grad()
def answers(model, processor, pictures: torch.Tensor, question: str, batch_size: int = 16) -> list[str]:
    """Greedy replies (a few tokens), each read by `first_answer`."""
    tokenizer = processor.tokenizer
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    device = next(model.parameters()).device
    words = []
    images = to_pil(pictures)
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        inputs = processor(text=[prompt(question)] * len(chunk), images=[[im] for im in chunk], return_tensors="pt",
                           padding=True).to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        words += [first_answer(r) for r in tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:],
                                                                 skip_special_tokens=True)]
    tokenizer.padding_side = side
    return words


def vqa_accuracy(model, processor, pictures: torch.Tensor, scenes: list[Scene], question: str) -> float:
    return evaluate.accuracy(answers(model, processor, pictures, question), [s.answer(question) for s in scenes])
