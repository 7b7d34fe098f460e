"""Log-mel spectrograms with plain torch (``torch.stft`` + a triangular mel filterbank).

Window 32 ms (rounded up to a power of two), hop 10 ms, Hann window, power spectrum,
``n_mels`` HTK-mel triangles between 20 Hz and min(fmax, sr / 2). torchaudio is not a
dependency; this is the textbook construction (Davis & Mermelstein 1980).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=16)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, each peaking at 1."""
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None]) / np.maximum(hi - mid, 1e-9)
    return torch.from_numpy(np.clip(np.minimum(up, down), 0.0, None).astype(np.float32))


def frame_params(sr: int) -> tuple[int, int]:
    """(n_fft, hop) for a 32 ms window and a 10 ms hop at sample rate ``sr``."""
    n_fft = 2 ** math.ceil(math.log2(max(16, 0.032 * sr)))
    return n_fft, max(1, round(0.010 * sr))


def log_mel(wave: torch.Tensor, sr: int, n_mels: int = 64, fmax: float = 4000.0) -> torch.Tensor:
    """Mono waveform (T,) in [-1, 1] -> log power mel spectrogram (n_mels, frames)."""
    n_fft, hop = frame_params(sr)
    if wave.numel() < n_fft:
        wave = torch.nn.functional.pad(wave, (0, n_fft - wave.numel()))
    spec = torch.stft(wave, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      center=True, return_complex=True).abs().pow(2)
    fb = mel_filterbank(sr, n_fft, n_mels, 20.0, min(fmax, sr / 2.0))
    return torch.log(fb @ spec + 1e-6)
