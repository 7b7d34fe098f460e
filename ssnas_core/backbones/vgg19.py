"""VGG19 (torchvision layout), the MM-IMDB image backbone of BM-NAS (METHOD.md section 2).

Weights come from a local file only (a torchvision ``vgg19`` state dict as ``.pth`` loaded
with ``weights_only=True``, or ``.safetensors``); nothing is ever downloaded. ``weights=
"random"`` builds a seeded random network for tests and warns loudly: its features carry
no ImageNet knowledge.

Taps (poster 256 x 160, ImageNet normalisation; cached maps are max-pooled to 4 x 4):

| tap     | layer         | raw shape      |
|---------|---------------|----------------|
| relu4_1 | features[20]  | 512 x 32 x 20  |
| relu4_4 | features[26]  | 512 x 32 x 20  |
| relu5_3 | features[33]  | 512 x 16 x 10  |
| pool5   | features[36]  | 512 x 8 x 5    |
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
from torch import nn

from .base import Backbone, BackboneError, file_weights_id, load_state_dict, seeded_init
from .imageprep import IMAGENET_MEAN, IMAGENET_STD, image_to_uint8, normalize, parse_size

TAP_LAYERS = {"relu4_1": 20, "relu4_4": 26, "relu5_3": 33, "pool5": 36}
RANDOM = "random"
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M")  # VGG19 ("E"); indices match torchvision's vgg19().features


def vgg19_features() -> nn.Sequential:
    """The 37 layers of VGG19's convolutional part (conv3x3 + in-place ReLU, max-pool 2)."""
    layers: list[nn.Module] = []
    c_in = 3
    for item in LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, int(item), 3, padding=1), nn.ReLU(inplace=True)]
            c_in = int(item)
    return nn.Sequential(*layers)


class VGG19(Backbone):
    name = "vgg19"
    kind = "image"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 image_size: int | Sequence[int] = (256, 160), map_size: int = 4, seed: int = 0):
        if weights is None:
            raise BackboneError("vgg19 needs a local weights file (torchvision vgg19 state dict, "
                                ".pth or .safetensors): pass weights=PATH, or weights='random' "
                                "for tests only")
        features = vgg19_features()
        if weights == RANDOM:
            warnings.warn("vgg19 built with RANDOM weights (seed %d): its features are not ImageNet "
                          "features; use this for tests only" % seed, RuntimeWarning, stacklevel=3)
            seeded_init(features, seed)
            self.weights_id = f"random:seed{seed}"
        else:
            state = load_state_dict(weights)
            state = {k.removeprefix("features."): v for k, v in state.items()
                     if not k.startswith("classifier.")}
            missing, _ = features.load_state_dict(state, strict=False)
            if missing:
                raise BackboneError(f"{weights}: not a torchvision vgg19 state dict (missing "
                                    f"features.{missing[0]} ...)")
            self.weights_id = file_weights_id(weights)
        self.image_size = parse_size(image_size)
        all_taps = {t: (512, 1, 1) for t in TAP_LAYERS}
        super().__init__(features, all_taps, taps, map_size)

    def preprocess(self, value: Any) -> torch.Tensor:
        """PIL image -> uint8 (3, H, W); ``collate`` normalises the batch."""
        return image_to_uint8(value, self.image_size)

    def collate(self, items: list[torch.Tensor]) -> torch.Tensor:
        """-> float32 (B, 3, H, W)."""
        return normalize(items, IMAGENET_MEAN, IMAGENET_STD)

    def _forward(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        by_layer = {TAP_LAYERS[t]: t for t in wanted}
        last = max(by_layer)
        x, out = batch.to(self.device), {}
        for i, layer in enumerate(self.module):
            x = layer(x)
            if i in by_layer:
                out[by_layer[i]] = x  # the next layer is a conv or pool, never in-place on x
            if i == last:
                break
        return out

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"image_size": list(self.image_size)}


def build(weights: str | None = None, **options: Any) -> VGG19:
    return VGG19(weights=weights, **options)
