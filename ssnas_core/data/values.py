"""Decoders for the values of uploaded samples: PCM WAV audio and numeric vectors; the kind
of a decoded value, checked against the kind a field takes (``check_kind``).

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
        raise DataFormatError(f"not a PCM WAV file ({exc})") from exc
    if n == 0 or len(frames) < n * ch * width:
        raise DataFormatError(f"a truncated WAV file ({len(frames)} of {n * ch * width} bytes)")
    if width == 1:
        x = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(frames, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8) / float(1 << 23)
    elif width in (2, 4):
        x = np.frombuffer(frames, f"<i{width}").astype(np.float32) / float(1 << (8 * width - 1))
    else:
        raise DataFormatError(f"a WAV file with an unsupported sample width {width}")
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


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if hasattr(value, "mode") and hasattr(value, "size"):
        return "image"
    if isinstance(value, tuple):
        return "audio"
    return "vector"


KIND_WORDS = {"image": "an image", "text": "text", "audio": "a WAV recording",
              "vector": "a list of numbers"}


def check_kind(field: str, kind: str, value: Any) -> None:
    """DataFormatError in plain words when ``value`` is not of the kind the field takes."""
    got = _kind_of(value)
    if got != kind:
        raise DataFormatError(f"the {field} must be {KIND_WORDS.get(kind, kind)}, not "
                              f"{KIND_WORDS[got]}" + (f" ({value[:40]!r})" if got == "text" else ""))
