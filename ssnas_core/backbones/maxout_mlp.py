"""The MM-IMDB text backbone: a Maxout MLP over the 300-d mean word2vec plot vector.

Two maxout layers (METHOD.md section 2; Arevalo et al. 2017): ``300 -> 64`` and
``64 -> 128``, each a linear map to ``out * k`` units followed by a max over groups of
``k = 5``, then BatchNorm1d and dropout (train time only). Taps ``l1`` (64,) and
``l2`` (128,).

Unlike the other backbones this one is *trainable*: the pipeline pretrains it
(contrastively or on labels). ``MaxoutMLP`` is the plain ``nn.Module`` to train;
``save_maxout`` / ``load_maxout`` store it as one ``.safetensors`` file whose header holds
its sizes. As a frozen backbone, ``weights=None`` means the seeded random init (seed 0,
BM-NAS's untrained setting) and is recorded as ``random:seed0``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .base import Backbone, BackboneError, file_weights_id, seeded_init


class Maxout(nn.Module):
    """Linear(d_in, d_out * k) then max over each group of k: (B, d_in) -> (B, d_out)."""

    def __init__(self, d_in: int, d_out: int, k: int):
        super().__init__()
        self.d_out, self.k = d_out, k
        self.linear = nn.Linear(d_in, d_out * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.d_out, self.k).amax(dim=-1)


class MaxoutMLP(nn.Module):
    """(B, in_dim) -> {"l1": (B, hidden[0]), "l2": (B, hidden[1])}."""

    def __init__(self, in_dim: int = 300, hidden: Sequence[int] = (64, 128), k: int = 5,
                 dropout: float = 0.1):
        super().__init__()
        if len(hidden) != 2 or min(hidden) < 1 or in_dim < 1 or k < 1:
            raise BackboneError(f"maxout_mlp: bad sizes in_dim={in_dim} hidden={hidden} k={k}")
        self.config = {"in_dim": in_dim, "hidden": list(hidden), "k": k, "dropout": dropout}
        self.layer1 = nn.Sequential(Maxout(in_dim, hidden[0], k), nn.BatchNorm1d(hidden[0]))
        self.layer2 = nn.Sequential(Maxout(hidden[0], hidden[1], k), nn.BatchNorm1d(hidden[1]))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h1 = self.layer1(x)
        h2 = self.layer2(self.drop(h1))
        return {"l1": h1, "l2": h2}


def save_maxout(module: MaxoutMLP, path: str | os.PathLike) -> None:
    """Write the module's weights and sizes to one safetensors file (atomic)."""
    from safetensors.torch import save_file

    tmp = f"{path}.tmp"
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, tmp, metadata={"maxout_mlp": json.dumps(module.config)})
    os.replace(tmp, path)


def load_maxout(path: str | os.PathLike) -> MaxoutMLP:
    """Rebuild a MaxoutMLP saved by ``save_maxout``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        meta = (f.metadata() or {}).get("maxout_mlp")
    if meta is None:
        raise BackboneError(f"{path}: not a maxout_mlp weights file (no maxout_mlp header)")
    module = MaxoutMLP(**json.loads(meta))
    module.load_state_dict(load_file(str(path)))
    return module.eval()


class MaxoutBackbone(Backbone):
    name = "maxout_mlp"
    kind = "vector"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 map_size: int = 4, seed: int = 0, **sizes: Any):
        if weights is None:
            module = MaxoutMLP(**sizes)
            seeded_init(module, seed)
            self.weights_id = f"random:seed{seed}"
        else:
            module = load_maxout(weights)
            self.weights_id = file_weights_id(weights)
        self.in_dim = module.config["in_dim"]
        h1, h2 = module.config["hidden"]
        super().__init__(module, {"l1": (h1,), "l2": (h2,)}, taps, map_size)

    def preprocess(self, value: Any) -> torch.Tensor:
        """(in_dim,) vector -> float32 tensor."""
        x = torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(-1)
        if x.numel() != self.in_dim:
            raise BackboneError(f"maxout_mlp expects a ({self.in_dim},) vector, got {x.numel()} values")
        return x

    def _forward(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        return self.module(batch.to(self.device))


def build(weights: str | None = None, **options: Any) -> MaxoutBackbone:
    return MaxoutBackbone(weights=weights, **options)
