"""Decoders for the values of uploaded samples: PCM WAV audio and numeric vectors.

Both raise DataFormatError naming the problem; the loaders add the sample's id.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np

from .raw import DataFormatError


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """PCM WAV bytes -> (float32 mono waveform in [-1, 1], sample rate)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            frames = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise DataFormatError(f"unreadable WAV ({exc})") from exc
    if n == 0 or len(frames) < n * ch * width:
        raise DataFormatError(f"truncated WAV ({len(frames)} of {n * ch * width} bytes)")
    if width == 1:
        x = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(frames, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8) / float(1 << 23)
    elif width in (2, 4):
        x = np.frombuffer(frames, f"<i{width}").astype(np.float32) / float(1 << (8 * width - 1))
    else:
        raise DataFormatError(f"unsupported WAV sample width {width}")
    return x.reshape(-1, ch).mean(1).astype(np.float32), int(rate)


def parse_vector(value: Any) -> np.ndarray:
    """A JSON list or a '[1, 2]' / '1 2' string -> float32 (d,); DataFormatError otherwise."""
    if isinstance(value, str):
        text = value.strip().removeprefix("[").removesuffix("]")
        value = text.replace(",", " ").replace(";", " ").split()
    if not isinstance(value, list) or not value:
        raise DataFormatError("vector must be a non-empty list of numbers")
    try:
        vec = np.array([float(v) for v in value], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"vector holds a non-number ({exc})") from exc
    if not np.isfinite(vec).all():
        raise DataFormatError("vector holds NaN or infinite values")
    return vec
