"""Primitive inner-step operations (METHOD.md section 3) and their registry.

Every op maps two inputs x, y of shape (B, C, L) to one output of shape (B, C, L).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

OPS: dict[str, Callable[[int, int, float], nn.Module]] = {}


def register(name: str):
    def deco(factory):
        OPS[name] = factory
        return factory
    return deco


def build_op(name: str, C: int, L: int, dropout: float) -> nn.Module:
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; registered: {sorted(OPS)}")
    return OPS[name](C, L, dropout)


@register("zero")
class Zero(nn.Module):
    def __init__(self, C: int, L: int, dropout: float):
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@register("sum")
class Sum(nn.Module):
    def __init__(self, C: int, L: int, dropout: float):
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


@register("scale_dot_attn")
class ScaledDotAttention(nn.Module):
    """softmax(x^T y / sqrt(C)) over the L positions, applied to y; dropout; LayerNorm."""

    def __init__(self, C: int, L: int, dropout: float):
        super().__init__()
        self.scale = 1.0 / math.sqrt(C)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm([C, L])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = torch.bmm(x.transpose(1, 2), y) * self.scale  # (B, L, L): query pos i, key pos j
        attn = scores.softmax(dim=-1)
        out = torch.bmm(y, attn.transpose(1, 2))  # (B, C, L): out[:, :, i] = sum_j attn[i, j] y[:, :, j]
        return self.norm(self.drop(out))


@register("linear_glu")
class LinearGLU(nn.Module):
    """concat(x, y) -> Conv1d(2C, 2C, 1) -> BN -> GLU over channels -> dropout."""

    def __init__(self, C: int, L: int, dropout: float):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv1d(2 * C, 2 * C, 1, bias=False), nn.BatchNorm1d(2 * C))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.drop(F.glu(self.proj(torch.cat([x, y], dim=1)), dim=1))


@register("concat_fc")
class ConcatFC(nn.Module):
    """concat(x, y) -> Conv1d(2C, C, 1) -> BN -> ReLU -> dropout."""

    def __init__(self, C: int, L: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(2 * C, C, 1, bias=False), nn.BatchNorm1d(C), nn.ReLU(), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([x, y], dim=1))
