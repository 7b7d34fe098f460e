"""Image preprocessing shared by the image backbones: resize, to tensor, normalise.

Images are resized to a fixed (H, W) without cropping (posters all have about the same
aspect ratio; MM-IMDB's HDF5 stores them at 256 x 160, METHOD.md section 2).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .base import BackboneError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def parse_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``224`` or ``(256, 160)`` -> (H, W); both at least 32 pixels."""
    hw = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
    if len(hw) != 2 or min(hw) < 32 or max(hw) > 1024:
        raise BackboneError(f"image_size must be an int or (H, W) within [32, 1024], got {size!r}")
    return hw  # type: ignore[return-value]


def image_to_uint8(img: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """PIL image -> uint8 tensor (3, H, W), RGB, resized (bilinear) to ``size``.

    Normalisation happens per batch in ``normalize``: one large op instead of many
    small ones (small torch ops cost ~10 ms each on a busy 2-core machine).
    """
    if not isinstance(img, Image.Image):
        raise BackboneError(f"expected a PIL image, got {type(img).__name__}")
    if img.mode != "RGB":
        img = img.convert("RGB")
    h, w = size
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy())


def normalize(batch: list[torch.Tensor], mean: Sequence[float], std: Sequence[float]
              ) -> torch.Tensor:
    """uint8 images [(3, H, W)] -> float32 (B, 3, H, W), ``(x / 255 - mean) / std``."""
    x = torch.stack(batch).float()
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, 3, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)]).view(1, 3, 1, 1)
    return x.mul_(scale).sub_(shift)
