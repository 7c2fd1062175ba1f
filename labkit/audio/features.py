"""A log-mel front end written out in torch: what every speech model (Whisper, wav2vec 2.0's successors, audio
classifiers) sees instead of the raw wave.

A short-time Fourier transform cuts the wave into overlapping 25 ms windows and measures the energy at each
frequency; a mel filter bank then pools those frequencies into bands that are narrow where hearing is fine (low
pitches) and wide where it is coarse (high pitches); the log compresses loudness the way the ear does. The
parameters default to Whisper's (16 kHz, 400-sample window, 160-sample hop, 80 Slaney-style mel bands, log10,
8-decade floor, scaled by (x + 4) / 4), so the numbers can be checked against transformers' `WhisperFeatureExtractor`
and a Whisper encoder in the `gpu` profile takes the same features.
"""

from __future__ import annotations

import math

import torch

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms: 100 frames per second
N_MELS = 80


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (librosa's default, used by Whisper): linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + torch.log(torch.clamp(hz, min=1e-10) / min_log_hz) / logstep
    return torch.where(hz >= min_log_hz, log, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return torch.where(mel >= min_log_mel, min_log_hz * torch.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular filters, shape (n_fft // 2 + 1, n_mels), each normalised to unit area (Slaney) so a wide
    high-frequency band does not collect more energy just for being wide."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(0.0, float(hz_to_mel(torch.tensor(sample_rate / 2.0))), n_mels + 2,
                                     dtype=torch.float64))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    tri = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (tri * (2.0 / (upper - lower))).float()


def log_mel(wave: torch.Tensor, n_mels: int = N_MELS) -> torch.Tensor:
    """Whisper-style log-mel features of a (batch, samples) or (samples,) wave: (batch, n_mels, frames),
    100 frames per second of audio.

    Each clip is floored at 8 decades below its own loudest band, so silence does not dominate, and scaled to
    roughly [-1, 1]."""
    single = wave.dim() == 1
    wave = wave.reshape(-1, wave.shape[-1]).float()
    window = torch.hann_window(N_FFT, device=wave.device)
    spec = torch.stft(wave, N_FFT, HOP, window=window, center=True, pad_mode="reflect", return_complex=True)
    power = spec[..., :-1].abs() ** 2  # Whisper drops the last frame: exactly samples / HOP frames
    mel = torch.einsum("fm,bft->bmt", mel_filters(n_mels).to(wave.device), power)
    logmel = torch.log10(torch.clamp(mel, min=1e-10))
    logmel = torch.maximum(logmel, logmel.amax(dim=(1, 2), keepdim=True) - 8.0)
    out = (logmel + 4.0) / 4.0
    return out[0] if single else out
