"""Bring every input node to a common (C, L) (METHOD.md section 2).

A map (C_in, H, W) is adaptive-max-pooled to sqrt(L) x sqrt(L) and flattened; a vector
(d,) is treated as d x 1 x 1 (so it is repeated over the L positions). Then
Conv1d(C_in, C, 1) + BatchNorm + ReLU + Dropout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NodeReshape(nn.Module):
    def __init__(self, shape: tuple[int, ...], C: int, L: int, dropout: float):
        super().__init__()
        self.shape = tuple(shape)
        self.side = int(math.isqrt(L))
        self.proj = nn.Sequential(
            nn.Conv1d(shape[0], C, 1, bias=False), nn.BatchNorm1d(C), nn.ReLU(), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *shape) -> (B, C, L)."""
        if x.dim() == 2:
            # Pooling a d x 1 x 1 vector repeats it at every position, so project it once and repeat
            # the result (same values and batch statistics, 1/L of the work); dropout stays per position.
            conv, bn, relu, drop = self.proj
            h = relu(bn(conv(x[:, :, None])))  # (B, C, 1)
            return drop(h.expand(-1, -1, self.side * self.side).contiguous())
        if x.shape[-2:] != (self.side, self.side):  # cached 4 x 4 maps need no pooling
            x = F.adaptive_max_pool2d(x, self.side)  # (B, C_in, s, s)
        return self.proj(x.flatten(2))


class InputNodes(nn.Module):
    """All input nodes of a dataset -> list of (B, C, L) tensors, in node order."""

    def __init__(self, shapes: list[tuple[int, ...]], C: int, L: int, dropout: float):
        super().__init__()
        self.reshapes = nn.ModuleList(NodeReshape(s, C, L, dropout) for s in shapes)

    def forward(self, nodes: list[torch.Tensor]) -> list[torch.Tensor]:
        return [r(x) for r, x in zip(self.reshapes, nodes)]
