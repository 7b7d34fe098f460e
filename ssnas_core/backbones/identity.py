"""Identity "backbone" for vector fields: the vector itself is the node (e.g. MM-IMDB's
300-d plot vector or its 4096-d VGG fc7 features). One tap, ``vec`` (dim,)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .base import Backbone, BackboneError


class Identity(Backbone):
    name = "identity"
    kind = "vector"
    weights_id = "none"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 map_size: int = 4, dim: int | None = None):
        if weights is not None:
            raise BackboneError("identity takes no weights")
        if dim is None or int(dim) < 1:
            raise BackboneError(f"identity needs the vector length: dim=<int >= 1>, got {dim!r}")
        self.dim = int(dim)
        super().__init__(nn.Identity(), {"vec": (self.dim,)}, taps, map_size)

    def preprocess(self, value: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(-1)
        if x.numel() != self.dim:
            raise BackboneError(f"identity expects a ({self.dim},) vector, got {x.numel()} values")
        return x

    def _forward(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        return {"vec": batch}

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"dim": self.dim}


def build(weights: str | None = None, **options: Any) -> Identity:
    return Identity(weights=weights, **options)
