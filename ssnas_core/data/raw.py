"""The raw-sample interface every input format implements.

A raw dataset is an indexable collection of multimodal samples with labels and a split.
Format loaders (MM-IMDB HDF5, MM-IMDB raw archive, generic manifest) return one; the
feature extractor turns one into the feature format with frozen backbones.

Field kinds and the Python values ``sample(i)`` returns for them:
    image   PIL.Image.Image (RGB)
    text    str
    audio   (np.ndarray float32 mono waveform in [-1, 1], sample_rate: int)
    vector  np.ndarray float32 of shape (d,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

FIELD_KINDS = ("image", "text", "audio", "vector")


class DataFormatError(ValueError):
    """Input data is malformed; the message names the sample and the problem."""


@dataclass
class LoadReport:
    """What a loader kept and what it rejected, and why (nothing is dropped silently)."""

    total: int = 0
    kept: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)  # {"id": ..., "problem": ...}

    def reject(self, sample_id: str, problem: str) -> None:
        self.rejected.append({"id": str(sample_id), "problem": problem})

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "kept": self.kept, "rejected": self.rejected}


@runtime_checkable
class RawDataset(Protocol):
    fields: dict[str, str]  # field name -> kind (one of FIELD_KINDS)
    label_names: list[str]
    task: str  # "multilabel" or "multiclass"
    ids: list[str]
    labels: np.ndarray  # (N, K) uint8 multi-hot or (N,) int64
    split: np.ndarray  # (N,) uint8: 0 train, 1 dev, 2 test
    report: LoadReport

    def __len__(self) -> int: ...

    def sample(self, i: int) -> dict[str, Any]: ...
