import math

import numpy as np
import pytest
import torch

from labkit.audio import encoder, features, sounds


def test_log_mel_matches_whisper_feature_extractor():
    """The same numbers as transformers' Whisper front end, everywhere but the clip's last frame (Whisper pads the
    clip to 30 s with zeros before its STFT, we reflect the clip's own end)."""
    from transformers import WhisperFeatureExtractor

    clips = sounds.make_clips("alarms", 1, seed=3)
    fe = WhisperFeatureExtractor()
    for wave in clips.waves:
        ref = fe(wave.numpy(), sampling_rate=features.SAMPLE_RATE, return_tensors="np").input_features[0]
        ours = features.log_mel(wave).numpy()
        assert ours.shape == (80, 100)
        assert np.abs(ours[:, :-1] - ref[:, :99]).max() < 1e-4


def test_mel_filters_equal_whisper_and_have_unit_area_in_hz():
    from transformers import WhisperFeatureExtractor

    ours = features.mel_filters()
    assert np.abs(ours.numpy() - WhisperFeatureExtractor().mel_filters).max() < 1e-6
    hz_per_bin = features.SAMPLE_RATE / features.N_FFT
    areas = ours.sum(0) * hz_per_bin  # Slaney normalisation: each triangle's area is 1 (up to the bin grid)
    assert torch.allclose(areas, torch.ones_like(areas), atol=0.1)  # unnormalised, they would span 40-500 Hz


def test_mel_scale_round_trips_and_is_linear_below_1khz():
    hz = torch.tensor([0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0], dtype=torch.float64)
    assert torch.allclose(features.mel_to_hz(features.hz_to_mel(hz)), hz, atol=1e-6)
    assert features.hz_to_mel(torch.tensor(500.0)) == pytest.approx(2 * features.hz_to_mel(torch.tensor(250.0)))


def test_a_tone_lights_the_band_of_its_pitch():
    t = torch.arange(features.SAMPLE_RATE) / features.SAMPLE_RATE
    centres = features.mel_to_hz(torch.linspace(0, float(features.hz_to_mel(torch.tensor(8000.0))), 82))[1:-1]
    for hz in (300.0, 1200.0, 5000.0):
        band = int(features.log_mel(0.5 * torch.sin(2 * math.pi * hz * t)).mean(1).argmax())
        assert abs(float(centres[band]) - hz) / hz < 0.1


def test_clips_are_balanced_seeded_and_differ_between_seeds():
    a, b, c = (sounds.make_clips("kinds", 3, seed=s) for s in (0, 0, 1))
    assert a.waves.shape == (24, 16000) and torch.bincount(a.labels).tolist() == [3] * 8
    assert torch.equal(a.waves, b.waves) and not torch.equal(a.waves, c.waves)
    assert float(a.waves.abs().max()) <= 1.0 and float(a.waves.abs().amax(1).min()) > 0.1


@pytest.mark.parametrize("name", sounds.KINDS)
def test_every_kind_has_its_signature(name):
    """Measured on clean events: chirps move their peak frequency the right way, tremolo and clicks vary their
    loudness, a noise burst spreads its energy, a tone keeps it in one band."""
    rng = np.random.default_rng(0)
    wave = torch.tensor(sounds.event(name, 8000, rng, pitch=1000.0), dtype=torch.float32)
    mel = features.log_mel(wave)
    peak = mel[:, 5:-5].argmax(0).float()  # the loudest band in each frame
    rise = float(peak[-10:].mean() - peak[:10].mean())
    if name == "chirp up":
        assert rise > 5
    elif name == "chirp down":
        assert rise < -5
    elif name in ("tone", "vibrato", "chord"):
        assert abs(rise) < 3
    loudness = mel[:, 5:-5].amax(0)
    if name in ("tremolo", "clicks"):
        assert float(loudness.std()) > 0.15
    spread = int((mel[:, 40] > mel[:, 40].max() - 0.5).sum())  # bands within 2 decades of the loudest
    if name == "noise burst":
        assert spread >= 6
    elif name == "tone":
        assert spread <= 4


def test_unknown_names_are_refused_with_the_list():
    with pytest.raises(ValueError, match="chirp up"):
        sounds.event("whistle", 100, np.random.default_rng(0))
    with pytest.raises(ValueError, match="alarms"):
        sounds.make_clips("speech", 1, seed=0)


def test_few_per_class_takes_k_of_every_label():
    clips = sounds.make_clips("alarms", 5, seed=0)
    few = sounds.few_per_class(clips, 2, seed=1)
    assert torch.bincount(few.labels).tolist() == [2, 2, 2, 2]
    assert not torch.equal(few.waves, sounds.few_per_class(clips, 2, seed=2).waves)


def test_encoder_learns_the_kinds_and_fine_tuning_copies_it():
    train = sounds.make_clips("kinds", 12, seed=0)
    test = sounds.make_clips("kinds", 6, seed=1)
    x, xt = features.log_mel(train.waves), features.log_mel(test.waves)
    model = encoder.Classifier(encoder.AudioEncoder(width=8), 8)
    before = encoder.accuracy(model, xt, test.labels)
    result = encoder.train_classifier(model, x, train.labels, steps=60, seed=0, lr=3e-3)
    after = encoder.accuracy(result.model, xt, test.labels)
    assert after > before + 0.3 and result.losses[-1] < result.losses[0]
    weights = [p.clone() for p in result.model.encoder.parameters()]
    tuned = encoder.fine_tune(result.model.encoder, 4, x[:8], train.labels[:8] % 4, steps=3, seed=0, width=8)
    assert tuned.encoder is not result.model.encoder
    assert all(torch.equal(a, b) for a, b in zip(weights, result.model.encoder.parameters()))  # the original kept


def test_linear_probe_leaves_the_encoder_untouched():
    clips = sounds.make_clips("alarms", 4, seed=0)
    x = features.log_mel(clips.waves)
    pretrained = encoder.AudioEncoder(width=8)
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}
    probe = encoder.linear_probe(pretrained, 4, x, clips.labels, steps=5, seed=0)
    assert all(torch.equal(state[k], v) for k, v in probe.encoder.state_dict().items())  # BN statistics too
    assert not torch.equal(probe.head.weight, encoder.linear_probe(pretrained, 4, x, clips.labels, 0, seed=0).head.weight)


def test_whisper_encoder_pool_takes_log_mel_of_a_short_clip():
    """The gpu profile's Whisper path, on a tiny randomly initialised Whisper encoder (no download)."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                           num_mel_bins=80, max_source_positions=1500)
    pool = encoder.WhisperEncoderPool(WhisperEncoder(config))
    x = features.log_mel(sounds.make_clips("alarms", 1, seed=0).waves)
    emb = pool(x)
    assert emb.shape == (4, 16) and torch.isfinite(emb).all()
    model = encoder.Classifier(pool, 4)
    assert model(x).shape == (4, 4)
