import numpy as np
import pytest
import torch
from scipy import ndimage

from labkit import models
from labkit.vision import images, vlm


def _shape_pixels(img: np.ndarray, scene: images.Scene) -> np.ndarray:
    """Pixels within 0.15 of the scene's colour in every channel (the background is grey, 0.35-0.65)."""
    target = np.array(images.COLOURS[scene.colour])[:, None, None]
    return (np.abs(img - target) < 0.15).all(0)


def test_every_picture_shows_its_labels():
    """The labels are true by construction: as many separate blobs of the scene's colour as its count, and the
    shape's area relative to its bounding box says circle (~0.79), square (1.0) or triangle (~0.5)."""
    scenes = images.make_scenes(60, seed=4)
    pictures = images.render(scenes, seed=5).numpy()
    fill = {"circle": [], "square": [], "triangle": []}
    for img, scene in zip(pictures, scenes):
        blobs, n = ndimage.label(_shape_pixels(img, scene))
        assert n == scene.count, scene
        for k in range(1, n + 1):
            ys, xs = np.nonzero(blobs == k)
            fill[scene.shape].append(len(ys) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1)))
    assert np.mean(fill["square"]) > 0.9
    assert 0.65 < np.mean(fill["circle"]) < 0.85
    assert np.mean(fill["triangle"]) < 0.62


def test_scenes_and_pictures_are_fixed_by_their_seeds():
    a, b = images.make_scenes(20, seed=1), images.make_scenes(20, seed=1)
    assert a == b and a != images.make_scenes(20, seed=2)
    assert torch.equal(images.render(a, seed=3), images.render(b, seed=3))
    assert not torch.equal(images.render(a, seed=3), images.render(a, seed=4))
    counts = np.bincount([s.count for s in images.make_scenes(900, seed=0)])[1:]
    assert counts.min() > 250  # uniform over 1-3: ~300 each


def test_answers_and_captions():
    scene = images.Scene("blue", "triangle", 2)
    assert [scene.answer(q) for q in images.QUESTIONS] == ["blue", "triangle", "two"]
    assert scene.caption() == "two blue triangles" and images.Scene("red", "square", 1).caption() == "one red square"
    with pytest.raises(ValueError, match="questions are colour, shape, count"):
        scene.answer("size")


def test_pixel_shuffle_folds_each_block_of_four_patches_into_one_token():
    grid = torch.arange(2 * 16 * 3, dtype=torch.float32).reshape(2, 16, 3)  # 4 x 4 patches of 3 numbers
    out = vlm.pixel_shuffle(grid, 2)
    assert out.shape == (2, 4, 12)
    # token 0 holds patches (0,0), (0,1), (1,0), (1,1) of the grid, i.e. patches 0, 1, 4, 5 in reading order
    assert torch.equal(out[0, 0], torch.cat([grid[0, 0], grid[0, 1], grid[0, 4], grid[0, 5]]))
    assert torch.equal(out[1, 3], torch.cat([grid[1, 10], grid[1, 11], grid[1, 14], grid[1, 15]]))
    assert torch.equal(out.flatten().sort().values, grid.flatten())  # nothing lost, nothing repeated
    with pytest.raises(ValueError, match="square grid"):
        vlm.pixel_shuffle(torch.zeros(1, 12, 3))


def test_vision_pretraining_learns_the_attributes():
    scenes = images.make_scenes(600, seed=0)
    x, y = images.render(scenes, seed=0), images.attribute_labels(scenes)
    held = images.make_scenes(120, seed=1)
    hx, hy = images.render(held, seed=1), images.attribute_labels(held)
    untrained = vlm.attribute_accuracy(vlm.VisionEncoder(), hx, hy)
    enc, losses = vlm.pretrain_vision(x, y, steps=60, seed=0)
    trained = vlm.attribute_accuracy(enc, hx, hy)
    assert losses[-1] < 0.5 * losses[0]
    assert trained[0] > 0.9 and trained[0] > untrained[0] + 0.4  # colour is the easiest: 4 classes, chance 0.25
    assert not any(p.requires_grad for p in enc.parameters())


@pytest.fixture(scope="module")
def tiny_vlm():
    tok = models.load_tokenizer(models.SMOLLM2)
    lm = models.tiny_llama(seed=0, vocab_size=len(tok)).requires_grad_(False)
    torch.manual_seed(0)
    return vlm.VLM(vlm.VisionEncoder().eval().requires_grad_(False), lm, tok)


def test_projector_maps_four_shuffled_patches_to_the_lm_width(tiny_vlm):
    x = images.render(images.make_scenes(3, seed=0), seed=0)
    tokens = tiny_vlm.visual_tokens(x)
    assert tokens.shape == (3, 4, 64) and tiny_vlm.n_visual_tokens == 4
    assert not torch.allclose(tokens[0], tokens[1])  # different pictures, different tokens


def test_a_rows_logits_do_not_depend_on_the_padding_its_batch_needs(tiny_vlm, monkeypatch):
    """A short question padded on the left beside a longer one gets the logits it gets alone (in fp32: bf16 rounding
    depends on the batch's shape)."""
    monkeypatch.setenv("LABKIT_CPU_BF16", "0")
    x = images.render(images.make_scenes(2, seed=0), seed=0)
    mixed = tiny_vlm.next_token_logits(x, ["shape", "colour"])  # "What shape are they?" is the shorter
    alone = tiny_vlm.next_token_logits(x[:1], ["shape"])
    assert torch.allclose(mixed[0], alone[0], atol=1e-4)
    assert not torch.allclose(mixed[0], tiny_vlm.next_token_logits(x[1:], ["shape"])[0], atol=1e-4)


def test_answers_are_one_token_and_a_splitting_tokenizer_is_refused(tiny_vlm):
    ids = tiny_vlm.answer_ids
    assert len(ids) == 10 and len(set(ids.values())) == 10

    class Splitter:
        def __call__(self, text, add_special_tokens=False):
            return type("Enc", (), {"input_ids": [1] * len(text)})()

    with pytest.raises(ValueError, match="more than one token"):
        vlm.answer_token_ids(Splitter())


def test_stage_one_trains_the_projector_only_and_lowers_the_loss(tiny_vlm):
    scenes = images.make_scenes(64, seed=0)
    x = images.render(scenes, seed=0)
    frozen = {k: v.clone() for k, v in tiny_vlm.lm.state_dict().items()}
    projector_before = [p.clone() for p in tiny_vlm.projector.parameters()]
    with torch.no_grad():
        qs = [list(images.QUESTIONS)[i % 3] for i in range(64)]
        before = tiny_vlm.loss(x, scenes, qs).item()
    result = vlm.train_stage(tiny_vlm, x, scenes, steps=30, seed=0, lr=1e-2)
    with torch.no_grad():
        after = tiny_vlm.loss(x, scenes, qs).item()
    # a random 2-layer LM barely listens to its input (its logits are near uniform: ln 49152 = 10.8), so the loss
    # moves ~0.1; an untrained projector would leave it exactly where it was. Notebook 25 measures the real effect.
    assert after < before - 0.05
    assert all(torch.equal(frozen[k], v) for k, v in tiny_vlm.lm.state_dict().items())
    assert all(not torch.equal(a, b) for a, b in zip(projector_before, tiny_vlm.projector.parameters()))
    assert len(result.losses) == 30


def test_a_stage_with_nothing_to_train_is_refused(tiny_vlm):
    tiny_vlm.projector.requires_grad_(False)
    try:
        with pytest.raises(ValueError, match="nothing in the VLM requires grad"):
            vlm.train_stage(tiny_vlm, torch.zeros(1, 3, 32, 32), images.make_scenes(1, 0), steps=1, seed=0, lr=1e-3)
    finally:
        tiny_vlm.projector.requires_grad_(True)


@pytest.fixture(scope="module")
def tiny_smolvlm():
    """A two-layer Idefics3 (SmolVLM's family) with random weights and its processor over SmolLM2's tokenizer:
    32-pixel pictures, 16-pixel patches, pixel shuffle 2, so one image token per picture."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    tok = models.load_tokenizer(models.SMOLLM2)
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 32},
                                             max_image_size={"longest_edge": 32})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=1)
    config = Idefics3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16),
        text_config=dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok)),
        scale_factor=2, image_token_id=processor.image_token_id)
    torch.manual_seed(0)
    return Idefics3ForConditionalGeneration(config), processor


def test_smolvlm_batch_labels_only_the_answer(tiny_smolvlm):
    from labkit.vision import smolvlm

    _, processor = tiny_smolvlm
    scenes = [images.Scene("yellow", "circle", 1), images.Scene("red", "square", 3)]
    b = smolvlm.batch(processor, images.render(scenes, seed=0), scenes, ["colour", "count"])
    end = processor.tokenizer.convert_tokens_to_ids(smolvlm.END)
    for row, word in zip(b["labels"], ["yellow", "three"]):
        assert row[row != -100].tolist() == processor.tokenizer(" " + word, add_special_tokens=False).input_ids + [end]
    assert (b["input_ids"] == processor.image_token_id).sum(1).tolist() == [1, 1]  # the image's one token, in place
    assert b["pixel_values"].shape == (2, 1, 3, 32, 32)


def test_smolvlm_fine_tune_trains_only_lora_on_the_lm(tiny_smolvlm):
    from labkit.profiles import profile as get_profile
    from labkit.vision import smolvlm

    model, processor = tiny_smolvlm
    scenes = images.make_scenes(8, seed=0)
    x = images.render(scenes, seed=0)
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    tuned, losses = smolvlm.fine_tune(model, processor, x, scenes, steps=3, profile=get_profile("ci"), batch_size=2)
    trained = [n for n, p in tuned.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n and "text_model" in n for n in trained)
    changed = [n for n, p in tuned.named_parameters() if "lora_B" in n and p.abs().sum() > 0]
    assert changed  # lora_B starts at zero: only a real update moves it
    base = {k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in tuned.state_dict().items()
            if "lora_" not in k}
    assert all(torch.equal(frozen[k], base[k]) for k in frozen)
    assert len(losses) == 3 and len(smolvlm.answers(tuned, processor, x[:3], "colour")) == 3


def test_smolvlm_by_name_without_the_hub_names_the_profiles_that_work():
    from labkit.errors import ModelError
    from labkit.profiles import profile as get_profile
    from labkit.vision import smolvlm

    with pytest.raises(ModelError, match="LABKIT_PROFILE=cpu"):
        smolvlm.load("HuggingFaceTB/SmolVLM-256M-Instruct", get_profile("ci"))


def test_smolvlm_replies_are_read_for_the_first_possible_answer():
    from labkit.vision import smolvlm

    assert smolvlm.first_answer(" There are 3 circles.") == "three"
    assert smolvlm.first_answer("Red.") == "red" and smolvlm.first_answer("It is a blue square") == "blue"
    assert smolvlm.first_answer("Purple!") == "purple" and smolvlm.first_answer("") == ""


def test_the_fp16_path_trains_fp32_weights_over_an_fp16_lm():
    """The gpu profile on a T4 (and LABKIT_DTYPE=float16): the LM's weights in fp16, what trains in fp32 (the
    GradScaler unscales into fp32 gradients); the projector and LoRA must move and stay fp32, the base stay fp16.
    Notebook 25 itself is not run in fp16 on CPU: this EPYC has no fp16 matmuls, a step takes ~17x longer."""
    from peft import LoraConfig, get_peft_model

    from labkit import train

    tok = models.load_tokenizer(models.SMOLLM2)
    lm = models.tiny_llama(seed=0, vocab_size=len(tok)).to(torch.float16).requires_grad_(False)
    torch.manual_seed(0)
    model = vlm.VLM(vlm.VisionEncoder().eval().requires_grad_(False), lm, tok)
    model.lm = get_peft_model(lm, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    train.fp32_master_weights(model.lm)
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(p.dtype == torch.float32 for p in trained.values())
    scenes = images.make_scenes(8, seed=0)
    result = vlm.train_stage(model, images.render(scenes, seed=0), scenes, steps=3, seed=0, lr=1e-2, batch_size=4)
    assert all(np.isfinite(result.losses))
    after = dict(model.named_parameters())
    assert all(after[n].dtype == torch.float32 for n in trained)
    assert all(not torch.equal(trained[n], after[n]) for n in trained if "lora_A" in n or "projector" in n)
    assert next(p for n, p in model.lm.named_parameters() if "q_proj.base_layer" in n).dtype == torch.float16
