"""Spoken-audio backbone: a log-mel spectrogram and a small CNN over it.

Preprocessing: mono waveform -> log-mel (64 bands up to 4 kHz, ``melspec``), standardised
per clip (zero mean, unit variance: gain does not matter), then resampled along time to
64 frames (linear interpolation), so every clip is a (1, 64, 64) image whatever its length.

**Initialisation (be aware):** no pretrained weights exist for this network. ``weights=
None`` gives a Kaiming-normal random init with a fixed seed (default 0), recorded as
``random:seed0``: the conv taps are *random features* (deterministic across runs and
machines with the same torch). A trained state dict can be passed as ``weights=PATH``.
The ``mel`` tap needs no weights at all: the standardised log-mel averaged over 8 equal
time segments, a fixed hand-made descriptor.

Taps: ``mel`` (512,) = 64 bands x 8 segments; ``c1`` 32 x 32 x 32, ``c2`` 64 x 16 x 16,
``c3`` 128 x 8 x 8, ``c4`` 256 x 4 x 4 (conv3x3 + ReLU + max-pool 2 each; maps cached at
4 x 4). Default taps: mel, c2, c3, c4.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone, BackboneError, file_weights_id, load_state_dict, seeded_init
from .melspec import log_mel

N_MELS, FRAMES, SEGMENTS = 64, 64, 8
WIDTHS = (32, 64, 128, 256)
DEFAULT_TAPS = ("mel", "c2", "c3", "c4")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


def audio_to_input(value: Any) -> torch.Tensor:
    """(waveform, sample_rate) -> standardised log-mel (1, 64, 64)."""
    if not (isinstance(value, tuple) and len(value) == 2):
        raise BackboneError(f"audio_cnn expects (waveform, sample_rate), got {type(value).__name__}")
    wave, sr = value
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    if wave.dim() == 2:  # (T, channels) or (channels, T): average to mono
        wave = wave.mean(dim=int(wave.shape[0] > wave.shape[1]))
    if wave.dim() != 1 or wave.numel() == 0 or not torch.isfinite(wave).all():
        raise BackboneError(f"audio must be a non-empty finite mono waveform, got shape {tuple(wave.shape)}")
    if not 1000 <= int(sr) <= 192000:
        raise BackboneError(f"audio sample rate {sr} out of range [1000, 192000]")
    mel = log_mel(wave, int(sr), n_mels=N_MELS)
    mel = (mel - mel.mean()) / mel.std().clamp(min=1e-5)
    return F.interpolate(mel[None], size=FRAMES, mode="linear", align_corners=False)


class AudioCNN(Backbone):
    name = "audio_cnn"
    kind = "audio"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 map_size: int = 4, seed: int = 0):
        chans = (1, *WIDTHS)
        net = nn.Sequential(*(_block(chans[i], chans[i + 1]) for i in range(len(WIDTHS))))
        if weights is None:
            seeded_init(net, seed)
            self.weights_id = f"random:seed{seed}"
        else:
            try:
                net.load_state_dict(load_state_dict(weights))
            except RuntimeError as exc:
                raise BackboneError(f"{weights}: not audio_cnn weights ({exc})") from exc
            self.weights_id = file_weights_id(weights)
        all_taps: dict[str, tuple[int, ...]] = {"mel": (N_MELS * SEGMENTS,)}
        all_taps |= {f"c{i + 1}": (w, 1, 1) for i, w in enumerate(WIDTHS)}
        super().__init__(net, all_taps, taps if taps is not None else DEFAULT_TAPS, map_size)

    def preprocess(self, value: Any) -> torch.Tensor:
        return audio_to_input(value)

    def _forward(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        x = batch.to(self.device)  # (B, 1, 64, 64)
        out = {"mel": F.adaptive_avg_pool2d(x, (N_MELS, SEGMENTS)).flatten(1)}
        deepest = max((int(t[1:]) for t in wanted if t != "mel"), default=0)
        for i, block in enumerate(self.module[:deepest]):
            x = block(x)
            out[f"c{i + 1}"] = x
        return out


def build(weights: str | None = None, **options: Any) -> AudioCNN:
    return AudioCNN(weights=weights, **options)
